"""Downloading a marketplace file: through config/outbound.py (public addresses only, checked at each
connection), from the source's own hosts only (every redirect checked), bounded in size and time; the
bytes must be an archive (a .jar, .zip or .mrpack is a zip: an HTML error page or anything else is
refused at its first bytes) and match every hash the source published, or the stream raises at its
end, so FileSession.write removes what it wrote and nothing is left half-written."""

import contextlib
import hashlib
from urllib.parse import urlsplit

from django.conf import settings

from config import outbound
from config.errors import InvalidInput

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip's first entry, or an empty zip
TIMEOUT_SECONDS = 300.0
ALGORITHMS = ("sha512", "sha256", "sha1", "md5")  # strongest first


class DownloadRefused(InvalidInput):
    """The file came but is not what was published: not an archive, a hash that differs, too big."""


@contextlib.contextmanager
def download(source, url: str, *, filename: str, hashes: dict, size: int | None = None, hosts=None):
    """`with download(...) as chunks:` the file's verified bytes; `digests` of what was read are on
    the iterator once it is exhausted (`chunks.digests`)."""
    if not url:
        raise DownloadRefused(f"{source.label} gives no download for {filename}.")
    allowed = hosts if hosts is not None else source.allowed_download_hosts()
    api_host = urlsplit(source.base_url).hostname
    headers = source.headers() if urlsplit(url).hostname == api_host else {}
    cap = settings.MARKETPLACE_MAX_FILE_BYTES
    try:
        with outbound.stream(url, headers=headers, max_bytes=cap, timeout=TIMEOUT_SECONDS, hosts=allowed) as (
            response,
            chunks,
        ):
            if not 200 <= response.status < 300:
                raise outbound.OutboundFailed(f"{source.label} answered {response.status} for {filename}.")
            kind = (
                response.headers.get("Content-Type") or response.headers.get("content-type") or ""
            ).lower()
            if kind.startswith(("text/html", "application/xhtml")):
                raise DownloadRefused(f"{source.label} answered a web page instead of {filename}.")
            yield Verified(chunks, filename=filename, hashes=hashes, size=size)
    except outbound.OutboundRefused as exc:
        raise DownloadRefused(f"The download of {filename} was refused: {exc.without_address()}") from exc


class Verified:
    """The chunks of a download, checked as they pass: an archive's first bytes, at most the size
    published (when given), and at the end every published hash."""

    def __init__(self, chunks, *, filename: str, hashes: dict, size: int | None):
        self.chunks, self.filename, self.size = chunks, filename, size
        self.expected = {k: str(v).lower() for k, v in hashes.items() if k in ALGORITHMS and v}
        self.hashers = {name: hashlib.new(name) for name in {"sha1", "sha512", *self.expected}}
        self.received = 0
        self.digests: dict = {}

    def __iter__(self):
        head = b""
        for chunk in self.chunks:
            if len(head) < 4:
                head += chunk[: 4 - len(head)]
                if len(head) >= 4 and not head.startswith(ZIP_MAGIC):
                    raise DownloadRefused(f"{self.filename} is not a .jar or .zip archive: refused.")
            self.received += len(chunk)
            if self.size is not None and self.received > self.size:
                raise DownloadRefused(f"{self.filename} is larger than the {self.size} bytes published.")
            for hasher in self.hashers.values():
                hasher.update(chunk)
            yield chunk
        if len(head) < 4:
            raise DownloadRefused(f"{self.filename} is not a .jar or .zip archive: refused.")
        self.digests = {name: hasher.hexdigest() for name, hasher in self.hashers.items()}
        for name in (a for a in ALGORITHMS if a in self.expected):  # the strongest named first
            if self.digests[name] != self.expected[name]:
                raise DownloadRefused(
                    f"{self.filename} does not match its published {name}: the download was discarded."
                )
