"""Transfers between the two real engines, over SSH, including a target that dies midway."""

import hashlib
import os
import threading
import time
from pathlib import Path

import pytest

from nodes.models import Allocation, Node
from servers.models import Job, Server
from tests.nodes.conftest import testenv
from tests.servers.conftest import wait_status
from tests.servers.test_lifecycle import create

S = Server.Status


def checksums(root: Path) -> dict[str, str]:
    result = {}
    for path in sorted(root.rglob("*")):
        if path.is_symlink():
            result[str(path.relative_to(root))] = f"-> {os.readlink(path)}"
        elif path.is_file():
            result[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return result


@pytest.fixture
def installed(client_for, customer, game_node, game_template, monitor):
    def make(via: str = "ssh"):
        source, target = game_node(1, via), game_node(2, via)
        api = client_for(customer)
        server = create(api, source, game_template, install=True)
        wait_status(server, S.STOPPED)
        api.post(f"/api/servers/{server.pk}/start")
        wait_status(server, S.RUNNING)  # the game writes its world
        api.post(f"/api/servers/{server.pk}/stop")
        wait_status(server, S.STOPPED)
        root = Path(source.data_dir) / "servers" / str(server.pk)
        (root / "world" / "region").mkdir(parents=True, exist_ok=True)
        (root / "world" / "region" / "r.0.0.mca").write_bytes(os.urandom(3 * 1024 * 1024))
        (root / "link-to-etc").symlink_to("/etc")
        give_to_owner(root)
        return server, source, target, root

    return make


def _local_backup(server: Server):
    from backups import storage
    from backups.models import Backup

    server = Server.objects.select_related("node", "template").get(pk=server.pk)
    backup = Backup.objects.create(server=server, name="before the move")
    storage.store(backup, server, progress=lambda *_: None)
    backup.status = Backup.Status.COMPLETED
    backup.save()
    return backup


def give_to_owner(root: Path) -> None:
    """Files the test wrote as root belong, like the game's own, to the node user."""
    owner = root.stat()
    for path in [root, *root.rglob("*")]:
        os.lchown(path, owner.st_uid, owner.st_gid)


@pytest.mark.parametrize("via", ["ssh", "unix"])
def test_a_transfer_moves_every_file_intact(client_for, admin, installed, via):
    server, source, target, root = installed(via)
    before = checksums(root)
    backup = _local_backup(server) if via == "ssh" else None
    response = client_for(admin).post(
        f"/api/servers/{server.pk}/transfer", {"targetNodeId": str(target.pk)}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["server"] == {
        "id": str(server.pk),
        "name": server.name,
        "previousNode": source.name,
        "currentNode": target.name,
    }
    server = wait_status(server, S.STOPPED)
    assert server.node_id == target.pk, server.status_reason
    moved = Path(target.data_dir) / "servers" / str(server.pk)
    assert checksums(moved) == before
    assert not root.exists()
    assert set(Allocation.objects.filter(server=server).values_list("node_id", flat=True)) == {target.pk}
    assert Job.objects.get(kind="transfer").status == "succeeded"
    if backup is not None:  # its local backups came along (once committed), checked against their sha256
        from backups.models import Backup
        from tests.polling import wait_for

        wait_for(lambda: Backup.objects.filter(pk=backup.pk, node=target).exists(), 30, "the backup to move")
        backup.refresh_from_db()
        archive = Path(target.data_dir) / "backups" / str(server.pk) / backup.location
        assert f"sha256:{hashlib.sha256(archive.read_bytes()).hexdigest()}" == backup.checksum
        assert not (Path(source.data_dir) / "backups" / str(server.pk) / backup.location).exists()

    api = client_for(admin)
    api.post(f"/api/servers/{server.pk}/start")
    wait_status(server, S.RUNNING)


@pytest.mark.stops_services  # stops sshd 2: run alone, after the rest (scripts/run-tests.sh)
def test_a_target_lost_midway_leaves_the_source_intact(client_for, admin, installed):
    server, source, target, root = installed()
    (root / "big.bin").write_bytes(os.urandom(150 * 1024 * 1024))
    give_to_owner(root)
    before = checksums(root)
    killer = threading.Thread(target=_stop_sshd2_when_streaming, args=(server,), daemon=True)
    killer.start()
    try:
        response = client_for(admin).post(
            f"/api/servers/{server.pk}/transfer", {"targetNodeId": str(target.pk)}, format="json"
        )
        assert response.status_code == 200
        killer.join(60)
        server = wait_status(server, S.STOPPED, timeout=60)
    finally:
        testenv("start-sshd", "2")
    assert server.node_id == source.pk
    assert server.status_reason.startswith("Transfer failed:")
    assert checksums(root) == before
    assert Job.objects.get(kind="transfer").status == "failed"
    assert not Allocation.objects.filter(node=target, server__isnull=False).exists()


def _stop_sshd2_when_streaming(server):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = Job.objects.filter(server_id=server.pk, kind="transfer").first()
        if job and job.progress >= 5:
            testenv("stop-sshd", "2")
            return
        time.sleep(0.02)


@pytest.mark.django_db
class TestRefusals:
    @pytest.fixture
    def server(self, customer, admin, game_template, make_node):
        from nodes.allocations import allocations_create

        source, target = make_node(engine=1, via="unix"), make_node(engine=2, via="unix")
        for node in (source, target):
            node.is_online = True
            node.save()
            allocations_create(node=node, ip="127.0.0.1", ports="32000-32002")
        from servers.lifecycle.create import server_create

        return server_create(
            actor=admin,
            owner=customer,
            template=game_template,
            name="t",
            node=source,
            allocated_memory_mb=128,
            allocated_cpu_cores=1,
            allocated_disk_mb=128,
        ), target

    def test_contract_checks(self, client_for, admin, server):
        server, target = server
        api = client_for(admin)
        same = api.post(
            f"/api/servers/{server.pk}/transfer", {"targetNodeId": str(server.node_id)}, format="json"
        )
        assert (
            same.status_code == 400
            and same.json()["message"] == "targetNodeId: Server already on target node."
        )
        Server.objects.filter(pk=server.pk).update(status=S.RUNNING)
        running = api.post(
            f"/api/servers/{server.pk}/transfer", {"targetNodeId": str(target.pk)}, format="json"
        )
        assert running.json()["message"] == "status: Server must be stopped."
        Server.objects.filter(pk=server.pk).update(status=S.STOPPED)
        target.is_online = False
        target.save()
        offline = api.post(
            f"/api/servers/{server.pk}/transfer", {"targetNodeId": str(target.pk)}, format="json"
        )
        assert "offline" in offline.json()["message"]

    def test_owners_cannot_transfer(self, client_for, customer, server):
        server, target = server
        response = client_for(customer).post(
            f"/api/servers/{server.pk}/transfer", {"targetNodeId": str(target.pk)}, format="json"
        )
        assert response.status_code == 403


def test_two_nodes_sharing_one_directory_never_transfer_over_it(client_for, admin, installed):
    """Engines 1 and 2 run on one machine: with one data dir, the copy and the source are one directory."""
    server, source, target, root = installed("unix")
    Node.objects.filter(pk=target.pk).update(data_dir=source.data_dir)
    before = checksums(root)
    response = client_for(admin).post(
        f"/api/servers/{server.pk}/transfer", {"targetNodeId": str(target.pk)}, format="json"
    )
    assert response.status_code == 200, response.content
    server = wait_status(server, S.STOPPED)
    job = Job.objects.get(kind="transfer")
    assert job.status == "failed" and "share the directory" in job.error, job.error
    assert server.node_id == source.pk
    assert checksums(root) == before
    assert not list((Path(source.data_dir) / "transfers").glob(f"{server.pk}-*"))
