"""WebSocket routes. The console consumer (`/ws`) arrives with the realtime issue."""

websocket_urlpatterns: list = []
