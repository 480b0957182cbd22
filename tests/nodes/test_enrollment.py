"""Enrollment: the real script runs as root here, calls back the live panel, which pins the key and connects."""

import os
import subprocess
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from accounts.models import AuditLog
from nodes.identity import node_public_key
from nodes.models import DeploymentToken, Node, NodeEvent
from tests.conftest import require_env, tokens_for
from tests.fixtures.races import while_row_locked

AUTHORIZED_KEYS = Path("/home/hearth/.ssh/authorized_keys")


@pytest.fixture
def fresh_node(transactional_db, location):
    """A node the panel knows only by address: no pinned key, the panel's key not yet on the host."""
    from nodes.services import node_create

    node, _ = node_create(
        name="fresh",
        location=location,
        hostname="127.0.0.1",
        public_address="127.0.0.1",
        docker_url="ssh://hearth@127.0.0.1:2202",
        data_dir="/tmp/hearth-enroll-data",
        max_memory_mb=2048,
        max_cpu_cores=1,
    )
    yield node
    if AUTHORIZED_KEYS.exists():  # leave the test host as we found it
        lines = [
            line for line in AUTHORIZED_KEYS.read_text().splitlines() if "hearth-panel-fresh" not in line
        ]
        AUTHORIZED_KEYS.write_text("".join(f"{line}\n" for line in lines))


def test_the_script_enrolls_the_host_and_the_node_comes_online(fresh_node, live_server, settings, admin, api):
    settings.PUBLIC_URL = live_server.url
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_for(admin)['token']}")
    response = api.post(f"/api/nodes/{fresh_node.pk}/deployment-token").json()
    assert "plain HTTP" in response["message"]  # the live server is http://
    data = response["data"]
    assert set(data) == {"deploymentToken", "secret", "deployUrl", "expiresAt"}
    assert data["deployUrl"] == f"{live_server.url}/api/deploy/{data['deploymentToken']}"

    with urllib.request.urlopen(data["deployUrl"], timeout=10) as response:  # noqa: S310 - local test server
        script = response.read().decode()
    assert node_public_key(fresh_node).split()[1] in script
    host_key_file = Path(require_env("HEARTH_TEST_SSH_KEY")).parent / "host2/ssh_host_ed25519_key.pub"
    env = {
        **os.environ,
        "HEARTH_SSH_PORT": "2202",
        "HEARTH_SSH_HOST_KEY_FILE": str(host_key_file),
        "HEARTH_HOSTNAME": "127.0.0.1",
    }
    result = subprocess.run(["sh", "-s"], input=script, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Node enrolled and online" in result.stdout

    node = Node.objects.get(pk=fresh_node.pk)
    assert node.is_online
    assert node.ssh_host_key == require_env("HEARTH_TEST_SSH2_HOSTKEY")
    assert node.docker_url == "ssh://hearth@127.0.0.1:2202"
    assert Path("/tmp/hearth-enroll-data/servers").is_dir()
    assert NodeEvent.objects.filter(node=node, kind="enrolled").exists()

    again = subprocess.run(["sh", "-s"], input=script, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode != 0
    assert "already used" in again.stdout + again.stderr


@pytest.mark.django_db
def test_the_script_url_refuses_used_expired_and_unknown_tokens(api, waiting_node, link):
    token = link(waiting_node)
    assert api.get(f"/api/deploy/{token}").status_code == 200

    DeploymentToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    expired = api.get(f"/api/deploy/{token}")
    assert expired.status_code == 400 and "expired" in expired.json()["message"]

    DeploymentToken.objects.update(expires_at=timezone.now() + timedelta(hours=1), used_at=timezone.now())
    assert "already used" in api.get(f"/api/deploy/{token}").json()["message"]
    assert api.post(f"/api/deploy/{token}/complete", {"hostKey": "x"}, format="json").status_code == 400

    assert api.get("/api/deploy/not-a-token").status_code == 404


@pytest.mark.django_db
def test_the_callback_refuses_a_malformed_host_key(api, waiting_node, link):
    token = link(waiting_node)
    response = api.post(f"/api/deploy/{token}/complete", {"hostKey": "nonsense"}, format="json")
    assert response.status_code == 400
    assert not DeploymentToken.objects.get().used_at


@pytest.mark.django_db
def test_the_script_is_valid_shell_with_values_quoted(api, waiting_node, link):
    script = api.get(f"/api/deploy/{link(waiting_node)}").content.decode()
    assert subprocess.run(["sh", "-n"], input=script, text=True, capture_output=True).returncode == 0
    assert "&#x27;" not in script and "&amp;" not in script


# --- Trust: a link is for a node still waiting to enrol, and the reported key is proven -------------


@pytest.fixture
def waiting_node(db, location):
    """A node staff created at 127.0.0.1 that never came online; the panel's key is the test key, so
    both test sshds accept it (the script would have installed it)."""
    from nodes.services import node_create

    node, _ = node_create(
        name="waiting",
        location=location,
        hostname="127.0.0.1",
        public_address="127.0.0.1",
        docker_url="ssh://hearth@127.0.0.1:1",  # nothing listens: it waits for its enrollment
        ssh_private_key=Path(require_env("HEARTH_TEST_SSH_KEY")).read_text(),
        data_dir="/tmp/hearth-enroll-waiting",
        max_memory_mb=2048,
        max_cpu_cores=1,
    )
    assert not node.is_online and node.last_seen_at is None
    return node


@pytest.fixture
def link(admin, client_for):
    """A new enrollment link for a node, made by staff through the API; its raw token."""

    def make(node) -> str:
        response = client_for(admin).post(f"/api/nodes/{node.pk}/deployment-token")
        assert response.status_code == 200, response.content
        return response.json()["data"]["deploymentToken"]

    return make


def complete(api, token: str, *, engine: int, port: int | None = None, host_key: str | None = None):
    """What the script posts: this host's key and SSH port (by default those of test sshd `engine`)."""
    body = {
        "hostKey": host_key or require_env(f"HEARTH_TEST_SSH{engine}_HOSTKEY"),
        "sshUser": "hearth",
        "sshPort": port or 2200 + engine,
        "hostname": "127.0.0.1",
    }
    return api.post(f"/api/deploy/{token}/complete", body, format="json")


def assert_unchanged(node) -> None:
    fresh = Node.objects.get(pk=node.pk)
    assert (fresh.docker_url, fresh.ssh_host_key, fresh.engine_id) == ("ssh://hearth@127.0.0.1:1", "", "")
    assert not fresh.is_online
    assert not NodeEvent.objects.filter(node=node, kind="enrolled").exists()


def test_a_proven_key_enrols_the_waiting_node(api, waiting_node, link):
    token = link(waiting_node)
    response = complete(api, token, engine=2)
    assert response.status_code == 200, response.content
    assert response.json()["data"]["isOnline"] is True
    node = Node.objects.get(pk=waiting_node.pk)
    assert node.docker_url == "ssh://hearth@127.0.0.1:2202"
    assert node.ssh_host_key == require_env("HEARTH_TEST_SSH2_HOSTKEY")
    assert node.is_online and node.engine_id
    spent = DeploymentToken.objects.get()
    assert spent.used_at and not spent.failure
    assert AuditLog.objects.filter(action="node.enroll", resource_id=str(node.pk)).exists()


def test_a_new_link_revokes_the_older_one(api, waiting_node, link):
    old, new = link(waiting_node), link(waiting_node)
    assert "revoked" in api.get(f"/api/deploy/{old}").json()["message"]
    stale = complete(api, old, engine=2)
    assert stale.status_code == 400 and "revoked" in stale.json()["message"]
    assert_unchanged(waiting_node)
    assert complete(api, new, engine=2).status_code == 200


def test_a_replayed_link_cannot_move_the_node_again(api, waiting_node, link):
    token = link(waiting_node)
    assert complete(api, token, engine=2).status_code == 200
    replay = complete(api, token, engine=1)  # the other sshd, with its own key: a valid proof elsewhere
    assert replay.status_code == 400 and "already used" in replay.json()["message"]
    node = Node.objects.get(pk=waiting_node.pk)
    assert (node.docker_url, node.ssh_host_key) == (
        "ssh://hearth@127.0.0.1:2202",
        require_env("HEARTH_TEST_SSH2_HOSTKEY"),
    )


def test_an_enrolled_node_gets_no_new_link(waiting_node, link, admin, client_for, api):
    assert complete(api, link(waiting_node), engine=2).status_code == 200
    response = client_for(admin).post(f"/api/nodes/{waiting_node.pk}/deployment-token")
    assert response.status_code == 409
    assert "repoint" in response.json()["message"]


def test_a_node_that_has_been_online_gets_no_link(make_node, admin, client_for):
    node = make_node(engine=2)  # created at a reachable address: online, never needed a link
    response = client_for(admin).post(f"/api/nodes/{node.pk}/deployment-token")
    assert response.status_code == 409
    assert not DeploymentToken.objects.exists()


def _server_on(node, owner):
    from servers.models import Server
    from templates_app.models import Template

    template = Template.objects.create(
        name="T", docker_image="hearth/testgame:latest", start_command="x", stop_command="stop"
    )
    return Server.objects.create(
        name="placed",
        owner=owner,
        node=node,
        template=template,
        docker_image=template.docker_image,
        allocated_memory_mb=128,
        allocated_cpu_cores=1,
        allocated_disk_mb=128,
    )


def test_a_node_with_servers_gets_no_link_and_an_older_link_dies(api, waiting_node, link, admin, client_for):
    token = link(waiting_node)
    _server_on(waiting_node, admin)
    response = client_for(admin).post(f"/api/nodes/{waiting_node.pk}/deployment-token")
    assert response.status_code == 409 and "has servers" in response.json()["message"]

    late = complete(api, token, engine=2)
    assert late.status_code == 409
    assert_unchanged(waiting_node)
    assert DeploymentToken.objects.get().revoked_at is not None  # dead for good, even if the server goes
    assert api.get(f"/api/deploy/{token}").status_code == 400


def test_a_wrong_reported_key_changes_nothing_and_spends_the_link(api, waiting_node, link):
    from nodes.client import generate_keypair

    token = link(waiting_node)
    forged = generate_keypair()[1]  # a key the caller holds; the host at the address has another
    response = complete(api, token, engine=2, host_key=forged)
    assert response.status_code == 400
    assert "presents the host key" in response.json()["fields"]["hostKey"][0]
    assert_unchanged(waiting_node)
    spent = DeploymentToken.objects.get()
    assert spent.used_at and "presents the host key" in spent.failure
    assert AuditLog.objects.filter(action="node.enroll_failed").exists()
    assert "already used" in complete(api, token, engine=2).json()["message"]


@pytest.mark.parametrize(("reported", "port"), [(1, 2202), (2, 2201)])
def test_an_address_at_the_other_sshd_is_refused(api, waiting_node, link, reported, port):
    """A genuine key of one host, with a port that leads to the other one: the panel sees the mismatch."""
    response = complete(api, link(waiting_node), engine=reported, port=port)
    assert response.status_code == 400, response.content
    assert "presents the host key" in response.json()["message"]
    assert_unchanged(waiting_node)


def test_the_host_must_accept_the_panels_key(api, location, link):
    from nodes.services import node_create

    node, _ = node_create(  # a fresh key of its own, which no test sshd authorises
        name="unauthorised",
        location=location,
        hostname="127.0.0.1",
        public_address="127.0.0.1",
        docker_url="ssh://hearth@127.0.0.1:1",
        data_dir="/tmp/hearth-enroll-waiting",
        max_memory_mb=2048,
        max_cpu_cores=1,
    )
    response = complete(api, link(node), engine=2)
    assert response.status_code == 503
    assert "Authentication failed" in response.json()["message"]
    assert_unchanged(node)
    assert "Authentication failed" in DeploymentToken.objects.get().failure


def test_the_script_cannot_choose_the_host(api, waiting_node, link):
    token = link(waiting_node)
    body = {"hostKey": require_env("HEARTH_TEST_SSH2_HOSTKEY"), "sshPort": 2202, "hostname": "203.0.113.7"}
    response = api.post(f"/api/deploy/{token}/complete", body, format="json")
    assert response.status_code == 400 and "hostname" in response.json()["fields"]
    assert_unchanged(waiting_node)
    assert DeploymentToken.objects.get().used_at is None  # bad input spends nothing


def test_two_completions_at_once_enrol_the_node_once(transactional_db, waiting_node, link):
    """Both callers hold the link and a genuine host (the two test sshds): one wins, the other is told."""
    from django.db import connection

    from config.errors import DomainError, refusal_text
    from nodes.enrollment import node_enroll

    token = link(waiting_node)

    def attempt(engine: int) -> str:
        try:
            node_enroll(
                raw_token=token,
                host_key=require_env(f"HEARTH_TEST_SSH{engine}_HOSTKEY"),
                ssh_user="hearth",
                ssh_port=2200 + engine,
            )
            return f"enrolled {engine}"
        except DomainError as exc:
            return refusal_text(exc)
        finally:
            connection.close()

    # Both are parked on the link's row, where it is spent, before either may go on.
    tokens = DeploymentToken.objects.filter(node=waiting_node)
    results = while_row_locked(tokens, [lambda: attempt(1), lambda: attempt(2)])
    winners = [r for r in results if r.startswith("enrolled")]
    assert len(winners) == 1, results
    assert any("already used" in r for r in results), results
    engine = int(winners[0].split()[1])
    node = Node.objects.get(pk=waiting_node.pk)
    assert node.ssh_host_key == require_env(f"HEARTH_TEST_SSH{engine}_HOSTKEY")
    assert node.docker_url == f"ssh://hearth@127.0.0.1:{2200 + engine}"
    assert NodeEvent.objects.filter(node=node, kind="enrolled").count() == 1


@pytest.mark.parametrize("reported", [2, 1])
def test_a_check_that_got_through_before_the_callback_holds_only_its_own_key(
    api, waiting_node, link, reported
):
    """Beat may reach the host between the script installing the panel's key and its callback."""
    token = link(waiting_node)
    Node.objects.filter(pk=waiting_node.pk).update(  # what that check left: a pin, the node seen
        ssh_host_key=require_env("HEARTH_TEST_SSH2_HOSTKEY"), last_seen_at=timezone.now()
    )
    response = complete(api, token, engine=reported)
    node = Node.objects.get(pk=waiting_node.pk)
    if reported == 2:
        assert response.status_code == 200, response.content
        assert node.docker_url == "ssh://hearth@127.0.0.1:2202" and node.is_online
    else:  # another key than the one the panel already met there: no takeover
        assert response.status_code == 409
        assert node.ssh_host_key == require_env("HEARTH_TEST_SSH2_HOSTKEY")
        assert node.docker_url == "ssh://hearth@127.0.0.1:1"


@pytest.mark.parametrize("hostname", ["-oProxyCommand", "a..b", "[::1", "1.2.3.4:22"])
def test_the_callback_refuses_a_hostname_that_is_not_a_host(api, waiting_node, link, hostname):
    token = link(waiting_node)
    body = {"hostKey": require_env("HEARTH_TEST_SSH2_HOSTKEY"), "hostname": hostname}
    response = api.post(f"/api/deploy/{token}/complete", body, format="json")
    assert response.status_code == 400 and "hostname" in response.json()["fields"]
    assert not DeploymentToken.objects.get().used_at
    assert_unchanged(waiting_node)
