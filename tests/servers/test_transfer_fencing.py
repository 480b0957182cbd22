"""A transfer never loses both copies: the reaper run at every step of a real transfer between the two
engines over SSH, a target whose copy is wrong, a sparse file, and a task delivered after its job was
reaped. Real engines, sshd, tar and PostgreSQL; the reaper runs in its own thread and connection."""

import os
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from nodes.models import Allocation
from servers import transfer
from servers.models import Job, Server
from servers.transfer import step_reached, transfers_reap
from tests.servers.test_transfer import checksums, give_to_owner, installed  # noqa: F401 - shared fixture

S = Server.Status
STEPS = ["claimed", "prepared", "streaming", "streamed", "verified", "installing", "switched", "finishing"]
REAPED_REASON = "The worker stopped responding during the transfer."


def in_own_thread(work, timeout: float = 90):
    """Run `work` as another process would: its own thread and database connection."""
    result = {}

    def run():
        try:
            result["value"] = work()
        except BaseException as exc:
            result["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), "the reaper hung (it must skip a job whose owner holds its lock)"
    if "error" in result:
        raise result["error"]
    return result["value"]


class AtStep:
    """Run `action(job_id)` once, the first time the transfer reaches `step`."""

    def __init__(self, step: str, action):
        self.step, self.action, self.results = step, action, []

    def __call__(self, sender, job_id, step, **kwargs):
        if step == self.step and not self.results:
            self.results.append(self.action(job_id))

    def __enter__(self):
        step_reached.connect(self, weak=False)
        return self

    def __exit__(self, *exc):
        step_reached.disconnect(self)


def reap_as_if_an_hour_later(job_id):
    return in_own_thread(lambda: transfers_reap(now=timezone.now() + timedelta(hours=1)))


def start_transfer(client_for, admin, server, target):
    response = client_for(admin).post(
        f"/api/servers/{server.pk}/transfer", {"targetNodeId": str(target.pk)}, format="json"
    )
    assert response.status_code == 200, response.content
    return Job.objects.get(server=server, kind="transfer")


def taking_root(data_dir: str, server: Server) -> list[Path]:
    """What a transfer of `server` has on a node besides its live copy: its staging directories."""
    return sorted((Path(data_dir) / "transfers").glob(f"{server.pk}-*"))


def processes_inside(path: Path) -> list[int]:
    """Processes (a tar, say) whose working directory is at or under `path`."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if os.readlink(proc / "cwd").startswith(str(path)):
                    found.append(int(proc.name))
            except OSError:
                continue
    return found


def assert_one_good_copy(server, source, target, before, job):
    """Wherever the server ended, its copy there is whole, the other node has nothing of it, and the
    job's outcome says which."""
    server.refresh_from_db()
    job.refresh_from_db()
    assert server.status == S.STOPPED, server.status_reason
    source_root = Path(source.data_dir) / "servers" / str(server.pk)
    target_root = Path(target.data_dir) / "servers" / str(server.pk)
    if server.node_id == target.pk:
        assert job.status == "succeeded", job.error
        assert checksums(target_root) == before
        assert not source_root.exists()
    else:
        assert server.node_id == source.pk
        assert job.status == "failed"
        assert checksums(source_root) == before
        assert not target_root.exists()
        assert server.status_reason == f"Transfer failed: {job.error}"
    nodes = set(Allocation.objects.filter(server=server).values_list("node_id", flat=True))
    assert nodes == {server.node_id}
    assert not Allocation.objects.filter(notes__contains=str(server.pk)).exists()
    staging = Path(target.data_dir) / "transfers"
    assert taking_root(target.data_dir, server) == []
    assert processes_inside(staging / str(server.pk)) == []


@pytest.mark.parametrize("step", STEPS)
def test_the_reaper_at_any_step_leaves_exactly_one_good_copy(client_for, admin, installed, step):  # noqa: F811
    server, source, target, root = installed()
    before = checksums(root)
    with AtStep(step, reap_as_if_an_hour_later) as hook:
        job = start_transfer(client_for, admin, server, target)
    assert hook.results, f"the transfer never reached {step}"
    (reaped,) = hook.results
    job.refresh_from_db()
    server.refresh_from_db()
    if step in ("installing", "finishing"):
        # The worker holds the job's lock in these steps: the reaper skips it and the worker finishes.
        assert reaped == 0
        assert job.status == "succeeded" and server.node_id == target.pk
        assert job.lease_owner.startswith("worker:")
    elif step == "switched":
        # The copy was verified before the switch: the reaper finishes the job, the worker stops.
        assert reaped == 1
        assert job.status == "succeeded" and server.node_id == target.pk
        assert job.lease_owner.startswith("reaper:")
    else:
        # Before the switch the reaper fails the job; the worker, having lost it, touches nothing more
        # (its own error, e.g. the killed tar, is not recorded over the reaper's).
        assert reaped == 1
        assert (job.status, job.error, server.node_id) == ("failed", REAPED_REASON, source.pk)
    time.sleep(1)  # a tar that outlived the job would still be writing now
    assert_one_good_copy(server, source, target, before, job)

    # Whatever happened, the server works where it is now and can move again.
    api = client_for(admin)
    api.post(f"/api/servers/{server.pk}/start")
    from tests.servers.conftest import wait_status

    wait_status(server, S.RUNNING)


def test_a_fresh_heartbeat_keeps_the_reaper_away(client_for, admin, installed):  # noqa: F811
    server, source, target, root = installed()
    before = checksums(root)
    with AtStep("streaming", lambda job_id: in_own_thread(transfers_reap)) as hook:
        job = start_transfer(client_for, admin, server, target)
    assert hook.results == [0]
    assert_one_good_copy(server, source, target, before, job)
    assert server.node_id == target.pk


def corrupt(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one byte changed: what a size check cannot see
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("damage", "phrase"),
    [
        (
            lambda staging: corrupt(staging / "world" / "region" / "r.0.0.mca"),
            "different: world/region/r.0.0.mca",
        ),
        (lambda staging: (staging / "install.txt").unlink(), "missing: install.txt"),
        (lambda staging: (staging / "planted.jar").write_text("x"), "unexpected: planted.jar"),
        (lambda staging: (staging / "link-to-etc").unlink(), "missing: link-to-etc"),
    ],
    ids=["changed", "missing", "extra", "symlink-dropped"],
)
def test_a_target_copy_that_differs_from_what_was_sent_fails_the_transfer(
    client_for,
    admin,
    installed,  # noqa: F811
    damage,
    phrase,
):
    server, source, target, root = installed()
    before = checksums(root)

    def damage_the_copy(job_id):
        (staging,) = taking_root(target.data_dir, server)
        damage(staging / "tree")

    with AtStep("streamed", damage_the_copy):
        job = start_transfer(client_for, admin, server, target)
    job.refresh_from_db()
    assert job.status == "failed"
    assert f"does not match what was sent ({phrase}" in job.error
    assert_one_good_copy(server, source, target, before, job)


def test_a_sparse_file_over_the_disk_limit_fails_cleanly_without_streaming_it(
    client_for,
    admin,
    installed,  # noqa: F811
):
    server, source, target, root = installed()
    before = checksums(root)
    sparse = root / "world" / "sparse.dat"
    with open(sparse, "wb") as handle:
        handle.truncate(4 * 1024 * 1024 * 1024)  # 4 GB apparent, no blocks: du sees nothing
    give_to_owner(root)
    assert sparse.stat().st_blocks == 0 and server.allocated_disk_mb == 512
    started = time.monotonic()
    job = start_transfer(client_for, admin, server, target)
    took = time.monotonic() - started
    job.refresh_from_db()
    server.refresh_from_db()
    assert job.status == "failed"
    assert "exceed its disk limit of 512 MB (sparse files count at their full size" in job.error
    assert took < 30, f"the transfer took {took:.0f} s: it streamed the sparse file"
    assert server.node_id == source.pk and server.status == S.STOPPED
    assert sparse.stat().st_size == 4 * 1024 * 1024 * 1024 and sparse.stat().st_blocks == 0
    sparse.unlink()
    assert_one_good_copy(server, source, target, before, job)


def test_a_task_delivered_after_its_job_was_reaped_does_nothing(client_for, admin, installed):  # noqa: F811
    server, source, target, root = installed()
    before = checksums(root)
    from config.celery import app

    # The task goes to the real broker, where no worker takes it: the job stays pending, as when a
    # queue loses its message, until the reaper comes.
    app.conf.task_always_eager = False
    try:
        job = start_transfer(client_for, admin, server, target)
    finally:
        app.conf.task_always_eager = True
        app.control.purge()
    assert job.status == "pending"
    assert transfers_reap() == 0  # not quiet long enough yet
    assert transfers_reap(now=timezone.now() + timedelta(hours=1)) == 1
    transfer.server_transfer_execute(server_id=str(server.pk), job_id=str(job.pk))  # the late delivery
    job.refresh_from_db()
    assert (job.status, job.error) == ("failed", REAPED_REASON)
    assert job.lease_owner.startswith("reaper:")
    assert_one_good_copy(server, source, target, before, job)


def test_a_source_that_cannot_archive_its_files_fails_with_the_reason(client_for, admin, installed):  # noqa: F811
    server, source, target, root = installed()
    secret = root / "secret.dat"
    secret.write_text("root only")
    secret.chmod(0o000)  # root's, unreadable by the node's SSH user
    before = checksums(root)
    job = start_transfer(client_for, admin, server, target)
    job.refresh_from_db()
    assert job.error == (
        f"archiving the files on {source.name} failed: tar: ./secret.dat: Cannot open: Permission denied"
    )
    secret.unlink()
    del before["secret.dat"]
    assert_one_good_copy(server, source, target, before, job)


def test_two_reapers_at_once_take_the_job_over_once(client_for, admin, installed):  # noqa: F811
    server, source, target, root = installed()
    before = checksums(root)
    gate = threading.Barrier(2)
    later = timezone.now() + timedelta(hours=1)

    def reaper():
        gate.wait(10)
        return transfers_reap(now=later)

    def two_reapers(job_id):
        counts = []
        threads = [threading.Thread(target=lambda: counts.append(in_own_thread(reaper))) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(90)
        return sorted(counts)

    with AtStep("streamed", two_reapers) as hook:
        job = start_transfer(client_for, admin, server, target)
    assert hook.results == [[0, 1]]
    assert_one_good_copy(server, source, target, before, job)
    assert job.error == REAPED_REASON
