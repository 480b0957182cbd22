"""Who and what a log line is about, and how long each request took (README "Logs" and "Monitoring").

`RequestContextMiddleware` (early in MIDDLEWARE) gives every request an id — the caller's
`X-Request-ID` when it is a short safe token, else a new one — kept in a contextvar for the log lines
written while the request runs and sent back in the `X-Request-ID` header; when the request is done it
records its duration by route pattern (`api/servers/<pk>`, never the raw path: ids would make a series
per server) and status. `ContextFilter` adds request_id, user_id and server_id (and a Celery task's id
and name) to every log record, for the JSON formatter. Headers and query strings are never logged.
"""

import contextvars
import functools
import logging
import re
import time
import uuid

from celery._state import get_current_task
from django.utils.functional import SimpleLazyObject, empty

from config import metrics

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
user_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("user_id", default=None)
server_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("server_id", default=None)
_request_var: contextvars.ContextVar = contextvars.ContextVar("request", default=None)

SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")
UNMATCHED = "unmatched"
NOT_FOUND_VIEWS = {"api-not-found"}  # the API's catch-all answers 404 for any path: no route of its own


def incoming_request_id(value: str | None) -> str:
    """The caller's id when it is a short token of safe characters (it goes into headers and logs)."""
    if value and SAFE_REQUEST_ID.fullmatch(value):
        return value
    return uuid.uuid4().hex


@functools.lru_cache(maxsize=1024)
def _readable(route: str) -> str:
    """A router's regex route (`api/^servers/(?P<pk>[^/.]+)/start$`) as a path pattern (`api/servers/<pk>/start`)."""
    route = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"<\1>", route)
    return route.replace("^", "").replace("$", "").replace("\\", "")


def route_of(request) -> str:
    match = getattr(request, "resolver_match", None)
    if match is None or match.url_name in NOT_FOUND_VIEWS or not match.route:
        return UNMATCHED
    return _readable(match.route)


class RequestContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        request_id = incoming_request_id(request.headers.get("X-Request-ID"))
        tokens = (request_id_var.set(request_id), _request_var.set(request))
        status = 500
        try:
            response = self.get_response(request)
            status = response.status_code
            response["X-Request-ID"] = request_id
            return response
        finally:
            metrics.observe_request(route_of(request), request.method, status, time.perf_counter() - started)
            request_id_var.reset(tokens[0])
            _request_var.reset(tokens[1])


def _user_of(request) -> str | None:
    """The authenticated user, if the request already knows it (never a query from a log line). DRF
    sets it on the Django request when its authentication ran."""
    user = request.__dict__.get("user")
    if isinstance(user, SimpleLazyObject):
        user = None if user._wrapped is empty else user._wrapped
    if user is not None and getattr(user, "is_authenticated", False):
        return str(user.pk)
    return None


def _server_of(request) -> str | None:
    match = getattr(request, "resolver_match", None)
    if match is None:
        return None
    if "server_id" in match.kwargs:
        return str(match.kwargs["server_id"])
    if "pk" in match.kwargs and _readable(match.route or "").startswith("api/servers/<pk>"):
        return str(match.kwargs["pk"])
    return None


class ContextFilter(logging.Filter):
    """Adds request_id, user_id, server_id, task_id and task_name (None where unknown) to each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = _request_var.get()
        record.request_id = request_id_var.get()
        record.user_id = user_id_var.get() or (_user_of(request) if request is not None else None)
        record.server_id = server_id_var.get() or (_server_of(request) if request is not None else None)
        record.task_id = record.task_name = None
        task = get_current_task()
        if task is not None and task.request.id:
            record.task_id, record.task_name = task.request.id, task.name
        return True


class WithoutQueryString(logging.Filter):
    """uvicorn's access lines name the path: without its query string, which can carry a credential."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str) and "?" in args[2]:
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True
