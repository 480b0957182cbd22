"""End to end: a real crash of the test game container (the monitor sees it, servers/crash.py decides)
opens a `server_crashed` alert whose delivery, on a real worker, reaches the receiver stand-in with a
valid signature and the exit code, as the server's owner subscribed it."""

import base64
import json

import pytest

from alerts import signing
from alerts.models import Alert, AlertDelivery, ServerNotification
from config.crypto import encrypt
from servers.models import Server
from tests.alerts.conftest import SECRET
from tests.fixtures.servers import wait_status
from tests.polling import wait_for
from tests.servers.test_lifecycle import create

pytestmark = [pytest.mark.real_worker, pytest.mark.django_db(transaction=True)]
S = Server.Status


@pytest.fixture(autouse=True)
def _on_the_engines(_worker_idle_after, _no_leftover_containers):
    yield


def test_a_real_crash_is_delivered_signed_to_the_owners_webhook(
    client_for, customer, game_node, game_template, monitor, receiver
):
    api = client_for(customer)
    server = create(api, game_node(), game_template, install=True)
    wait_status(server, S.STOPPED, timeout=60)
    Server.objects.filter(pk=server.pk).update(restart_policy="never")
    ServerNotification.objects.create(
        server=server, url=receiver.url("/crashes"), events=["server_crashed"], signing_secret=encrypt(SECRET)
    )
    api.post(f"/api/servers/{server.pk}/start")
    wait_status(server, S.RUNNING, timeout=60)

    api.post(f"/api/servers/{server.pk}/command", {"command": "crash"}, format="json")
    wait_status(server, S.CRASHED)
    (request,) = receiver.wait_requests(1, timeout=30)

    body = base64.b64decode(request["body_b64"])
    headers = request["headers"]
    assert signing.verify(SECRET, body, headers["X-Hearth-Timestamp"], headers["X-Hearth-Signature"])
    payload = json.loads(body)
    alert = Alert.objects.get(type="server_crashed", server=server)
    assert payload["event"] == "alert.created" and headers["X-Hearth-Event"] == "alert.created"
    assert payload["alert"]["id"] == str(alert.pk) and payload["alert"]["serverId"] == str(server.pk)
    assert payload["alert"]["type"] == "server_crashed"
    assert payload["alert"]["metadata"]["exitCode"] == 1 and payload["alert"]["metadata"]["oom"] is False
    row = AlertDelivery.objects.get(alert=alert)
    assert headers["X-Hearth-Delivery"] == payload["deliveryId"] == str(row.pk)
    assert request["path"] == "/crashes" and request["method"] == "POST"
    wait_for(  # the receiver answered before the worker recorded it
        lambda: AlertDelivery.objects.filter(pk=row.pk, status="delivered").exists(),
        10,
        "the delivery recorded",
    )
