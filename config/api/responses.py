"""Shortcuts for the contract's success envelope."""

from rest_framework import status as http
from rest_framework.response import Response


def ok(data=None, *, message: str | None = None, status: int = http.HTTP_200_OK, **extra) -> Response:
    """`{"success": true, "data": ..., "message": ...}`; `extra` adds top-level keys the contract names."""
    body: dict = {"success": True}
    if data is not None:
        body["data"] = data
    if message is not None:
        body["message"] = message
    body.update(extra)
    return Response(body, status=status)


def created(data=None, **kwargs) -> Response:
    return ok(data, status=http.HTTP_201_CREATED, **kwargs)
