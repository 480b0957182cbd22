"""A server's directory is a bind mount the engine resolves on the node's host: planted symlinks (the
directory itself, a directory above it, the data dir's own path) make install, reinstall and start
fail with a clear reason and leave the link's target as it was; data dirs cannot overlap server
directories (through the API, the admin and the service)."""

import os
import pwd
import shutil
import stat
import tempfile
import uuid
from pathlib import Path

import pytest

from nodes.allocations import allocations_create
from nodes.health import node_check_health
from nodes.models import Node
from nodes.services import node_update
from servers.install import install_command
from servers.models import Job, Server
from tests.conftest import require_env
from tests.servers.conftest import PORTS, wait_status
from tests.servers.test_lifecycle import create

S = Server.Status
ENGINES = [(1, "unix"), (2, "ssh")]


@pytest.fixture
def scratch():
    """A directory of this test's own on the nodes' host, usable by the nodes' SSH user."""
    path = Path(tempfile.mkdtemp(prefix="hearth-mounts-", dir="/var/lib"))
    login = pwd.getpwnam(require_env("HEARTH_TEST_SSH1_URL").split("//", 1)[1].split("@", 1)[0])
    os.chown(path, login.pw_uid, login.pw_gid)
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def root_only(path: Path) -> Path:
    """A root-only host directory, with a secret in it: what an attacker wants written and chowned."""
    path.mkdir(mode=0o700)
    os.chown(path, 0, 0)
    path.chmod(0o700)
    (path / "secret").write_text("root only\n")
    return path


def snapshot(path: Path) -> dict:
    entries = {}
    for entry in [path, *path.rglob("*")]:
        info = entry.lstat()
        entries[str(entry)] = (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode), info.st_size)
    return entries


def online_node(make_node, engine: int, via: str, **fields) -> Node:
    node = make_node(engine=engine, via=via, **fields)
    assert node_check_health(node=node)["ok"], node.last_health
    allocations_create(node=node, ip="127.0.0.1", ports=PORTS[engine])
    node.refresh_from_db()
    return node


def directory_of(server: Server) -> Path:
    return Path(server.node.data_dir) / "servers" / str(server.pk)


def install_fails(api, server: Server) -> Job:
    assert api.post(f"/api/servers/{server.pk}/install").status_code == 200
    server = wait_status(server, S.INSTALL_FAILED, S.STOPPED)
    assert server.status == S.INSTALL_FAILED, "the install ran through the planted link"
    job = Job.objects.filter(server=server, kind=Job.Kind.INSTALL).latest("created_at")
    assert job.status == Job.Status.FAILED
    assert job.error == server.status_reason
    return job


@pytest.mark.parametrize(("engine", "via"), ENGINES)
def test_a_server_directory_replaced_by_a_link_to_a_root_only_directory_is_never_installed_into(
    client_for, customer, make_node, game_template, transactional_db, scratch, engine, via
):
    node = online_node(make_node, engine, via)
    api = client_for(customer)
    server = create(api, node, game_template)
    victim = root_only(scratch / "victim")
    before = snapshot(victim)
    directory_of(server).symlink_to(victim)
    try:
        job = install_fails(api, server)
    finally:
        directory_of(server).unlink()
    assert f"{directory_of(server)} is a symbolic link" in job.error
    assert "must be real directories (no symlinks)" in job.error
    assert snapshot(victim) == before  # not chowned, nothing written


@pytest.mark.parametrize(("engine", "via"), ENGINES)
def test_a_link_above_the_server_directory_is_refused_and_nothing_is_made_through_it(
    client_for, customer, make_node, game_template, transactional_db, scratch, engine, via
):
    data = scratch / "data"
    data.mkdir()
    shutil.chown(data, scratch.stat().st_uid, scratch.stat().st_gid)
    victim = root_only(scratch / "victim")
    (data / "servers").symlink_to(victim)
    node = online_node(make_node, engine, via, data_dir=str(data))
    before = snapshot(victim)
    server = create(client_for(customer), node, game_template)
    job = install_fails(client_for(customer), server)
    assert f"{data}/servers is a symbolic link" in job.error
    assert snapshot(victim) == before  # mkdir -p would have made <victim>/<uuid>


@pytest.mark.parametrize(("engine", "via"), ENGINES)
def test_a_data_dir_reached_through_a_symlinked_parent_is_refused(
    client_for, customer, make_node, game_template, transactional_db, scratch, engine, via
):
    real = scratch / "real"
    real.mkdir()
    shutil.chown(real, scratch.stat().st_uid, scratch.stat().st_gid)
    (scratch / "link").symlink_to(real)
    node = online_node(make_node, engine, via, data_dir=str(scratch / "link"))
    server = create(client_for(customer), node, game_template)
    job = install_fails(client_for(customer), server)
    assert f"{scratch}/link is a symbolic link" in job.error
    assert list(real.iterdir()) == []


def test_a_directory_above_the_servers_that_anyone_may_write_to_is_refused(
    client_for, customer, make_node, game_template, transactional_db, scratch
):
    data = scratch / "data"
    data.mkdir()
    data.chmod(0o777)  # any local user could replace servers/ with a link between check and mount
    node = online_node(make_node, 2, "ssh", data_dir=str(data))
    server = create(client_for(customer), node, game_template)
    job = install_fails(client_for(customer), server)
    assert f"{data} is writable by every user" in job.error
    assert not (data / "servers").exists()


def test_a_customer_who_opens_up_their_own_directory_can_still_start(
    client_for, customer, game_node, game_template, monitor
):
    api = client_for(customer)
    server = create(api, game_node(1, "unix"), game_template, install=True)
    assert wait_status(server, S.STOPPED, S.INSTALL_FAILED).status == S.STOPPED, server.status_reason
    directory_of(server).chmod(0o777)  # as a sloppy install script's `chmod -R 777 /mnt/server` does
    assert api.post(f"/api/servers/{server.pk}/start").status_code == 200
    assert wait_status(server, S.RUNNING, S.CRASHED).status == S.RUNNING, server.status_reason


@pytest.mark.parametrize(("engine", "via"), ENGINES)
def test_a_start_through_a_link_planted_after_the_install_is_refused(
    client_for, customer, game_node, game_template, monitor, scratch, engine, via
):
    api = client_for(customer)
    server = create(api, game_node(engine, via), game_template, install=True)
    assert wait_status(server, S.STOPPED, S.INSTALL_FAILED).status == S.STOPPED, server.status_reason
    victim = root_only(scratch / "victim")
    before = snapshot(victim)
    installed = directory_of(server).rename(scratch / "installed")
    directory_of(server).symlink_to(victim)
    try:
        assert api.post(f"/api/servers/{server.pk}/start").status_code == 200
        server = wait_status(server, S.CRASHED, S.RUNNING)
    finally:
        directory_of(server).unlink()
        installed.rename(directory_of(server))
    assert server.status == S.CRASHED
    assert f"{directory_of(server)} is a symbolic link" in server.status_reason
    assert snapshot(victim) == before  # no server.properties rewritten into it either


def test_a_normal_install_and_start_still_work_after_the_checks(
    client_for, customer, game_node, game_template, monitor
):
    api = client_for(customer)
    server = create(api, game_node(2, "ssh"), game_template, install=True)
    assert wait_status(server, S.STOPPED, S.INSTALL_FAILED).status == S.STOPPED, server.status_reason
    directory = directory_of(server)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o750
    assert api.post(f"/api/servers/{server.pk}/start").status_code == 200
    wait_status(server, S.RUNNING)


def test_the_install_chown_changes_links_never_what_they_point_to():
    """The wrapper's chown, run in a real container as root: a link to a root file stays a link."""
    import docker

    engine = docker.DockerClient(base_url=require_env("HEARTH_TEST_DOCKER1_URL"))
    script = "mkdir -p /mnt/server && touch /target && ln -s /target /mnt/server/link"
    check = "stat -c %u:%g /target; stat -c %u:%g /mnt/server/link 2>/dev/null || ls -ln /mnt/server"
    try:
        out = engine.containers.run(
            require_env("HEARTH_TEST_IMAGE"),
            [
                "/bin/sh",
                "-c",
                'mkdir -p /mnt/install && printf %s "$SCRIPT" > /mnt/install/install.sh; '
                f"({install_command('sh', '1000:1000')}); {check}",
            ],
            entrypoint=[],
            environment={"SCRIPT": script},
            user="0",
            remove=True,
        ).decode()
    finally:
        engine.close()
    assert out.splitlines()[0] == "0:0"
    assert "chown -R -h 1000:1000 /mnt/server" in install_command("sh", "1000:1000")


# --- Data dirs that overlap server directories -----------------------------------------------------


@pytest.fixture
def staff(client_for, admin):
    return client_for(admin)


def node_body(location, data_dir: str, name: str = "overlap") -> dict:
    return {
        "name": name,
        "locationId": str(location.pk),
        "hostname": "127.0.0.1",
        "publicAddress": "127.0.0.1",
        "maxMemoryMb": 2048,
        "maxCpuCores": 2,
        "dockerUrl": require_env("HEARTH_TEST_DOCKER2_URL"),
        "dataDir": data_dir,
    }


@pytest.mark.parametrize(
    "hostile",
    [
        "/var/lib/hearth-node1/servers/{uuid}",
        "/var/lib/hearth-node1/servers/{uuid}/nested",
        "/srv/elsewhere/servers/{uuid}",
        "/var/lib/hearth-node1/servers",
        "/var/lib/hearth-node1/servers/spare",
    ],
)
def test_the_api_refuses_a_data_dir_inside_a_server_directory_or_another_nodes_servers(
    staff, make_node, location, hostile
):
    make_node(engine=1, via="unix", data_dir="/var/lib/hearth-node1")
    data_dir = hostile.format(uuid=uuid.uuid4())
    response = staff.post("/api/nodes", node_body(location, data_dir), format="json")
    assert response.status_code == 400, response.content
    message = " ".join(response.json()["fields"]["dataDir"])
    assert "server's directory" in message or "servers directory" in message
    assert not Node.objects.filter(name="overlap").exists()


def test_a_data_dir_that_would_hold_another_nodes_data_dir_in_its_servers_is_refused(
    staff, make_node, location
):
    make_node(engine=1, via="unix", data_dir="/var/lib/hearth-node1/servers/legacy-dir")
    response = staff.post("/api/nodes", node_body(location, "/var/lib/hearth-node1"), format="json")
    assert response.status_code == 400, response.content
    assert "would lie inside its servers directory" in " ".join(response.json()["fields"]["dataDir"])


def test_nodes_on_different_hosts_may_share_the_default_data_dir(staff, make_node, location):
    make_node(engine=1, via="unix", data_dir="/var/lib/hearth-node2")
    response = staff.post("/api/nodes", node_body(location, "/var/lib/hearth-node2"), format="json")
    assert response.status_code == 201, response.content


def test_an_edit_through_the_api_or_the_service_cannot_move_a_data_dir_into_a_server_directory(
    staff, make_node
):
    first = make_node(engine=1, via="unix", data_dir="/var/lib/hearth-node1")
    second = make_node(engine=2, via="unix", data_dir="/var/lib/hearth-node2")
    inside = f"{first.data_dir}/servers/{uuid.uuid4()}"
    response = staff.patch(f"/api/nodes/{second.pk}", {"dataDir": inside}, format="json")
    assert response.status_code == 400, response.content
    from config.errors import InvalidInput

    with pytest.raises(InvalidInput, match="servers directory"):
        node_update(node=second, data_dir=f"{first.data_dir}/servers")
    second.refresh_from_db()
    assert second.data_dir == "/var/lib/hearth-node2"


def test_the_admin_refuses_a_data_dir_inside_a_server_directory(signed_in, admin, make_node, location):
    from tests.nodes.test_admin import messages_of, node_form

    make_node(engine=1, via="unix", data_dir="/var/lib/hearth-node1")
    inside = f"/var/lib/hearth-node1/servers/{uuid.uuid4()}"
    response = signed_in(admin).post(
        "/admin/nodes/node/add/",
        node_form(location, docker_url=require_env("HEARTH_TEST_DOCKER2_URL"), data_dir=inside),
        follow=True,
    )
    assert any(level == "error" and "server's directory" in text for level, text in messages_of(response))
    assert not Node.objects.filter(name="edge-1").exists()
