"""Enrollment: the real script runs as root here, calls back the live panel, which pins the key and connects."""

import os
import subprocess
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from nodes.models import DeploymentToken, Node, NodeEvent
from nodes.services import node_public_key
from tests.conftest import require_env, tokens_for

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
    data = api.post(f"/api/nodes/{fresh_node.pk}/deployment-token").json()["data"]
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
def test_the_script_url_refuses_used_expired_and_unknown_tokens(api, make_node, admin, client_for):
    node = make_node(engine=2)
    token = client_for(admin).post(f"/api/nodes/{node.pk}/deployment-token").json()["data"]["deploymentToken"]
    assert api.get(f"/api/deploy/{token}").status_code == 200

    DeploymentToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    expired = api.get(f"/api/deploy/{token}")
    assert expired.status_code == 400 and "expired" in expired.json()["message"]

    DeploymentToken.objects.update(expires_at=timezone.now() + timedelta(hours=1), used_at=timezone.now())
    assert "already used" in api.get(f"/api/deploy/{token}").json()["message"]
    assert api.post(f"/api/deploy/{token}/complete", {"hostKey": "x"}, format="json").status_code == 400

    assert api.get("/api/deploy/not-a-token").status_code == 404


@pytest.mark.django_db
def test_the_callback_refuses_a_malformed_host_key(api, make_node, admin, client_for):
    node = make_node(engine=2)
    token = client_for(admin).post(f"/api/nodes/{node.pk}/deployment-token").json()["data"]["deploymentToken"]
    response = api.post(f"/api/deploy/{token}/complete", {"hostKey": "nonsense"}, format="json")
    assert response.status_code == 400
    assert not DeploymentToken.objects.get().used_at


@pytest.mark.django_db
def test_the_script_is_valid_shell_with_values_quoted(api, make_node, admin, client_for):
    node = make_node(engine=2)
    token = client_for(admin).post(f"/api/nodes/{node.pk}/deployment-token").json()["data"]["deploymentToken"]
    script = api.get(f"/api/deploy/{token}").content.decode()
    assert subprocess.run(["sh", "-n"], input=script, text=True, capture_output=True).returncode == 0
    assert "&#x27;" not in script and "&amp;" not in script


@pytest.mark.django_db
@pytest.mark.parametrize("hostname", ["-oProxyCommand", "a..b", "[::1", "1.2.3.4:22"])
def test_the_callback_refuses_a_hostname_that_is_not_a_host(api, make_node, admin, client_for, hostname):
    node = make_node(engine=2)
    token = client_for(admin).post(f"/api/nodes/{node.pk}/deployment-token").json()["data"]["deploymentToken"]
    body = {"hostKey": require_env("HEARTH_TEST_SSH2_HOSTKEY"), "hostname": hostname}
    response = api.post(f"/api/deploy/{token}/complete", body, format="json")
    assert response.status_code == 400 and "hostname" in response.json()["fields"]
    assert not DeploymentToken.objects.get().used_at
