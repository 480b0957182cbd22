"""ASGI entry point: Django for HTTP, Channels for WebSockets (served by uvicorn: the Procfile)."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup(set_prefix=False)

from config.asgi_http import OneHopASGIHandler  # noqa: E402

django_asgi_app = OneHopASGIHandler()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from accounts.ws_auth import TokenAuthMiddleware  # noqa: E402
from config.routing import websocket_urlpatterns  # noqa: E402
from servers.files.upload_asgi import UploadRoute  # noqa: E402

application = ProtocolTypeRouter(
    {
        # The file upload route reads its body as it streams it to the node (Django would read it whole first).
        "http": UploadRoute(django_asgi_app),
        # Origin is checked in TokenAuthMiddleware, for cookie-authenticated sockets only.
        "websocket": TokenAuthMiddleware(URLRouter(websocket_urlpatterns)),
    }
)
