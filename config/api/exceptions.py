"""Every API error, whatever raised it, leaves as {"error", "statusCode", "message"}."""

import logging
from contextlib import contextmanager
from http import HTTPStatus

from django.core.exceptions import PermissionDenied, RequestDataTooBig, TooManyFieldsSent
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from config.errors import (
    DomainError,
    InvalidInput,
    NotAuthenticated,
    RateLimited,
)

logger = logging.getLogger(__name__)


class PayloadTooLarge(exceptions.APIException):
    """The request body is over DATA_UPLOAD_MAX_MEMORY_SIZE (HEARTH_MAX_BODY_BYTES)."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "payload_too_large"

    def __init__(self):
        from django.conf import settings

        super().__init__(
            f"The request body is over the limit of {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."
        )


@contextmanager
def serializer_errors():
    """Run a service's validator inside a serializer's validate(): DRF's is_valid() catches only its
    own ValidationError, so an InvalidInput is raised again as one, with the same fields."""
    try:
        yield
    except InvalidInput as exc:
        raise exceptions.ValidationError(exc.detail) from exc


def error_body(status_code: int, message: str, **extra) -> dict:
    """The contract's error shape; `extra` adds fields such as the per-field validation errors."""
    return {"error": HTTPStatus(status_code).phrase, "statusCode": status_code, "message": message, **extra}


def _flatten(detail, prefix: str = "") -> dict[str, list[str]]:
    """Turn DRF's nested error detail into {"field.sub": ["message", ...]}."""
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            name = _camel(str(key))
            out.update(_flatten(value, f"{prefix}.{name}" if prefix else name))
        return out
    if isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            return {prefix or "nonFieldErrors": [str(item) for item in detail]}
        out = {}
        for index, item in enumerate(detail):
            out.update(_flatten(item, f"{prefix}[{index}]"))
        return out
    return {prefix or "nonFieldErrors": [str(detail)]}


def _camel(name: str) -> str:
    if not any(c.islower() for c in name):
        return name  # an environment variable name (MAX_PLAYERS), not a field
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _validation_message(fields: dict[str, list[str]]) -> str:
    general = fields.get("nonFieldErrors") or fields.get("detail")
    if general and len(fields) == 1:
        return " ".join(general)
    return "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in fields.items())


def _domain_response(exc: DomainError, context: dict) -> Response:
    """A service's refusal in the contract's shape: the error carries its own status."""
    if isinstance(exc, InvalidInput):
        fields = _flatten(exc.detail) if exc.detail else {}
        return Response(
            error_body(400, _validation_message(fields) or exc.message, fields=fields), status=400
        )
    status_code, headers = exc.status, {}
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(exc.wait)
    if isinstance(exc, NotAuthenticated):
        # As DRF answers its own AuthenticationFailed: a 401 names the scheme, else it is a 403.
        view, request = context.get("view"), context.get("request")
        scheme = view.get_authenticate_header(request) if view is not None and request is not None else None
        if scheme:
            headers["WWW-Authenticate"] = scheme
        else:
            status_code = 403
    body = error_body(status_code, exc.message, **exc.extra)
    return Response(body, status=status_code, headers=headers or None)


def api_exception_handler(exc, context):
    if isinstance(exc, DomainError):
        return _domain_response(exc, context)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    elif isinstance(exc, TooManyFieldsSent):
        exc = exceptions.ParseError("The request has too many fields.")

    response = exception_handler(exc, context)
    if response is None:
        logger.exception("Unhandled error in %s", context.get("view").__class__.__name__, exc_info=exc)
        return Response(
            error_body(500, "Something went wrong on our side. The error was logged; please try again."),
            status=500,
        )

    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        response.data = error_body(400, _validation_message(fields), fields=fields)
    elif isinstance(exc, exceptions.Throttled):
        wait = int(exc.wait or 60)
        response.data = error_body(429, f"Rate limit exceeded. Try again in {wait} seconds.")
    else:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        if isinstance(detail, dict):
            message = str(detail.get("detail") or detail.get("message") or next(iter(detail.values()), ""))
            extra = {k: v for k, v in detail.items() if k not in ("detail", "message")}
        else:
            message, extra = str(detail), {}
        response.data = error_body(response.status_code, message, **extra)
    return response
