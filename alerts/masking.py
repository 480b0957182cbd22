"""What is shown of a delivery's destination: Discord's and Slack's webhook URLs carry their token in
the path, so a URL is shown as its scheme, host and port and the last 4 characters, an email address as
`o***@example.com`, and the destination is masked wherever it appears in an error."""

from urllib.parse import urlsplit


def mask_destination(destination: str) -> str:
    """`https://discord.com/…Ab3d` for a URL, `o***@example.com` for an email address."""
    destination = destination or ""
    if "://" not in destination:
        if "@" in destination:
            local, _, domain = destination.rpartition("@")
            return f"{local[:1]}***@{domain}"
        return destination
    try:
        parts = urlsplit(destination)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "…" + destination[-4:]
    host = f"[{host}]" if ":" in host else host
    tail = (parts.path + (f"?{parts.query}" if parts.query else "")).lstrip("/")
    return f"{parts.scheme}://{host}{port}/" + (f"…{tail[-4:]}" if tail else "")


def scrub(text: str, destination: str) -> str:
    """`text` (a delivery's error, a receiver's answer) with the destination, and its path, query and
    fragment, masked wherever they occur."""
    if not text or not destination:
        return text or ""
    text = text.replace(destination, mask_destination(destination))
    if "://" in destination:
        try:
            parts = urlsplit(destination)
        except ValueError:
            return text
        tail = parts.path + (f"?{parts.query}" if parts.query else "")
        for secret in (tail, parts.path, parts.query, parts.fragment):
            if len(secret) > 1:
                text = text.replace(secret, "…")
    return text
