"""Staff-set node addresses do not reach anywhere: a node test says what failed, never what the far end
answered (so it is no banner grabber), is rate-limited per staff member and audited with the address."""

import socket
import threading

import pytest

from accounts.models import AuditLog
from tests.conftest import require_env
from tests.nodes.test_admin import messages_of

pytestmark = pytest.mark.django_db

BANNERS = [
    b"SSH-1.5-SecretService_4.2 internal-db.corp\r\n",
    b"SSH-2.0-\x00SecretService\r\n",
    b"HTTP/1.1 400 Bad Request\r\nServer: SecretService/4.2\r\n\r\n",
    b"-ERR SecretService unknown command\r\n",
]


@pytest.fixture
def talker():
    """A TCP service on a local port that answers every connection with `banner` and hangs up."""
    listeners = []

    def start(banner: bytes) -> int:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listeners.append(listener)

        def serve():
            while True:
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                try:
                    conn.sendall(banner)
                    conn.recv(256)
                except OSError:
                    pass
                conn.close()

        threading.Thread(target=serve, daemon=True).start()
        return listener.getsockname()[1]

    yield start
    for listener in listeners:
        listener.close()


@pytest.mark.parametrize("banner", BANNERS)
def test_the_api_test_of_a_non_ssh_port_names_no_banner(make_node, client_for, admin, talker, banner):
    node = make_node(engine=2, docker_url=f"ssh://hearth@127.0.0.1:{talker(banner)}")
    response = client_for(admin).post(f"/api/nodes/{node.pk}/test")
    assert response.status_code == 503
    message = response.json()["message"]
    assert "not an SSH server" in message
    assert "Secret" not in message and "HTTP" not in message and "1.5" not in message


def test_a_closed_port_is_could_not_connect_and_nothing_more(make_node, client_for, admin):
    node = make_node(engine=2, docker_url="ssh://hearth@127.0.0.1:1")
    response = client_for(admin).post(f"/api/nodes/{node.pk}/test")
    assert response.status_code == 503
    message = response.json()["message"]
    assert message.endswith("could not connect (refused, timed out or no route to the host)")
    assert "Errno" not in message and "111" not in message


def test_the_admin_button_on_a_non_ssh_port_is_an_error_message_naming_no_banner(
    make_node, signed_in, admin, talker
):
    node = make_node(engine=2, docker_url=f"ssh://hearth@127.0.0.1:{talker(BANNERS[0])}")
    response = signed_in(admin).post(f"/admin/nodes/node/{node.pk}/test/", follow=True)
    assert response.status_code == 200
    ((level, text),) = messages_of(response)
    assert level == "error" and "not an SSH server" in text and "Secret" not in text


def test_each_test_is_audited_with_the_address_tried(make_node, client_for, signed_in, admin):
    node = make_node(engine=2)
    assert client_for(admin).post(f"/api/nodes/{node.pk}/test").status_code == 200
    signed_in(admin).post(f"/admin/nodes/node/{node.pk}/test/")
    entries = AuditLog.objects.filter(action="node.test", user=admin, resource_id=str(node.pk))
    assert entries.count() == 2
    assert all(entry.metadata["dockerUrl"] == node.docker_url for entry in entries)


def test_node_tests_are_rate_limited_per_staff_member(
    make_node, client_for, signed_in, admin, make_user, settings
):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "node-contact": 2}
    node = make_node(engine=2, docker_url="ssh://hearth@127.0.0.1:1")
    staff = client_for(admin)
    assert [staff.post(f"/api/nodes/{node.pk}/test").status_code for _ in range(2)] == [503, 503]
    limited = staff.post(f"/api/nodes/{node.pk}/test")
    assert limited.status_code == 429 and "Too many node tests" in limited.json()["message"]

    response = signed_in(admin).post(f"/admin/nodes/node/{node.pk}/test/", follow=True)
    ((level, text),) = messages_of(response)
    assert level == "error" and "Too many node tests" in text

    # A new address is a contact too: pointing a node somewhere else counts against the same budget.
    moved = staff.patch(f"/api/nodes/{node.pk}", {"dockerUrl": "ssh://hearth@127.0.0.1:2"}, format="json")
    assert moved.status_code == 429
    node.refresh_from_db()
    assert node.docker_url == "ssh://hearth@127.0.0.1:1"

    other = client_for(make_user(role="Administrator"))
    assert other.post(f"/api/nodes/{node.pk}/test").status_code == 503  # their own budget
    assert AuditLog.objects.filter(action="node.test").count() == 3


def test_a_node_that_fails_in_an_unexpected_way_is_a_failed_check_not_a_500(
    make_node, client_for, signed_in, admin
):
    node = make_node(engine=2)
    type(node).objects.filter(pk=node.pk).update(ssh_host_key="not a key")  # an old row, say
    response = client_for(admin).post(f"/api/nodes/{node.pk}/test")
    assert response.status_code == 503
    assert response.json()["message"].startswith(f"Node '{node.name}' failed its health check")

    page = signed_in(admin).post(f"/admin/nodes/node/{node.pk}/test/", follow=True)
    ((level, text),) = messages_of(page)
    assert page.status_code == 200 and level == "error" and "failed its health check" in text


@pytest.mark.parametrize("banner", BANNERS[:1])
def test_repointing_and_replacing_a_key_are_contacts_with_no_banner(
    make_node, client_for, admin, talker, banner, settings
):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "node-contact": 2}
    node = make_node(engine=2)
    staff = client_for(admin)
    probe = f"ssh://hearth@127.0.0.1:{talker(banner)}"
    body = {"dockerUrl": probe, "confirm": node.name}
    repoint = staff.post(f"/api/nodes/{node.pk}/repoint", body, format="json")
    assert repoint.status_code == 503 and "not an SSH server" in repoint.json()["message"]
    assert "Secret" not in repoint.json()["message"]
    other_key = require_env(
        "HEARTH_TEST_SSH1_HOSTKEY"
    )  # engine 2's sshd presents its own: refused, but tried
    assert (
        staff.post(f"/api/nodes/{node.pk}/host-key", {"sshHostKey": other_key}, format="json").status_code
        == 400
    )
    limited = staff.post(f"/api/nodes/{node.pk}/repoint", body, format="json")
    assert limited.status_code == 429 and "Too many node tests" in limited.json()["message"]


def test_a_far_end_that_hangs_up_mid_handshake_is_not_an_ssh_server():
    """A banner, then a reset when the panel answers: the connection was made, the handshake failed."""
    from nodes.client.ssh import remote_failure

    handshake = "not an SSH server, or the SSH handshake failed"
    assert remote_failure(ConnectionResetError(104, "Connection reset by peer")) == handshake
    assert remote_failure(BrokenPipeError(32, "Broken pipe")) == handshake
    assert remote_failure(ConnectionRefusedError(111, "Connection refused")).startswith("could not connect")
