"""Host keys against the real test sshds: pinned on first contact by the client, kept across address
changes, and changed only by explicit, proven, audited staff actions (replace, forget, re-point)."""

from pathlib import Path

import pytest

from accounts.models import AuditLog
from config.crypto import encrypt
from nodes.client import HostKeyMismatch, client_for
from nodes.health import node_check_health
from nodes.models import Node, NodeEvent
from nodes.services import node_update
from tests.conftest import require_env

pytestmark = pytest.mark.django_db

SSH1, SSH2 = "ssh://hearth@127.0.0.1:2201", "ssh://hearth@127.0.0.1:2202"


def key(engine: int) -> str:
    return require_env(f"HEARTH_TEST_SSH{engine}_HOSTKEY")


@pytest.fixture
def staff(client_for, admin):
    return client_for(admin)


@pytest.fixture
def unpinned(location):
    """A saved ssh:// node no one has connected to yet (as an older install may hold)."""

    def make(docker_url: str = SSH1) -> Node:
        return Node.objects.create(
            name=f"unpinned-{Node.objects.count()}",
            location=location,
            hostname="127.0.0.1",
            public_address="127.0.0.1",
            docker_url=docker_url,
            ssh_private_key=encrypt(Path(require_env("HEARTH_TEST_SSH_KEY")).read_text()),
            data_dir=require_env("HEARTH_TEST_NODE1_DATA_DIR"),
            max_memory_mb=1024,
            max_cpu_cores=1,
        )

    return make


def pinned_key(node) -> str:
    return Node.objects.values_list("ssh_host_key", flat=True).get(pk=node.pk)


def events(node) -> list[str]:
    return list(NodeEvent.objects.filter(node=node).order_by("created_at").values_list("kind", flat=True))


# --- Pinning on first contact -------------------------------------------------------------------


def test_the_first_connection_pins_the_key_whoever_makes_it(unpinned):
    node = unpinned()
    client_for(node).ping()  # not a health check: any caller's first connection
    assert pinned_key(node) == key(1)
    assert "host_key_pinned" in events(node)


def test_a_stale_copy_neither_connects_unpinned_nor_unpins(unpinned):
    node = unpinned()
    stale = Node.objects.get(pk=node.pk)  # loaded before the pin
    client_for(node).ping()
    Node.objects.filter(pk=node.pk).update(docker_url=SSH2)  # the address now leads to another host
    stale.docker_url = SSH2
    with pytest.raises(HostKeyMismatch):
        client_for(stale).ping()  # the stored pin holds, though this copy never saw it
    Node.objects.filter(pk=node.pk).update(docker_url=SSH1)
    stale.docker_url = SSH1
    node_update(node=stale, maintenance_mode=True)
    assert pinned_key(node) == key(1)


def test_another_host_at_a_pinned_address_is_a_failed_check_not_a_500(unpinned, staff):
    node = unpinned()
    client_for(node).ping()
    Node.objects.filter(pk=node.pk).update(docker_url=SSH2)  # as if its DNS name now led elsewhere
    node.refresh_from_db()
    with pytest.raises(HostKeyMismatch, match="host key changed"):
        client_for(node).ping()
    response = staff.post(f"/api/nodes/{node.pk}/test")
    assert response.status_code == 503
    assert "host key changed" in response.json()["message"]
    assert "host_key_mismatch" in events(node)
    assert pinned_key(node) == key(1)


def test_an_unauthenticated_contact_pins_nothing(location):
    """A host that refuses the panel's key (one still waiting to enrol) must not get its key pinned."""
    from nodes.services import node_create

    node, _ = node_create(  # its own new key pair: the test sshds do not know it
        name="refused",
        location=location,
        hostname="127.0.0.1",
        public_address="127.0.0.1",
        docker_url=SSH2,
        data_dir="/tmp/hearth-refused",
        max_memory_mb=1024,
        max_cpu_cores=1,
    )
    assert not node.is_online and "Authentication failed" in node.last_health["error"]
    assert pinned_key(node) == ""


def test_registration_pins_and_records_the_first_key(make_node):
    node = make_node(engine=2, pin=False)
    assert pinned_key(node) == key(2)
    assert "host_key_pinned" in events(node)


def test_a_key_given_at_creation_is_strict_from_the_first_connection(make_node):
    node = make_node(engine=2, pin=False, ssh_host_key=f"{key(1)} comment-dropped")
    assert not node.is_online and "host key changed" in node.last_health["error"]
    assert pinned_key(node) == key(1)
    assert "host_key_pinned" not in events(node)


# --- Changing the address -----------------------------------------------------------------------


def test_a_new_address_must_present_the_pinned_key(staff, make_node):
    node = make_node(engine=2)
    response = staff.patch(f"/api/nodes/{node.pk}", {"dockerUrl": SSH1}, format="json")
    assert response.status_code == 409, response.content
    assert "pinned host key" in response.json()["message"]
    node.refresh_from_db()
    assert (node.docker_url, node.ssh_host_key, node.is_online) == (SSH2, key(2), True)


def test_the_new_key_given_in_the_same_edit_is_pinned(staff, make_node):
    node = make_node(engine=2)
    response = staff.patch(f"/api/nodes/{node.pk}", {"dockerUrl": SSH1, "sshHostKey": key(1)}, format="json")
    assert response.status_code == 200, response.content
    node.refresh_from_db()
    assert (node.docker_url, node.ssh_host_key, node.is_online) == (SSH1, key(1), True)
    assert "host_key_replaced" in events(node)


def test_a_wrong_key_given_with_the_new_address_is_refused(staff, make_node):
    node = make_node(engine=2)
    response = staff.patch(f"/api/nodes/{node.pk}", {"dockerUrl": SSH1, "sshHostKey": key(2)}, format="json")
    assert response.status_code == 409
    node.refresh_from_db()
    assert (node.docker_url, node.ssh_host_key) == (SSH2, key(2))


@pytest.mark.parametrize(
    ("value", "says"),
    [("", "DELETE /api/nodes/:id/host-key"), ("KEY1", "POST /api/nodes/:id/host-key"), ("junk", "OpenSSH")],
)
def test_an_edit_does_not_change_or_forget_a_pinned_key(staff, make_node, value, says):
    node = make_node(engine=2)
    response = staff.patch(
        f"/api/nodes/{node.pk}", {"sshHostKey": key(1) if value == "KEY1" else value}, format="json"
    )
    assert response.status_code == 400
    assert says in response.json()["fields"]["sshHostKey"][0]
    assert pinned_key(node) == key(2)


def test_a_node_with_servers_is_moved_only_by_repointing(staff, make_node, customer):
    from tests.nodes.test_enrollment import _server_on

    node = make_node(engine=2)
    _server_on(node, customer)
    response = staff.patch(f"/api/nodes/{node.pk}", {"dockerUrl": SSH1, "sshHostKey": key(1)}, format="json")
    assert response.status_code == 409 and "repoint" in response.json()["message"]
    assert Node.objects.get(pk=node.pk).docker_url == SSH2


def admin_edit(node, **changes) -> dict:
    """The admin's change form for `node` as saved, with `changes`."""
    from tests.nodes.test_admin import node_form

    form = node_form(
        node.location,
        name=node.name,
        hostname=node.hostname,
        public_address=node.public_address,
        docker_url=node.docker_url,
        ssh_host_key=node.ssh_host_key,
        data_dir=node.data_dir,
        max_memory_mb=str(node.max_memory_mb),
        max_cpu_cores=str(node.max_cpu_cores),
    )
    form.update(changes)
    return form


def test_the_admin_form_moves_a_node_with_servers_only_by_repointing(signed_in, admin, make_node, customer):
    from tests.nodes.test_admin import messages_of
    from tests.nodes.test_enrollment import _server_on

    node = make_node(engine=2)
    _server_on(node, customer)
    response = signed_in(admin).post(
        f"/admin/nodes/node/{node.pk}/change/",
        admin_edit(node, docker_url=SSH1, ssh_host_key=key(1)),
        follow=True,
    )
    assert any(level == "error" and "repoint" in text.lower() for level, text in messages_of(response))
    fresh = Node.objects.get(pk=node.pk)
    assert (fresh.docker_url, fresh.ssh_host_key) == (SSH2, key(2))


def test_the_admin_form_holds_a_new_address_to_the_pinned_key(signed_in, admin, make_node):
    from tests.nodes.test_admin import messages_of

    node = make_node(engine=2)
    client = signed_in(admin)
    refused = client.post(
        f"/admin/nodes/node/{node.pk}/change/", admin_edit(node, docker_url=SSH1), follow=True
    )
    assert any(level == "error" and "pinned host key" in text for level, text in messages_of(refused))
    assert Node.objects.get(pk=node.pk).docker_url == SSH2
    client.post(
        f"/admin/nodes/node/{node.pk}/change/", admin_edit(node, docker_url=SSH1, ssh_host_key=key(1))
    )
    fresh = Node.objects.get(pk=node.pk)
    assert (fresh.docker_url, fresh.ssh_host_key) == (SSH1, key(1))
    assert "host_key_replaced" in events(node)


# --- Replace and forget -------------------------------------------------------------------------


def test_replacing_the_key_needs_the_node_to_present_it(staff, make_node):
    node = make_node(engine=2)
    Node.objects.filter(pk=node.pk).update(ssh_host_key=key(1))  # as after the host was reinstalled
    assert not node_check_health(node=Node.objects.get(pk=node.pk))["ok"]

    wrong = staff.post(f"/api/nodes/{node.pk}/host-key", {"sshHostKey": key(1)}, format="json")
    assert wrong.status_code == 400 and "pinned already" in wrong.json()["message"]
    forged = staff.post(f"/api/nodes/{node.pk}/host-key", {"sshHostKey": _another_key()}, format="json")
    assert forged.status_code == 400 and "presents the host key" in forged.json()["message"]
    assert pinned_key(node) == key(1)

    response = staff.post(f"/api/nodes/{node.pk}/host-key", {"sshHostKey": key(2)}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["data"]["isOnline"] is True
    assert pinned_key(node) == key(2)
    assert "host_key_replaced" in events(node)
    assert AuditLog.objects.filter(action="node.host_key_replace", resource_id=str(node.pk)).exists()


def test_forgetting_the_key_repins_on_the_next_contact(staff, make_node):
    node = make_node(engine=2)
    response = staff.delete(f"/api/nodes/{node.pk}/host-key")
    assert response.status_code == 200, response.content
    assert response.json()["data"]["sshHostKey"] == key(2)  # the check ran at once and pinned again
    assert events(node)[-2:] == ["host_key_forgotten", "host_key_pinned"]
    assert AuditLog.objects.filter(action="node.host_key_forget", resource_id=str(node.pk)).exists()


def test_a_local_node_has_no_key_to_forget_or_replace(staff, make_node):
    node = make_node(engine=1, via="unix")
    assert staff.delete(f"/api/nodes/{node.pk}/host-key").status_code == 409
    assert (
        staff.post(f"/api/nodes/{node.pk}/host-key", {"sshHostKey": key(1)}, format="json").status_code == 400
    )


def _another_key() -> str:
    from nodes.client import generate_keypair

    return generate_keypair()[1]


# --- Re-pointing --------------------------------------------------------------------------------


def test_repointing_needs_confirmation_and_a_proven_key(staff, make_node, customer):
    from tests.nodes.test_enrollment import _server_on

    node = make_node(engine=2)
    _server_on(node, customer)
    url = f"/api/nodes/{node.pk}/repoint"
    unconfirmed = staff.post(url, {"dockerUrl": SSH1, "sshHostKey": key(1), "confirm": "yes"}, format="json")
    assert unconfirmed.status_code == 400 and "confirm" in unconfirmed.json()["fields"]
    kept = staff.post(url, {"dockerUrl": SSH1, "confirm": node.name}, format="json")  # the pinned key
    assert kept.status_code == 400 and "presents the host key" in kept.json()["message"]
    down = staff.post(url, {"dockerUrl": "ssh://hearth@127.0.0.1:1", "confirm": node.name}, format="json")
    assert down.status_code == 503
    node.refresh_from_db()
    assert (node.docker_url, node.ssh_host_key) == (SSH2, key(2))
    assert not NodeEvent.objects.filter(node=node, kind="repointed").exists()

    response = staff.post(url, {"dockerUrl": SSH1, "sshHostKey": key(1), "confirm": node.name}, format="json")
    assert response.status_code == 200, response.content
    node.refresh_from_db()
    assert (node.docker_url, node.ssh_host_key, node.is_online) == (SSH1, key(1), True)
    assert "repointed" in events(node)
    entry = AuditLog.objects.get(action="node.repoint", resource_id=str(node.pk))
    assert entry.metadata["fromUrl"] == SSH2 and entry.metadata["toUrl"] == SSH1


# --- The same actions in the admin --------------------------------------------------------------


def test_the_admin_repoints_only_with_the_nodes_name(signed_in, admin, make_node):
    node = make_node(engine=2)
    client = signed_in(admin)
    assert (
        f"/admin/nodes/node/{node.pk}/repoint/"
        in client.get(f"/admin/nodes/node/{node.pk}/change/").content.decode()
    )
    page = f"/admin/nodes/node/{node.pk}/repoint/"
    refused = client.post(page, {"docker_url": SSH1, "ssh_host_key": key(1), "confirm": "nope"})
    assert refused.status_code == 200 and "to confirm" in refused.content.decode()
    assert Node.objects.get(pk=node.pk).docker_url == SSH2
    done = client.post(page, {"docker_url": SSH1, "ssh_host_key": key(1), "confirm": node.name})
    assert done.status_code == 302
    node.refresh_from_db()
    assert (node.docker_url, node.ssh_host_key) == (SSH1, key(1))
    assert AuditLog.objects.filter(action="node.repoint", user=admin).exists()


def test_the_admin_replaces_or_forgets_the_key(signed_in, admin, make_node):
    node = make_node(engine=2)
    client, page = signed_in(admin), f"/admin/nodes/node/{node.pk}/host-key/"
    forged = client.post(page, {"ssh_host_key": _another_key()})
    assert forged.status_code == 200 and "presents the host key" in forged.content.decode()
    assert pinned_key(node) == key(2)
    assert client.post(page, {"forget": "on"}).status_code == 302
    assert "host_key_forgotten" in events(node)


def test_support_staff_cannot_reach_the_trust_pages(signed_in, make_user, make_node):
    node = make_node(engine=2)
    client = signed_in(make_user(role="Support"))
    for page in ("repoint", "host-key"):
        assert client.get(f"/admin/nodes/node/{node.pk}/{page}/").status_code == 403
        assert client.post(f"/admin/nodes/node/{node.pk}/{page}/", {"forget": "on"}).status_code == 403
    assert pinned_key(node) == key(2)
