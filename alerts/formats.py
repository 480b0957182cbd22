"""What a webhook's body looks like: Discord's and Slack's incoming-webhook formats, or Hearth's own
generic JSON (signed: alerts/signing.py). `auto` picks by the URL's host.

Alert text comes partly from users (server and node names, messages): it must not ping anyone on
Discord (`allowed_mentions: {parse: []}`, and `@` defused) nor become markup: Discord's markdown
(masked links `[text](url)`, `<@id>`, emphasis, headings...) is backslash-escaped, Slack's `<`, `>`,
`&` are escaped. An email subject holds no line break of any kind (Django refuses such a header).
"""

import json
import re
from urllib.parse import urlsplit

FORMATS = ("auto", "discord", "slack", "json")
DISCORD_HOSTS = {"discord.com", "discordapp.com", "ptb.discord.com", "canary.discord.com"}
SLACK_HOSTS = {"hooks.slack.com"}
# Discord's limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits).
DISCORD_CONTENT, DISCORD_TITLE, DISCORD_DESCRIPTION = 2000, 256, 4096
DISCORD_FIELDS, DISCORD_FIELD_NAME, DISCORD_FIELD_VALUE, DISCORD_EMBED_TOTAL = 25, 256, 1024, 6000
# Slack's block limits: header text 150, section text 3000, a section's fields 10 of 2000 each.
SLACK_HEADER, SLACK_TEXT, SLACK_FIELDS, SLACK_FIELD = 150, 3000, 10, 2000
COLORS = {"info": 0x3498DB, "warning": 0xF1C40F, "critical": 0xE74C3C}
DISCORD_MARKDOWN = re.compile(r"([\\*_~`|>#\[\]()<])")
LINE_BREAKS = re.compile("[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]+")  # what str.splitlines() splits on
ICONS = {"info": "\N{INFORMATION SOURCE}\ufe0f", "warning": "⚠️", "critical": "🚨"}


def resolve(url: str, requested: str | None = "auto") -> str:
    """The concrete format for `url`: `requested` unless it is auto (or empty), then by host."""
    if requested and requested != "auto":
        if requested not in FORMATS:
            raise ValueError(f"Unknown webhook format {requested!r}: use one of {', '.join(FORMATS)}.")
        return requested
    parts = urlsplit(url or "")
    host = (parts.hostname or "").lower()
    if host in DISCORD_HOSTS and parts.path.startswith("/api/webhooks/"):
        return "discord"
    if host in SLACK_HOSTS:
        return "slack"
    return "json"


def event(alert) -> str:
    return "alert.test" if (alert.metadata or {}).get("test") else "alert.created"


def clip(text: str, limit: int) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _facts(alert) -> list[tuple[str, str]]:
    """The alert's details as (name, value) pairs: type, severity, server, node, then metadata."""
    facts = [("Type", alert.type), ("Severity", alert.severity)]
    if alert.server_id:
        facts.append(("Server", getattr(alert.server, "name", "") or str(alert.server_id)))
    if alert.node_id:
        facts.append(("Node", getattr(alert.node, "name", "") or str(alert.node_id)))
    for key, value in (alert.metadata or {}).items():
        facts.append((str(key), value if isinstance(value, str) else json.dumps(value)))
    return facts


def discord_escape(text: str) -> str:
    """`text` shown as it is on Discord: its markdown characters escaped, `@` kept from mentioning."""
    return DISCORD_MARKDOWN.sub(r"\\\1", str(text)).replace("@", "@\u200b")


def discord(alert) -> dict:
    fields = [
        {
            "name": clip(discord_escape(name), DISCORD_FIELD_NAME),
            "value": clip(discord_escape(value or "-"), DISCORD_FIELD_VALUE),
            "inline": True,
        }
        for name, value in _facts(alert)[:DISCORD_FIELDS]
    ]
    embed = {
        "title": clip(discord_escape(alert.title), DISCORD_TITLE),
        "description": clip(discord_escape(alert.message or alert.title), DISCORD_DESCRIPTION),
        "color": COLORS.get(alert.severity, COLORS["warning"]),
        "fields": fields,
        "timestamp": alert.created_at.isoformat(),
        "footer": {"text": "Hearth"},
    }
    # The embed's characters in all are capped too: drop fields from the end until it fits.
    while fields and _embed_size(embed) > DISCORD_EMBED_TOTAL:
        fields.pop()
    if _embed_size(embed) > DISCORD_EMBED_TOTAL:
        embed["description"] = clip(embed["description"], DISCORD_EMBED_TOTAL - len(embed["title"]) - 10)
    title = discord_escape(alert.title)
    content = f"{ICONS.get(alert.severity, '')} **{alert.severity.upper()}**: {title}".strip()
    return {
        "content": clip(content, DISCORD_CONTENT),
        "embeds": [embed],
        "allowed_mentions": {"parse": []},
    }


def _embed_size(embed: dict) -> int:
    return (
        len(embed["title"])
        + len(embed["description"])
        + len(embed["footer"]["text"])
        + sum(len(f["name"]) + len(f["value"]) for f in embed["fields"])
    )


def slack_escape(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack(alert) -> dict:
    title = slack_escape(alert.title)
    fields = [
        {"type": "mrkdwn", "text": clip(f"*{slack_escape(name)}*\n{slack_escape(value)}", SLACK_FIELD)}
        for name, value in _facts(alert)[:SLACK_FIELDS]
    ]
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": clip(alert.title, SLACK_HEADER)}},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": clip(slack_escape(alert.message or alert.title), SLACK_TEXT)},
        },
        {"type": "section", "fields": fields},
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": f"Hearth · {alert.created_at.isoformat()}"}],
        },
    ]
    return {
        "text": clip(f"{ICONS.get(alert.severity, '')} {alert.severity.upper()}: {title}", SLACK_TEXT),
        "blocks": blocks,
    }


def generic(alert, delivery_id) -> dict:
    return {
        "event": event(alert),
        "alert": {
            "id": str(alert.pk),
            "type": alert.type,
            "severity": alert.severity,
            "title": alert.title,
            "message": alert.message,
            "metadata": alert.metadata or {},
            "serverId": str(alert.server_id) if alert.server_id else None,
            "nodeId": str(alert.node_id) if alert.node_id else None,
            "createdAt": alert.created_at.isoformat(),
        },
        "deliveryId": str(delivery_id),
    }


def body(alert, fmt: str, delivery_id) -> bytes:
    """The request body (UTF-8 JSON) of `alert` in the concrete format `fmt`."""
    builders = {"discord": discord, "slack": slack}
    data = builders[fmt](alert) if fmt in builders else generic(alert, delivery_id)
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def email(alert) -> tuple[str, str]:
    """(subject, plain-text body) of an alert's email."""
    subject = clip(LINE_BREAKS.sub(" ", f"[Hearth] {alert.severity.upper()}: {alert.title}"), 200)
    lines = [alert.message or alert.title, ""]
    lines += [f"{name}: {value}" for name, value in _facts(alert)]
    lines += ["", f"Raised at {alert.created_at.isoformat()} (alert {alert.pk})."]
    return subject, "\n".join(lines)
