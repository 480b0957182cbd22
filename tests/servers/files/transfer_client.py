"""Requests to the panel's real ASGI application (config.asgi), in this process: the upload route as
daphne or uvicorn would reach it, a body sent in chunks, a client that leaves midway."""

import asyncio
from dataclasses import dataclass

from asgiref.sync import async_to_sync
from django.core import signals
from django.db import close_old_connections
from urllib3.filepost import encode_multipart_formdata

from config import asgi_http
from tests.fixtures import tokens_for


@dataclass
class Answer:
    status: int
    headers: dict
    body: bytes

    def json(self):
        import json

        return json.loads(self.body)


def multipart(fields: list) -> tuple[bytes, str]:
    """A multipart/form-data body: fields as (name, value) or (name, (filename, bytes))."""
    return encode_multipart_formdata(fields)


def bearer(user) -> list:
    return [(b"authorization", f"Bearer {tokens_for(user)['token']}".encode())]


def asgi(
    method: str,
    path: str,
    *,
    query: str = "",
    headers=(),
    chunks=(),
    leave_after: int | None = None,
    leave_midway: bool = False,
):
    """Send a request to config.asgi.application; the body in `chunks`. `leave_after`: the client
    disconnects after reading that many body bytes of the answer; `leave_midway`: after sending the
    chunks, as if more were coming."""
    # As Django's test client does: the request runs in this thread, in the test's open transaction,
    # and the request signals must not close it.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    threads, asgi_http.THREADS = asgi_http.THREADS, None
    try:
        return async_to_sync(_asgi)(
            method, path, query, list(headers), list(chunks), leave_after, leave_midway
        )
    finally:
        asgi_http.THREADS = threads
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


async def _asgi(method, path, query, headers, chunks, leave_after, leave_midway=False):
    from config.asgi import application

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "scheme": "http",
        "query_string": query.encode(),
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    inbox: asyncio.Queue = asyncio.Queue()
    for index, chunk in enumerate(chunks):
        more = leave_midway or index < len(chunks) - 1
        inbox.put_nowait({"type": "http.request", "body": chunk, "more_body": more})
    if not chunks:
        inbox.put_nowait({"type": "http.request", "body": b"", "more_body": False})
    left = asyncio.Event()
    if leave_midway:
        left.set()

    async def receive():
        if inbox.empty():
            await left.wait()
            return {"type": "http.disconnect"}
        return await inbox.get()

    answer = Answer(0, {}, b"")

    async def send(message):
        if message["type"] == "http.response.start":
            answer.status = message["status"]
            answer.headers = {k.decode().lower(): v.decode("latin1") for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            answer.body += message.get("body", b"")
            if leave_after is not None and len(answer.body) >= leave_after:
                left.set()
                await asyncio.sleep(0)  # the handler notices and cancels the response
        if not message.get("more_body", False) and message["type"] == "http.response.body":
            left.set()

    await asyncio.wait_for(application(scope, receive, send), 120)
    return answer
