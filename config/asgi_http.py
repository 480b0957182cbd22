"""Django's ASGI handler for HTTP, serving each request in one hop to a pooled thread (config/asgi.py)."""

import asyncio
import contextlib
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.http import FileResponse
from django.urls import set_script_prefix

# The threads requests are served in, per web process. A slow request (an upload, a node that takes its
# time) holds one; beyond DATABASE_POOL_MAX_SIZE at once, requests wait for a database connection.
# None: in the thread that called into the event loop, which is what an in-process test client needs
# (that thread holds the test's transaction).
THREADS: ThreadPoolExecutor | None = ThreadPoolExecutor(settings.WEB_THREADS, thread_name_prefix="http")


def in_thread(function):
    """`function` as a coroutine run in one of THREADS."""
    if THREADS is None:
        return sync_to_async(function, thread_sensitive=True)
    return sync_to_async(function, thread_sensitive=False, executor=THREADS)


class OneHopASGIHandler(ASGIHandler):
    """Django's ASGI handler, with each request's Django work done in one hop to a pooled thread.

    Our middleware and views are all sync. Django's handler builds the async middleware chain, where
    each of Django's middlewares runs its request half and its response half through sync_to_async, and
    it starts a thread for every request: about 15 hops between the event loop and that thread, 4-5 ms
    of CPU per request (a customer's server list took 21 ms of CPU through uvicorn, 16 ms under a WSGI
    server). Here a request is served as a WSGI server serves it, in one thread of a pool: the started
    signal, the sync middleware chain and the view, and for a whole response the finished signal (which
    gives the thread's database connection back). Reading the body and sending the response stay
    Django's; a streamed response is stopped when the client goes away, as Django does."""

    def load_middleware(self, is_async=False):
        super().load_middleware(is_async=False)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django serves HTTP here, not {scope['type']}.")
        try:
            body = await self.read_body(receive)
        except RequestAborted:
            return
        try:
            response = await in_thread(self.respond)(scope, body)
            if response.streaming:
                await self.stream(response, receive, send)
            else:
                await self.send_response(response, send)
        finally:
            body.close()

    def respond(self, scope, body):
        set_script_prefix(get_script_prefix(scope))
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, response = self.create_request(scope, body)
        if request is not None:
            response = self.get_response(request)
        response._handler_class = self.__class__
        if isinstance(response, FileResponse):
            response.block_size = self.chunk_size  # as Django's: the ASGI server does the chunking
        if response.streaming:
            signals.request_finished.send(sender=self.__class__)  # this thread's part is over
        else:
            response.close()
        return response

    async def stream(self, response, receive, send):
        sending = asyncio.create_task(self.send_response(response, send))
        listening = asyncio.create_task(self.listen_for_disconnect(receive))
        try:
            await asyncio.wait([sending, listening], return_when=asyncio.FIRST_COMPLETED)
        finally:
            listening.cancel()
            sending.cancel()  # the client went away: what it would have got is not read any further
            try:
                with contextlib.suppress(asyncio.CancelledError, RequestAborted):
                    await listening
                with contextlib.suppress(asyncio.CancelledError):
                    await sending  # an error while streaming is raised here
            finally:
                await in_thread(response.close)()
