"""The live console over WebSocket: subscribe to servers, receive their output, states and stats, type.

Access is checked when it can change, never per delivered line: `server.read` on subscribe,
`server.console` on every command, and again for every subscription when the panel says access
changed (a member's permissions, a role, a revoked login or key: `config.realtime.access_changed`),
which reaches the socket ahead of any later output. A slow safety check every RECHECK_SECONDS catches
what was changed without telling (bulk updates in a shell).
"""

import asyncio
import json
import random
import time

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from accounts.permissions import can
from accounts.ws_auth import credentials_hold
from config import metrics, realtime
from config.errors import DomainError
from servers import console
from servers.commands import BadCommand, command_line

CLOSE_UNAUTHENTICATED = 4401
CLOSE_BAD_MESSAGE = 4400
CLOSE_TOO_BIG = 4413
CLOSE_TOO_MANY = 4429
CLOSE_TOO_SLOW = 4408
EVENTS = ("server_log", "server_state_update", "resource_stats")
RECHECK_SECONDS = 30.0


def _checked(user, server_id: str, permission: str):
    """(server, "") when `user` may do `permission` on it, else (None, the reason). Invisible servers
    read as not found, as in the API."""
    from servers.models import Server

    try:
        # Only what the checks and a command read: the whole row with its node and template took
        # 2.6 ms a command, these 1.2 ms.
        server = (
            Server.objects.visible_to(user)
            .only("id", "name", "status", "owner_id", "node_id")
            .prefetch_related("members")
            .filter(pk=server_id)
            .first()
        )
    except Exception:  # a malformed id
        server = None
    if server is None:
        return None, "Server not found"
    if not can(user, permission, server):
        return None, f"You do not have permission to perform this action (requires {permission})"
    if permission == "server.console" and server.status == Server.Status.SUSPENDED:
        return None, "Server is suspended."
    if permission == "server.console" and server.status not in (
        Server.Status.RUNNING,
        Server.Status.STARTING,
    ):
        return None, f"Server is {server.status}: start it first."
    return server, ""


@database_sync_to_async
def _access(user, server_id: str, permission: str) -> tuple[bool, str]:
    """(allowed, reason), as _checked says."""
    server, reason = _checked(user, server_id, permission)
    return server is not None, reason


@database_sync_to_async
def _send_command(user, server_id: str, text: str) -> str:
    """Check and send the command in one trip to a thread (each trip costs the round trip time): ""
    when it went to the game, else why not. A service's refusal (node unreachable…) is raised."""
    from servers.lifecycle.command import server_command

    server, reason = _checked(user, server_id, "server.console")
    if server is not None:
        server_command(server=server, actor=user, command=text)
    return reason


class ConsoleConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        self.subscriptions: dict[str, set[str]] = {}
        self.input_times: list[float] = []
        self.tasks: list[asyncio.Future] = []
        await self.accept()
        metrics.websocket_opened()
        self.counted = True
        user = self.scope.get("user")
        reason = self.scope.get("auth_error") or "Not authenticated"
        if user is not None and user.is_authenticated and "token" not in self.scope:
            user, reason = await database_sync_to_async(credentials_hold)(self.scope)  # a session cookie
        if user is None or not user.is_authenticated:
            await self.send_json({"type": "error", "message": reason})
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.scope["user"] = user
        self.user_group = realtime.user_group(user.pk)
        await self.channel_layer.group_add(self.user_group, self.channel_name)
        self.tasks.append(asyncio.ensure_future(self._recheck_now_and_then()))
        self.tasks.append(asyncio.ensure_future(self._watch_backlog()))
        if expires_at := self.scope.get("token_expires_at"):
            self.tasks.append(asyncio.ensure_future(self._expire(expires_at)))

    async def _recheck_now_and_then(self) -> None:
        while True:
            await asyncio.sleep(RECHECK_SECONDS * random.uniform(0.8, 1.2))  # noqa: S311 - spreads the load
            await self.recheck()

    async def recheck(self) -> None:
        """Are the credentials still good, and is each subscription still allowed?"""
        user, reason = await database_sync_to_async(credentials_hold)(self.scope)
        if user is None:
            await self.send_json({"type": "error", "message": f"Disconnected: {reason}"})
            return await self.close(code=CLOSE_UNAUTHENTICATED)
        self.scope["user"] = user  # roles and permissions as they are now
        for server_id in list(self.subscriptions):
            allowed, reason = await _access(user, server_id, "server.read")
            if not allowed:
                self.subscriptions.pop(server_id, None)
                await self.channel_layer.group_discard(console.group_name(server_id), self.channel_name)
                await self.send_json(
                    {"type": "error", "serverId": server_id, "message": f"Unsubscribed: {reason}"}
                )
            elif not (await _access(user, server_id, "server.logs.read"))[0]:
                self.subscriptions.get(server_id, set()).discard("server_log")

    async def access_changed(self, event):
        await self.recheck()

    async def _expire(self, expires_at: int) -> None:
        notice = expires_at - time.time() - settings.WS_TOKEN_NOTICE_SECONDS
        if notice > 0:
            await asyncio.sleep(notice)
        await self.send_json({"type": "token_expiring", "expiresAt": expires_at})
        await asyncio.sleep(max(0.0, expires_at - time.time()))
        await self.send_json({"type": "error", "message": "Token expired; reconnect with a new one."})
        await self.close(code=CLOSE_UNAUTHENTICATED)

    async def disconnect(self, code):
        if getattr(self, "counted", False):
            self.counted = False
            metrics.websocket_closed()
        for task in getattr(self, "tasks", []):
            task.cancel()
        if user_group := getattr(self, "user_group", None):
            await self.channel_layer.group_discard(user_group, self.channel_name)
        for server_id in list(getattr(self, "subscriptions", {})):
            await self.channel_layer.group_discard(console.group_name(server_id), self.channel_name)
        if getattr(self, "watching_nodes", False):
            from nodes.health import NODES_GROUP

            await self.channel_layer.group_discard(NODES_GROUP, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        if bytes_data is not None or text_data is None:
            return await self.close(code=CLOSE_BAD_MESSAGE)
        if len(text_data) > settings.WS_MAX_MESSAGE_BYTES:
            await self.send_json(
                {"type": "error", "message": f"Message over {settings.WS_MAX_MESSAGE_BYTES} bytes."}
            )
            return await self.close(code=CLOSE_TOO_BIG)
        try:
            message = json.loads(text_data)
        except (ValueError, RecursionError):  # RecursionError: "[[[[…" deeper than Python recurses
            await self.send_json({"type": "error", "message": "Messages must be JSON objects."})
            return await self.close(code=CLOSE_BAD_MESSAGE)
        if not isinstance(message, dict):
            return await self.send_json({"type": "error", "message": "Messages must be JSON objects."})
        if message.get("type") == "subscribe_nodes":
            return await self.subscribe_nodes()
        handler = {
            "subscribe": self.subscribe,
            "unsubscribe": self.unsubscribe,
            "console_input": self.console_input,
        }.get(message.get("type"))
        if handler is None:
            return await self.send_json(
                {"type": "error", "message": f"Unknown message type {message.get('type')!r}."}
            )
        server_id = str(message.get("serverId") or "")
        if not server_id:
            return await self.send_json({"type": "error", "message": "serverId is required."})
        await handler(server_id, message)

    async def subscribe(self, server_id: str, message: dict) -> None:
        allowed, reason = await _access(self.scope["user"], server_id, "server.read")
        if not allowed:
            return await self.send_json({"type": "error", "serverId": server_id, "message": reason})
        events = set(message.get("events") or EVENTS) & set(EVENTS)
        if "server_log" in events:  # the console's history and output are the logs
            can_read_logs, _ = await _access(self.scope["user"], server_id, "server.logs.read")
            if not can_read_logs:
                events.discard("server_log")
        first = server_id not in self.subscriptions
        self.subscriptions[server_id] = events
        if first:
            await self.channel_layer.group_add(console.group_name(server_id), self.channel_name)
        await self.send_json({"type": "subscribed", "serverId": server_id, "events": sorted(events)})
        if "server_log" in events:
            from servers.selectors import console_history

            history = await database_sync_to_async(console_history)(
                server_id, limit=settings.WS_HISTORY_LINES
            )
            for entry in history:
                await self.send_json(
                    {
                        "type": "server_log",
                        "serverId": server_id,
                        "stream": entry["stream"],
                        "data": entry["data"],
                        "timestamp": entry["timestamp"],
                    }
                )

    async def subscribe_nodes(self) -> None:
        """Staff (admin.read) receive every node's health report as it is taken."""
        from nodes.health import NODES_GROUP

        if not await database_sync_to_async(can)(self.scope["user"], "admin.read"):
            return await self.send_json(
                {"type": "error", "message": "Node reports need the admin.read permission."}
            )
        self.watching_nodes = True
        await self.channel_layer.group_add(NODES_GROUP, self.channel_name)
        await self.send_json({"type": "subscribed", "nodes": True})

    async def node_health(self, event):
        if await database_sync_to_async(can)(self.scope["user"], "admin.read"):
            await self.send_json({k: event[k] for k in ("type", "nodeId", "name", "isOnline", "report")})

    async def unsubscribe(self, server_id: str, message: dict) -> None:
        if self.subscriptions.pop(server_id, None) is not None:
            await self.channel_layer.group_discard(console.group_name(server_id), self.channel_name)
        await self.send_json({"type": "unsubscribed", "serverId": server_id})

    async def console_input(self, server_id: str, message: dict) -> None:
        now = time.monotonic()
        self.input_times = [t for t in self.input_times if now - t < 1.0] + [now]
        if len(self.input_times) > settings.WS_INPUTS_PER_SECOND:
            await self.send_json(
                {"type": "error", "serverId": server_id, "message": "Too many commands; slow down."}
            )
            return await self.close(code=CLOSE_TOO_MANY)
        try:
            data = command_line(message.get("data"))
        except BadCommand as exc:
            return await self.send_json({"type": "error", "serverId": server_id, "message": str(exc)})
        try:
            refused = await _send_command(self.scope["user"], server_id, data)
        except DomainError as exc:  # the service refused (not running, node unreachable…): say why
            refused = exc.message
        if refused:
            await self.send_json({"type": "error", "serverId": server_id, "message": refused})

    async def _relay(self, event: dict, fields: tuple[str, ...]) -> None:
        if event["type"] in self.subscriptions.get(event["serverId"], ()):
            await self.send_json({"type": event["type"], **{k: event[k] for k in fields if k in event}})

    async def server_log(self, event):
        await self._relay(event, ("serverId", "stream", "data", "timestamp"))

    async def _watch_backlog(self) -> None:
        """A socket that reads slower than its servers print is dropped with a notice, as Wings does,
        rather than holding an ever longer backlog in this process: each socket waits for its own
        client, so a slow one never slows the others, but its backlog would grow without end. Looked
        at every second from here, not per line: a client that stopped reading holds the consumer in
        its send. The web UI reconnects and catches up from the history."""
        while True:
            await asyncio.sleep(1.0)
            waiting = realtime.backlog(self.channel_layer, self.channel_name)
            if waiting > settings.WS_BACKLOG_MESSAGES:
                break
        for server_id in list(self.subscriptions):  # nothing more is queued for it, nor relayed
            await self.channel_layer.group_discard(console.group_name(server_id), self.channel_name)
        self.subscriptions = {}
        await self.send_json(
            {
                "type": "error",
                "message": f"Disconnected: this connection fell {waiting} console messages behind. "
                "Reconnect to catch up from the history.",
            }
        )
        await self.close(code=CLOSE_TOO_SLOW)

    async def server_state_update(self, event):
        await self._relay(event, ("serverId", "state", "previousState"))

    async def resource_stats(self, event):
        await self._relay(
            event, ("serverId", "cpu", "memoryMb", "networkSent", "networkReceived", "diskUsageMb")
        )
