"""WebSocket routes: `/ws` carries the live console, states and stats (contract: WebSocket Protocol)."""

from django.urls import path

from servers.consumers import ConsoleConsumer

websocket_urlpatterns = [path("ws", ConsoleConsumer.as_asgi())]
