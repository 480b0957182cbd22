"""servers.jobs: one claim per job whatever the deliveries, progress and log on the row, one way to queue."""

import threading

import pytest
from django.db import connection, transaction

from config.tasks import queue
from servers import jobs
from servers.lifecycle.delete import server_delete_execute
from servers.lifecycle.install import server_install_execute
from servers.lifecycle.power import server_power_execute, server_start, server_start_after_crash
from servers.lifecycle.suspension import server_suspend
from servers.models import Job, Server
from servers.selectors import console_history
from tests.servers.test_refusals import a_server, make_node, template  # noqa: F401 - fixtures

S = Server.Status


@pytest.fixture
def server(customer, make_node, template):  # noqa: F811
    return a_server(customer, make_node(), template)


@pytest.fixture
def job(server):
    return jobs.job_create(server=server, kind=Job.Kind.INSTALL)


class Recorder:
    """Stands in for a Celery task: records what would be sent to the broker."""

    def __init__(self):
        self.sent = []

    def delay(self, *args, **kwargs):
        self.sent.append((args, kwargs))


@pytest.mark.django_db
class TestClaim:
    def test_the_first_delivery_claims_a_pending_job(self, job):
        assert jobs.job_claim(job.pk)
        job.refresh_from_db()
        assert job.status == Job.Status.RUNNING and job.started_at is not None

    def test_a_second_delivery_finds_it_taken(self, job):
        assert jobs.job_claim(job.pk)
        assert not jobs.job_claim(job.pk)

    def test_a_finished_job_is_never_claimed_again(self, job):
        jobs.job_claim(job.pk)
        jobs.job_succeeded(job.pk)
        assert not jobs.job_claim(job.pk)

    def test_an_owner_token_is_recorded_with_a_heartbeat(self, job):
        assert jobs.job_claim(job.pk, owner="worker:1")
        job.refresh_from_db()
        assert job.lease_owner == "worker:1" and job.heartbeat_at is not None


@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_claim_once(job):
    barrier = threading.Barrier(8)
    won = []

    def deliver():
        try:
            barrier.wait()
            won.append(jobs.job_claim(job.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(won) == [False] * 7 + [True]


@pytest.mark.django_db
class TestProgress:
    def test_progress_and_step_are_recorded(self, job):
        jobs.job_claim(job.pk)
        assert jobs.job_progress(job.pk, 30, step="script")
        job.refresh_from_db()
        assert job.progress == 30 and job.detail["step"] == "script"

    def test_progress_of_a_job_not_running_is_refused(self, job):
        assert not jobs.job_progress(job.pk, 30)  # still pending
        jobs.job_claim(job.pk)
        jobs.job_failed(job.pk, "gone")
        assert not jobs.job_progress(job.pk, 50, step="late")
        job.refresh_from_db()
        assert job.progress == 100 and "step" not in job.detail

    def test_only_the_owner_may_report(self, job):
        jobs.job_claim(job.pk, owner="worker:1")
        assert jobs.job_progress(job.pk, 10, owner="worker:1")
        assert not jobs.job_progress(job.pk, 90, owner="reaper:2")
        job.refresh_from_db()
        assert job.progress == 10

    def test_the_log_is_appended_and_bounded(self, job):
        jobs.job_log(job.pk, ["one", "two"])
        jobs.job_log(job.pk, [f"line {i}" for i in range(jobs.LOG_LINES)])
        job.refresh_from_db()
        lines = job.log.splitlines()
        assert len(lines) == jobs.LOG_LINES and lines[-1] == f"line {jobs.LOG_LINES - 1}"
        assert "one" not in lines

    def test_finishing_records_the_outcome(self, job):
        jobs.job_claim(job.pk)
        jobs.job_failed(job.pk, "The node refused.")
        job.refresh_from_db()
        assert (job.status, job.error, job.finished_at is not None) == ("failed", "The node refused.", True)


@pytest.mark.django_db
class TestQueue:
    def test_a_task_waits_for_the_commit(self, django_capture_on_commit_callbacks):
        task = Recorder()
        with django_capture_on_commit_callbacks(execute=True):
            queue(task, 7, "start", timeout=5)
            assert task.sent == []
        assert task.sent == [(("7", "start"), {"timeout": 5})]

    def test_a_rolled_back_request_queues_nothing(self, django_capture_on_commit_callbacks):
        task = Recorder()
        with (
            django_capture_on_commit_callbacks(execute=True),
            pytest.raises(RuntimeError),
            transaction.atomic(),
        ):
            queue(task, 1)
            raise RuntimeError
        assert task.sent == []


@pytest.mark.django_db
class TestSecondDelivery:
    """A task delivered again after the first delivery claimed its job changes nothing."""

    def test_install(self, server, job):
        Server.objects.filter(pk=server.pk).update(status=S.INSTALLING)
        jobs.job_claim(job.pk)  # the first delivery is at work
        server_install_execute(server_id=server.pk, job_id=job.pk)
        server.refresh_from_db()
        job.refresh_from_db()
        assert server.status == S.INSTALLING and job.status == Job.Status.RUNNING and job.progress == 0

    def test_delete(self, server):
        Server.objects.filter(pk=server.pk).update(status=S.STOPPING)
        job = jobs.job_create(server=server, kind=Job.Kind.DELETE)
        jobs.job_claim(job.pk)
        server_delete_execute(server_id=server.pk, job_id=job.pk)
        assert Server.objects.filter(pk=server.pk, status=S.STOPPING).exists()
        job.refresh_from_db()
        assert job.status == Job.Status.RUNNING

    def test_power(self, server):
        """The node is not even reachable: a delivery that acted on it would fail the job."""
        Server.objects.filter(pk=server.pk).update(status=S.STARTING)
        job = jobs.job_create(server=server, kind=Job.Kind.POWER, detail={"action": "start"})
        jobs.job_claim(job.pk)
        server_power_execute(server_id=server.pk, action="start", job_id=job.pk)
        server.refresh_from_db()
        job.refresh_from_db()
        assert server.status == S.STARTING and job.status == Job.Status.RUNNING
        assert console_history(server.pk) == []


def power_jobs(server):
    return list(Job.objects.filter(server=server, kind=Job.Kind.POWER))


@pytest.mark.django_db
class TestPowerJobs:
    """Power actions go through servers.jobs like install and delete."""

    def test_a_start_request_creates_one_pending_power_job_and_queues_its_id(
        self, server, customer, django_capture_on_commit_callbacks, monkeypatch
    ):
        from servers.tasks import server_power_task

        task = Recorder()
        monkeypatch.setattr(server_power_task, "delay", task.delay)
        with django_capture_on_commit_callbacks(execute=True):
            job = server_start(server=server, actor=customer)
        assert power_jobs(server) == [job]
        assert (job.status, job.actor, job.detail) == (Job.Status.PENDING, customer, {"action": "start"})
        assert task.sent == [((str(server.pk), "start"), {"job_id": str(job.pk)})]

    def test_the_restart_policys_start_and_a_suspensions_kill_have_jobs(self, server, admin):
        Server.objects.filter(pk=server.pk).update(status=S.CRASHED)
        with transaction.atomic():
            server_start_after_crash(server_id=server.pk)
        (start,) = power_jobs(server)
        assert (start.detail, start.actor) == ({"action": "start"}, None)

        Server.objects.filter(pk=server.pk).update(status=S.RUNNING)
        server.refresh_from_db()
        server_suspend(server=server, actor=admin)
        kill = Job.objects.filter(server=server, kind=Job.Kind.POWER).exclude(pk=start.pk).get()
        assert (kill.detail, kill.actor) == ({"action": "kill"}, admin)

    def test_a_failed_start_fails_its_job_with_the_reason(self, server):
        """This node is not reachable: the start fails, the server ends crashed and the job failed."""
        Server.objects.filter(pk=server.pk).update(status=S.STARTING)
        job = jobs.job_create(server=server, kind=Job.Kind.POWER, detail={"action": "start"})
        server_power_execute(server_id=server.pk, action="start", job_id=job.pk)
        server.refresh_from_db()
        job.refresh_from_db()
        assert server.status == S.CRASHED and server.status_reason
        assert (job.status, job.error, job.finished_at is not None) == (
            Job.Status.FAILED,
            server.status_reason,
            True,
        )
        history = "".join(entry["data"] for entry in console_history(server.pk))
        assert f"Could not start the server: {job.error}" in history

    def test_an_overtaken_power_job_succeeds_saying_there_was_nothing_to_do(self, server):
        """A stop queued, then a start won before the worker took the stop: the node is never asked."""
        Server.objects.filter(pk=server.pk).update(status=S.STARTING)
        job = jobs.job_create(server=server, kind=Job.Kind.POWER, detail={"action": "stop"})
        server_power_execute(server_id=server.pk, action="stop", job_id=job.pk)
        server.refresh_from_db()
        job.refresh_from_db()
        assert server.status == S.STARTING and console_history(server.pk) == []
        assert job.status == Job.Status.SUCCEEDED and job.error == ""
        assert job.log == "Nothing to do: the server is now starting."

    def test_a_power_job_whose_server_was_deleted_fails(self, server):
        job = jobs.job_create(server=server, kind=Job.Kind.POWER, detail={"action": "start"})
        server_id = server.pk
        server.delete()
        server_power_execute(server_id=server_id, action="start", job_id=job.pk)
        job.refresh_from_db()
        assert (job.status, job.error) == (Job.Status.FAILED, "The server was deleted.")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("action", "status"), [("stop", S.STOPPED), ("start", S.RUNNING), ("restart", S.RUNNING)]
)
def test_a_power_task_delivered_after_its_work_is_done_does_nothing(server, action, status):
    """The node is never asked (this node is not even reachable), no state or console line changes."""
    Server.objects.filter(pk=server.pk).update(status=status)
    server_power_execute(server_id=server.pk, action=action)
    server.refresh_from_db()
    assert server.status == status and server.status_reason == ""
    assert console_history(server.pk) == []
