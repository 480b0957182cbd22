"""What the marketplace stand-in's per-source modules see and return: a parsed `Request` and a
`Reply`, plus a tiny regex router. Kept free of http.server so each source is a set of plain
functions from request to reply."""

import json
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qs

JSON = "application/json"
# Express (Spiget) and CurseForge's gateway name the charset; Modrinth and Hangar do not.
JSON_UTF8 = "application/json; charset=utf-8"


@dataclass
class Request:
    method: str
    path: str  # below the source's prefix, without the query: "/v2/search"
    raw_query: str
    headers: dict
    body: bytes
    base: str  # this stand-in as the client addressed it: "http://127.0.0.42:40123"
    prefix: str = ""  # the source's prefix: "/modrinth"
    query: dict = field(init=False)

    def __post_init__(self):
        self.query = parse_qs(self.raw_query, keep_blank_values=True)

    def arg(self, name: str, default=None):
        values = self.query.get(name)
        return values[0] if values else default

    def args(self, name: str) -> list:
        return self.query.get(name, [])

    def header(self, name: str, default=None):
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), default)

    def json_body(self):
        return json.loads(self.body or b"null")


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict = field(default_factory=dict)


class BadRequest(Exception):
    """A parameter a source cannot read; the source turns it into its own error shape."""


def json_reply(data, status: int = 200, content_type: str = JSON, headers=None) -> Reply:
    body = json.dumps(data).encode()
    return Reply(status, body, {"Content-Type": content_type, **(headers or {})})


def empty(status: int, headers=None) -> Reply:
    return Reply(status, b"", dict(headers or {}))


def redirect(location: str, status: int = 302, headers=None) -> Reply:
    return Reply(status, b"", {"Location": location, **(headers or {})})


def int_arg(request: Request, name: str, default: int) -> int:
    value = request.arg(name)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError:
        raise BadRequest(f"{name} must be an integer, not {value!r}") from None


def json_arg(request: Request, name: str):
    """A query parameter holding JSON (Modrinth's facets, ids, loaders...), or None when absent."""
    value = request.arg(name)
    if value is None:
        return None
    try:
        return json.loads(value)
    except ValueError as error:
        raise BadRequest(f"Error while parsing JSON: {error}") from None


def route(request: Request, routes, not_found):
    """Call the first (method, pattern, handler) whose pattern matches the whole path, with the
    pattern's groups; `not_found(request)` when none does."""
    for method, pattern, handler in routes:
        match = re.fullmatch(pattern, request.path)
        if match and request.method in (method, "HEAD" if method == "GET" else method):
            return handler(request, *match.groups())
    return not_found(request)


def page(items: list, offset: int, limit: int) -> list:
    return items[max(offset, 0) : max(offset, 0) + max(limit, 0)]
