"""The upload route, streamed under ASGI: `POST /api/servers/<id>/files/upload` never waits for its
whole body.

Django's ASGI handler reads a request's whole body (into a spooled temporary file) before any view
runs, so an upload of 100 MB would sit in the panel's memory or on its disk first. This small ASGI
app sits in front of Django (config/asgi.py), matches exactly that path and method, and serves it
with Django's own machinery minus that read: a request built from the scope whose body is a pipe from
the ASGI receive loop, run through the sync middleware and the URL's DRF view (servers/api/
files_transfer_views.FileUploadView: the API's authenticators, CSRF rules, throttles, error body and
renderer) in a thread. The pipe is a bounded queue: when the node takes the bytes slower than the
client sends them, the receive loop waits (and the server stops reading the socket). Every other
request passes through untouched.

The ASGI server must stream too for this to reach the socket. daphne does not: Twisted spools a body
to a temporary file and daphne then queues all of it as messages before the app runs (a 300 MB upload
took its peak RSS up 3.9 GB), and it writes a response into Twisted's buffer as fast as the app sends
(a slow client downloading 300 MB: +299 MB). uvicorn reads the socket as the app asks and waits for a
slow client: +6 MB and +2 MB (tests/servers/files/test_memory_transfers.py).
"""

import asyncio
import re
from concurrent.futures import TimeoutError as FutureTimeout

from config.asgi_http import in_thread
from config.errors import InvalidInput

UPLOAD_PATH = re.compile(r"/api/servers/[^/]+/files/upload")
PIPE_CHUNKS = 16  # body messages (8-64 KB each) waiting for the node, at most
BODY_WAIT_SECONDS = 60  # a client that sends nothing for this long has abandoned its upload
_END, _GONE = object(), object()


class CutOff(InvalidInput):
    """The body stopped before its end. Not an OSError (as Django's UnreadablePostError is): the files
    session would take that for its own failure."""

    def __init__(self, why: str):
        super().__init__(f"The upload was cut off: {why}. Nothing of the file being sent was kept.")


def is_upload(scope) -> bool:
    if scope["type"] != "http" or scope["method"] != "POST":
        return False
    path = scope["path"].removeprefix(scope.get("root_path", "") or "")  # served under a prefix too
    return bool(UPLOAD_PATH.fullmatch(path))


class BodyPipe:
    """The request body, from the ASGI receive loop (`pump`, on the event loop) to a blocking `read`
    (in the view's thread), through a queue of at most PIPE_CHUNKS messages."""

    def __init__(self, loop):
        self._loop = loop
        self._queue: asyncio.Queue = asyncio.Queue(maxsize=PIPE_CHUNKS)
        self._buffer, self._ended = b"", False

    async def pump(self, receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                await self._queue.put(_GONE)
                return
            if message.get("body"):
                await self._queue.put(message["body"])  # waits while the view is behind: backpressure
            if not message.get("more_body", False):
                await self._queue.put(_END)
                return

    def _next(self):
        waiting = asyncio.run_coroutine_threadsafe(self._queue.get(), self._loop)
        try:
            return waiting.result(timeout=BODY_WAIT_SECONDS)
        except FutureTimeout:
            waiting.cancel()
            raise CutOff(f"the client sent nothing for {BODY_WAIT_SECONDS} seconds") from None

    def read(self, size: int = -1) -> bytes:
        """Up to `size` bytes (all that is left for -1); b"" at the end of the body."""
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(1 << 20), b""))
        while not self._buffer and not self._ended:
            item = self._next()
            if item is _END:
                self._ended = True
            elif item is _GONE:
                raise CutOff("the client went away before the end")
            else:
                self._buffer = item
        out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out

    def close(self) -> None:
        self._buffer, self._ended = b"", True


async def serve_upload(app, scope, receive, send) -> None:
    """`app` is config.asgi_http's handler: the request is served in one of its threads, its body a pipe."""
    body = BodyPipe(asyncio.get_running_loop())
    pump = asyncio.create_task(body.pump(receive))
    try:
        response = await in_thread(app.respond)(scope, body)
    finally:
        pump.cancel()  # the view is done: whatever it did not read is not wanted
    await app.send_response(response, send)


class UploadRoute:
    """ASGI middleware: the upload route streamed (serve_upload), everything else to `app`, the handler."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if is_upload(scope):
            return await serve_upload(self.app, scope, receive, send)
        return await self.app(scope, receive, send)
