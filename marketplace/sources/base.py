"""What every marketplace source shares: the normalized answers (Project, Version, FileInfo, Dependency),
one way to call a source's API (cached in Redis, within its rate limits, through config/outbound.py
with only the API's own host allowed), and the source's errors.

Rate limits: a source that answers 429, or says it has no requests left (Modrinth's X-Ratelimit-*
headers), is left alone until its window resets, for every process (a Redis key); and the panel keeps
under each source's documented budget itself (`per_minute`, counted in Redis across processes), so
a busy panel slows down before it is refused rather than after."""

import contextlib
import contextvars
import functools
import hashlib
import json
import time
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode, urlsplit

from django.conf import settings
from django.core.cache import cache

from config import outbound
from config.errors import NotFound, Unavailable

API_MAX_BYTES = 8 * 1024 * 1024  # one API answer (a search page, a version list)
API_TIMEOUT_SECONDS = 10.0
DEFAULT_BLOCK_SECONDS = 60


_deadline: contextvars.ContextVar = contextvars.ContextVar("marketplace_deadline", default=None)


@contextlib.contextmanager
def within(seconds: float):
    """Every source call made inside (in this thread or task) ends within `seconds` of now, in all: a
    search, a plan, an update check waits for the sources that long at most, whatever they do."""
    token = _deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


_spender: contextvars.ContextVar = contextvars.ContextVar("marketplace_spender", default="")
PERSON_SHARE = 4  # one person may spend at most a quarter of a source's budget a minute


@contextlib.contextmanager
def spending(who):
    """Source calls made inside are counted against `who`'s share of each source's budget too (a
    person: "user:<id>", or a function giving it when asked), so no one person spends what the whole
    panel has."""
    token = _spender.set(who)
    try:
        yield
    finally:
        _spender.reset(token)


def seconds_left() -> float:
    """What one call may take: API_TIMEOUT_SECONDS, or less when within() ends sooner."""
    deadline = _deadline.get()
    return API_TIMEOUT_SECONDS if deadline is None else min(API_TIMEOUT_SECONDS, deadline - time.monotonic())


class SourceUnavailable(Unavailable):
    """A source failed to answer usefully (503): down, too slow, an error page, not JSON."""

    def __init__(self, message: str, *, source: str, retry_after: int | None = None):
        super().__init__(message)
        self.source, self.retry_after = source, retry_after


class SourceRateLimited(SourceUnavailable):
    """The source asked us to wait (or we are at its budget): `retry_after` seconds."""


class SourceNotFound(NotFound):
    """The source has no such project or version (404)."""


@dataclass(frozen=True)
class FileInfo:
    """One downloadable file of a version; `hashes` by algorithm name (sha512, sha1, sha256, md5)."""

    url: str | None
    filename: str
    size: int | None = None
    hashes: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Dependency:
    """A version's relation to another project: kind is required, optional or incompatible."""

    project_id: str
    kind: str
    version_id: str | None = None
    name: str = ""


@dataclass(frozen=True)
class Version:
    """One published version of a project, normalized across sources."""

    source: str
    project_id: str
    id: str
    name: str
    game_versions: tuple = ()
    loaders: tuple = ()
    published: str = ""
    file: FileInfo | None = None
    dependencies: tuple = ()
    downloadable: bool = True
    why_not: str = ""  # when not downloadable: premium, external, the author forbids third parties


@dataclass(frozen=True)
class Project:
    """A search result or a project's page, normalized across sources."""

    source: str
    id: str
    slug: str
    name: str
    description: str = ""
    author: str = ""
    icon_url: str = ""
    downloads: int = 0
    categories: tuple = ()
    project_type: str = ""
    url: str = ""
    latest_version: str = ""
    game_versions: tuple = ()
    loaders: tuple = ()


@dataclass(frozen=True)
class Query:
    """A search: every field optional; loader and game_version filter when given."""

    text: str = ""
    project_type: str = ""
    loader: str = ""
    game_version: str = ""
    sort: str = "relevance"  # relevance, downloads, updated, newest
    page: int = 1
    per_page: int = 20


@dataclass(frozen=True)
class Page:
    """One source's page of results and how many it has in all (None when it does not say)."""

    projects: list
    total: int | None


# RecursionError: JSON nested thousands deep; ArithmeticError and OSError: numbers too large for an int
# or a date (1e400 downloads, a release in the year 3 billion).
SHAPE_ERRORS = (
    KeyError,
    TypeError,
    AttributeError,
    ValueError,
    IndexError,
    RecursionError,
    ArithmeticError,
    OSError,
)
ANSWERING = ("search", "project", "projects", "versions", "version", "identify", "latest_for")


def _shaped(method):
    """`method`, with an answer the source's code cannot read (a field missing, a list for an object)
    turned into the source's unavailability (503), never a 500."""

    @functools.wraps(method)
    def reading(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except SHAPE_ERRORS as exc:
            raise SourceUnavailable(
                f"{self.label} answered in a shape the panel does not know.", source=self.name
            ) from exc

    return reading


class Source:
    """A marketplace source: subclasses set `name`, `label`, `setting` (the base URL's setting),
    `download_hosts` and `per_minute`, and implement search, project, versions and version (each
    wrapped by _shaped: what the source sends is not trusted to have the documented shape)."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name in ANSWERING:
            if name in cls.__dict__:
                setattr(cls, name, _shaped(cls.__dict__[name]))

    name = ""
    label = ""
    setting = ""
    download_hosts: tuple = ()  # where its files live, beside its API's own host
    # Where its projects' icons are (https): the Plugins tab shows icons from these hosts only, and the
    # server page's img-src allows them (every other image stays the panel's own).
    icon_hosts: tuple = ()
    per_minute = 120
    project_types: tuple = ()  # which project types it has

    @property
    def base_url(self) -> str:
        return getattr(settings, self.setting).rstrip("/")

    def enabled(self) -> bool:
        return True

    def applies_to(self, loads) -> bool:
        """Whether the source has anything for a server that loads `loads` (empty: unknown, yes)."""
        return True

    def headers(self) -> dict:
        return {}

    def allowed_download_hosts(self) -> set:
        return {host.lower() for host in self.download_hosts} | {urlsplit(self.base_url).hostname.lower()}

    # ---- calling the API ------------------------------------------------------------------------

    def get(self, path: str, params: dict | None = None, *, ttl: int | None = None):
        """The JSON at `path` (under the base URL) with `params`; cached `ttl` seconds when given."""
        query = urlencode({k: v for k, v in (params or {}).items() if v not in (None, "")})
        return self.call("GET", f"{self.base_url}{path}{'?' + query if query else ''}", ttl=ttl)

    def post(self, path: str, body: dict, *, ttl: int | None = None):
        return self.call("POST", f"{self.base_url}{path}", body=body, ttl=ttl)

    def call(self, method: str, url: str, *, body=None, ttl=None):
        payload = json.dumps(body, sort_keys=True).encode() if body is not None else None
        key = "marketplace:api:" + hashlib.sha256(f"{method} {url} ".encode() + (payload or b"")).hexdigest()
        if ttl and (hit := cache.get(key)) is not None:
            return hit
        left = seconds_left()
        if left < 0.1:
            raise SourceUnavailable(f"{self.label} took too long to answer.", source=self.name)
        self._take_budget()
        headers = {"Accept": "application/json", **self.headers()}
        if payload is not None:
            headers["Content-Type"] = "application/json"
        try:
            with outbound.stream(
                url,
                method=method,
                body=payload,
                headers=headers,
                max_bytes=API_MAX_BYTES,
                timeout=left,
                max_redirects=2,
                hosts={urlsplit(self.base_url).hostname.lower()},
            ) as (response, chunks):
                content = b"".join(chunks)
        except (outbound.OutboundFailed, outbound.OutboundTooLarge, outbound.OutboundRefused) as exc:
            raise SourceUnavailable(
                f"{self.label} could not be reached: {exc.message}", source=self.name
            ) from exc
        self._note_limits(response)
        data = self._decode(response, content)
        if ttl:
            cache.set(key, data, ttl)
        return data

    def _decode(self, response, content: bytes):
        if response.status == 404:
            raise SourceNotFound(f"{self.label} has no such project or version.")
        if response.status == 429:
            raise SourceRateLimited(
                f"{self.label} is rate-limiting the panel: try again in {self._blocked_for()} s.",
                source=self.name,
                retry_after=self._blocked_for(),
            )
        if not 200 <= response.status < 300:
            raise SourceUnavailable(f"{self.label} answered {response.status}.", source=self.name)
        try:
            return json.loads(content)
        except (ValueError, RecursionError) as exc:  # RecursionError: JSON nested thousands deep
            raise SourceUnavailable(f"{self.label} did not answer JSON.", source=self.name) from exc

    # ---- rate limits ----------------------------------------------------------------------------

    def _blocked_key(self) -> str:
        return f"marketplace:blocked:{self.name}"

    def _blocked_for(self) -> int:
        until = cache.get(self._blocked_key())
        return max(1, int(until - time.time()) + 1) if until else 0

    def _block(self, seconds: float) -> None:
        seconds = max(1.0, min(float(seconds), 3600.0))
        cache.set(self._blocked_key(), time.time() + seconds, int(seconds) + 1)

    def _take_budget(self) -> None:
        if wait := self._blocked_for():
            raise SourceRateLimited(
                f"{self.label} is rate-limiting the panel: try again in {wait} s.",
                source=self.name,
                retry_after=wait,
            )
        window = int(time.time() // 60)
        who = _spender.get()
        if who := (who() if callable(who) else who):
            share = max(1, self.per_minute // PERSON_SHARE)
            key = f"marketplace:budget:{self.name}:{who}:{window}"
            cache.add(key, 0, 120)
            if cache.incr(key) > share:
                raise SourceRateLimited(
                    f"You have used your {share} requests a minute to {self.label}: try again shortly.",
                    source=self.name,
                    retry_after=max(1, int(60 - time.time() % 60)),
                )
        key = f"marketplace:budget:{self.name}:{window}"
        cache.add(key, 0, 120)
        if cache.incr(key) > self.per_minute:
            self._block(60 - time.time() % 60)
            raise SourceRateLimited(
                f"The panel has used its {self.per_minute} requests a minute to {self.label}: try again shortly.",
                source=self.name,
                retry_after=self._blocked_for(),
            )

    def _note_limits(self, response) -> None:
        headers = {k.lower(): v for k, v in response.headers.items()}
        reset = _number(headers.get("retry-after")) or _number(headers.get("x-ratelimit-reset"))
        if response.status == 429 or headers.get("x-ratelimit-remaining") == "0":
            self._block(reset or DEFAULT_BLOCK_SECONDS)


def segment(value) -> str:
    """An id or slug as one URL path segment (never a path of its own: `../x` stays inside it, and a
    dot segment, which a server would resolve, is no id)."""
    value = str(value)
    if value in ("", ".", ".."):
        raise SourceNotFound("There is no such project or version.")
    return quote(value, safe="")


def _number(value) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None
