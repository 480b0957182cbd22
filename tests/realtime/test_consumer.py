"""The /ws consumer: authentication, per-message permissions, revocation, limits. Real Redis channel layer."""

import time

import jwt
import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken

from accounts.apikeys import apikey_create, apikey_revoke
from accounts.models import Role
from accounts.services import session_logout
from accounts.staff import role_update
from accounts.tokens import SESSION_CLAIM
from config.asgi import application
from nodes.models import Allocation, Location, Node
from servers import console
from servers.members import member_remove, member_update
from servers.models import Server, ServerMember
from servers.selectors import console_history
from templates_app.models import Template
from tests.conftest import PASSWORD, tokens_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]
ORIGIN = [(b"origin", b"http://localhost")]


@pytest.fixture
def server(customer):
    location = Location.objects.create(name="ws")
    node = Node.objects.create(
        name="ws-node",
        location=location,
        hostname="h",
        public_address="203.0.113.1",
        max_memory_mb=4096,
        max_cpu_cores=4,
        is_online=True,
    )
    template = Template.objects.create(
        name="ws-game", docker_image="hearth/testgame:latest", start_command="x", stop_command="stop"
    )
    server = Server.objects.create(
        name="ws",
        owner=customer,
        node=node,
        template=template,
        status="running",
        docker_image=template.docker_image,
        allocated_memory_mb=128,
        allocated_cpu_cores=1,
        allocated_disk_mb=128,
        installed_at=timezone.now(),
    )
    Allocation.objects.create(node=node, ip="127.0.0.1", port=34000, server=server, is_primary=True)
    return server


async def connect(token: str | None, origin=ORIGIN) -> WebsocketCommunicator:
    path = f"/ws?token={token}" if token else "/ws"
    communicator = WebsocketCommunicator(application, path, headers=origin)
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def token(user) -> str:
    return (await database_sync_to_async(tokens_for)(user))["token"]


async def receive_until(communicator, kind: str, timeout: float = 3):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = await communicator.receive_json_from(timeout=deadline - time.monotonic())
        if message["type"] == kind:
            return message
    raise AssertionError(f"no {kind}")


async def test_anonymous_connections_are_closed_4401():
    communicator = await connect(None)
    assert (await communicator.receive_json_from())["type"] == "error"
    assert (await communicator.receive_output())["code"] == 4401


async def test_a_forged_token_is_refused():
    communicator = await connect(jwt.encode({"userId": "x"}, "k" * 40, algorithm="HS256"))
    assert (await communicator.receive_json_from())["message"]
    assert (await communicator.receive_output())["code"] == 4401


async def assert_usable(communicator) -> None:
    await communicator.send_json_to({"type": "unsubscribe", "serverId": "x"})
    assert (await communicator.receive_json_from())["type"] == "unsubscribed"
    await communicator.disconnect()


@pytest.mark.parametrize(
    "origin",
    [
        [],  # bots and CLIs send none: the README's `/ws?token=…` recipe
        [(b"origin", b"http://evil.example")],
        [(b"origin", b"null")],
        [(b"origin", b"http://localhost"), (b"origin", b"http://evil.example")],
    ],
)
async def test_a_token_is_accepted_whatever_origin_it_sends_or_none(customer, origin):
    await assert_usable(await connect(await token(customer), origin=origin))


async def test_an_api_key_without_origin_is_accepted(customer):
    _, raw = await database_sync_to_async(apikey_create)(user=customer, name="cli")
    await assert_usable(await connect(raw, origin=[]))


@pytest.mark.parametrize("bad", ["not-a-token", "hth_deadbeef_nope", jwt.encode({"userId": "x"}, "k" * 40)])
async def test_a_bad_token_without_origin_is_closed_4401_not_refused_bare(bad):
    communicator = await connect(bad, origin=[])
    assert (await communicator.receive_json_from())["type"] == "error"
    assert (await communicator.receive_output())["code"] == 4401


async def browser_cookie(customer) -> bytes:
    client = Client()
    response = await database_sync_to_async(client.post)(
        "/login", {"email": customer.email, "password": PASSWORD}
    )
    assert response.status_code == 302
    return f"sessionid={client.cookies['sessionid'].value}".encode()


@pytest.mark.parametrize(
    "origin",
    [
        b"http://evil.example",
        b"http://localhost:9999",  # same host, another port
        b"https://localhost:8000",  # same host and port, another scheme
        b"http://localhost.evil.example:8000",
        b"http://localhost:8000/path",
        b"null",
        None,
    ],
)
async def test_a_cookie_socket_from_another_origin_is_refused(customer, origin):
    headers = [(b"host", b"localhost:8000"), (b"cookie", await browser_cookie(customer))]
    if origin is not None:
        headers.append((b"origin", origin))
    connected, _ = await WebsocketCommunicator(application, "/ws", headers=headers).connect()
    assert not connected


@pytest.mark.parametrize(
    "host, origin",
    [
        (b"localhost:8000", b"http://localhost:8000"),
        (b"localhost:8000", b"HTTP://LOCALHOST:8000"),
        (b"127.0.0.1", b"http://127.0.0.1:80"),
        (b"panel.example", b"http://localhost:8000"),  # HEARTH_PUBLIC_URL
    ],
)
async def test_a_cookie_socket_from_the_panel_s_own_origin_is_accepted(customer, host, origin):
    headers = [(b"host", host), (b"origin", origin), (b"cookie", await browser_cookie(customer))]
    communicator = WebsocketCommunicator(application, "/ws", headers=headers)
    connected, _ = await communicator.connect()
    assert connected
    await assert_usable(communicator)


async def test_behind_a_trusted_tls_proxy_the_https_origin_is_the_panel_s(customer, settings):
    settings.TRUSTED_PROXIES = ["127.0.0.0/8"]
    headers = [
        (b"host", b"localhost:8000"),
        (b"origin", b"https://localhost:8000"),
        (b"x-forwarded-proto", b"https"),
        (b"cookie", await browser_cookie(customer)),
    ]
    communicator = WebsocketCommunicator(application, "/ws", headers=headers)
    communicator.scope["client"] = ("127.0.0.1", 5555)
    assert (await communicator.connect())[0]
    await communicator.disconnect()
    communicator = WebsocketCommunicator(application, "/ws", headers=headers)
    communicator.scope["client"] = (
        "198.51.100.66",
        5555,
    )  # not our proxy: its X-Forwarded-Proto means nothing
    assert not (await communicator.connect())[0]


@pytest.mark.parametrize("data", ["say hi\rop attacker", "say hi\r", "a\nb", "\r\n", "   ", "x" * 4097, 7])
async def test_console_input_refuses_what_the_rest_api_refuses(customer, server, data):
    communicator = await connect(await token(customer))
    await communicator.send_json_to({"type": "console_input", "serverId": str(server.pk), "data": data})
    reply = await communicator.receive_json_from()
    assert reply["type"] == "error", reply
    assert await communicator.receive_nothing(timeout=0.3)


async def test_deeply_nested_json_closes_with_4400(customer):
    communicator = await connect(await token(customer))
    await communicator.send_to(text_data="[" * 4000 + "]" * 4000)
    assert (await communicator.receive_json_from())["message"] == "Messages must be JSON objects."
    assert (await communicator.receive_output())["code"] == 4400


async def test_subscribe_sends_history_then_live_lines(customer, server):
    await database_sync_to_async(console.write)(server.pk, "an earlier line")
    communicator = await connect(await token(customer))
    await communicator.send_json_to({"type": "subscribe", "serverId": str(server.pk)})
    assert (await communicator.receive_json_from())["type"] == "subscribed"
    history = await receive_until(communicator, "server_log")
    assert history["data"] == "an earlier line\n" and history["stream"] == "system"

    await database_sync_to_async(console.write_lines)(server.pk, "stdout", ["[INFO] Player joined", "second"])
    live = await receive_until(communicator, "server_log")
    assert live == {
        "type": "server_log",
        "serverId": str(server.pk),
        "stream": "stdout",
        "data": "[INFO] Player joined\nsecond\n",
        "timestamp": live["timestamp"],
    }
    await database_sync_to_async(console.publish_state)(server.pk, "stopping", "running")
    state = await receive_until(communicator, "server_state_update")
    assert state["state"] == "stopping" and state["previousState"] == "running"
    await communicator.disconnect()


async def test_a_flood_is_cut_into_messages_every_client_accepts(customer, server):
    communicator = await subscribed(customer, server)
    lines = [f"flood line {i} " + "x" * 90 for i in range(3000)]  # ~300 KB in one batch
    await database_sync_to_async(console.write_lines)(server.pk, "stdout", lines)
    received = ""
    while received.count("\n") < len(lines):
        message = await receive_until(communicator, "server_log")
        assert len(message["data"]) <= console.MESSAGE_CHARS
        received += message["data"]
    assert received == "".join(f"{line}\n" for line in lines)
    history = await database_sync_to_async(console_history)(server.pk, limit=5000)
    assert [entry["data"] for entry in history[-2:]] == [f"{line}\n" for line in lines[-2:]]


async def test_an_api_key_authenticates_too(customer, server):
    from accounts.apikeys import apikey_create

    _, raw = await database_sync_to_async(apikey_create)(user=customer, name="ws")
    communicator = await connect(raw)
    await communicator.send_json_to({"type": "subscribe", "serverId": str(server.pk)})
    assert (await communicator.receive_json_from())["type"] == "subscribed"


async def test_strangers_cannot_subscribe(stranger, server):
    communicator = await connect(await token(stranger))
    await communicator.send_json_to({"type": "subscribe", "serverId": str(server.pk)})
    message = await communicator.receive_json_from()
    assert message == {"type": "error", "serverId": str(server.pk), "message": "Server not found"}


async def test_members_need_server_read_to_subscribe_and_server_console_to_type(stranger, server):
    await database_sync_to_async(ServerMember.objects.create)(
        server=server, user=stranger, permissions=["server.read", "server.logs.read"]
    )
    communicator = await connect(await token(stranger))
    await communicator.send_json_to(
        {"type": "subscribe", "serverId": str(server.pk), "events": ["server_log"]}
    )
    assert (await communicator.receive_json_from())["type"] == "subscribed"
    await communicator.send_json_to({"type": "console_input", "serverId": str(server.pk), "data": "say hi\n"})
    refused = await receive_until(communicator, "error")
    assert refused["message"].endswith("(requires server.console)")


async def subscribed(user, server, events=("server_log",)) -> WebsocketCommunicator:
    communicator = await connect(await token(user))
    await communicator.send_json_to({"type": "subscribe", "serverId": str(server.pk), "events": list(events)})
    await receive_until(communicator, "subscribed")
    return communicator


async def test_revoking_a_member_stops_delivery_before_the_next_line(stranger, server, customer):
    member = await database_sync_to_async(ServerMember.objects.create)(
        server=server, user=stranger, permissions=["server.read", "server.logs.read"]
    )
    communicator = await subscribed(stranger, server)
    await database_sync_to_async(member_remove)(member=member, actor=customer)
    await database_sync_to_async(console.write)(server.pk, "secret after revocation")
    message = await communicator.receive_json_from(timeout=3)
    assert message["type"] == "error" and message["message"].startswith("Unsubscribed")
    assert await communicator.receive_nothing(timeout=0.5)


async def test_taking_logs_away_from_a_member_stops_the_console_only(stranger, server, customer):
    member = await database_sync_to_async(ServerMember.objects.create)(
        server=server, user=stranger, permissions=["server.read", "server.logs.read"]
    )
    communicator = await subscribed(stranger, server, events=("server_log", "server_state_update"))
    await database_sync_to_async(member_update)(member=member, actor=customer, permissions=["server.read"])
    await database_sync_to_async(console.write)(server.pk, "secret after revocation")
    await database_sync_to_async(console.publish_state)(server.pk, "stopping", "running")
    assert (await communicator.receive_json_from(timeout=3))["type"] == "server_state_update"


async def test_a_role_losing_a_permission_unsubscribes_its_users(make_user, admin, server):
    role = await database_sync_to_async(Role.objects.create)(name="Watchers", permissions=["server.read"])
    watcher = await database_sync_to_async(make_user)(role=None)
    await database_sync_to_async(watcher.roles.add)(role)
    communicator = await subscribed(watcher, server, events=("server_state_update",))
    await database_sync_to_async(role_update)(actor=admin, role=role, permissions=["admin.read"])
    message = await communicator.receive_json_from(timeout=3)
    assert message["message"] == "Unsubscribed: Server not found"


async def test_logging_out_disconnects_the_sockets_of_that_login(customer, server):
    tokens = await database_sync_to_async(tokens_for)(customer)
    communicator = await connect(tokens["token"])
    session_id = AccessToken(tokens["token"])[SESSION_CLAIM]
    await database_sync_to_async(session_logout)(session_id=session_id)
    message = await communicator.receive_json_from(timeout=3)
    assert message["message"].startswith("Disconnected:")
    assert (await communicator.receive_output(timeout=3))["code"] == 4401


async def test_revoking_an_api_key_disconnects_its_sockets(customer):
    key, raw = await database_sync_to_async(apikey_create)(user=customer, name="ws")
    communicator = await connect(raw)
    await database_sync_to_async(apikey_revoke)(key=key)
    assert (await communicator.receive_json_from(timeout=3))["message"].startswith("Disconnected:")


async def test_a_browser_session_not_made_by_the_panel_login_is_refused(customer):
    client = Client()
    await database_sync_to_async(client.force_login)(customer)  # no login session behind it
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    headers = [*ORIGIN, (b"host", b"localhost"), (b"cookie", cookie)]
    communicator = WebsocketCommunicator(application, "/ws", headers=headers)
    await communicator.connect()
    assert (await communicator.receive_json_from())["message"] == "Your login was ended. Sign in again."
    assert (await communicator.receive_output())["code"] == 4401


async def test_console_input_on_a_suspended_server_is_refused(customer, server):
    await database_sync_to_async(Server.objects.filter(pk=server.pk).update)(status="suspended")
    communicator = await connect(await token(customer))
    await communicator.send_json_to({"type": "console_input", "serverId": str(server.pk), "data": "stop\n"})
    assert (await communicator.receive_json_from())["message"] == "Server is suspended."


async def test_oversized_and_malformed_messages_close_the_socket(customer):
    communicator = await connect(await token(customer))
    await communicator.send_to(text_data="x" * (settings.WS_MAX_MESSAGE_BYTES + 1))
    await communicator.receive_json_from()
    assert (await communicator.receive_output())["code"] == 4413
    communicator = await connect(await token(customer))
    await communicator.send_to(text_data="{not json")
    await communicator.receive_json_from()
    assert (await communicator.receive_output())["code"] == 4400


async def test_unknown_types_and_missing_ids_are_errors(customer):
    communicator = await connect(await token(customer))
    await communicator.send_json_to({"type": "teleport", "serverId": "x"})
    assert "Unknown message type" in (await communicator.receive_json_from())["message"]
    await communicator.send_json_to({"type": "subscribe"})
    assert (await communicator.receive_json_from())["message"] == "serverId is required."


async def test_console_input_is_rate_limited(customer, server, settings):
    settings.WS_INPUTS_PER_SECOND = 3
    communicator = await connect(await token(customer))
    for _ in range(4):
        await communicator.send_json_to({"type": "console_input", "serverId": str(server.pk), "data": "a\nb"})
    output = []
    while True:
        message = await communicator.receive_output(timeout=2)
        output.append(message)
        if message["type"] == "websocket.close":
            break
    assert output[-1]["code"] == 4429


async def test_a_notice_comes_before_the_token_expires(customer, settings):
    settings.WS_TOKEN_NOTICE_SECONDS = 60
    raw = await token(customer)
    claims = jwt.decode(raw, settings.SIMPLE_JWT["SIGNING_KEY"], algorithms=["HS256"])
    claims["exp"] = int(time.time()) + 2
    short = jwt.encode(claims, settings.SIMPLE_JWT["SIGNING_KEY"], algorithm="HS256")
    communicator = await connect(short)
    assert (await communicator.receive_json_from(timeout=2))["type"] == "token_expiring"
    await communicator.receive_json_from(timeout=4)
    assert (await communicator.receive_output(timeout=2))["code"] == 4401


async def test_the_channel_layer_is_redis_pub_sub():
    assert get_channel_layer().__class__.__name__ == "RedisPubSubChannelLayer"


async def test_console_output_needs_server_logs_read(stranger, server):
    await database_sync_to_async(ServerMember.objects.create)(
        server=server, user=stranger, permissions=["server.read"]
    )
    communicator = await connect(await token(stranger))
    await communicator.send_json_to({"type": "subscribe", "serverId": str(server.pk)})
    subscribed = await communicator.receive_json_from()
    assert subscribed["events"] == ["resource_stats", "server_state_update"]


async def test_staff_receive_node_health_reports_and_customers_do_not(admin, customer, server):
    from nodes.health import publish_node_health

    staff = await connect(await token(admin))
    await staff.send_json_to({"type": "subscribe_nodes"})
    assert (await staff.receive_json_from())["type"] == "subscribed"
    await database_sync_to_async(publish_node_health)(server.node, {"ok": True, "cpu_percent": 3.5})
    report = await receive_until(staff, "node_health")
    assert report["nodeId"] == str(server.node_id) and report["report"]["cpu_percent"] == 3.5

    other = await connect(await token(customer))
    await other.send_json_to({"type": "subscribe_nodes"})
    assert "admin.read" in (await other.receive_json_from())["message"]
