"""Crash and node-offline alerts from the monitor's and the health checker's decisions (rows only: the
crash handler and the state machine are called as the monitor calls them)."""

from datetime import timedelta

from django.utils import timezone

from alerts import events, services
from alerts.models import Alert, AlertRule
from nodes.health import store_report
from nodes.models import NodeMetric
from servers.crash import server_exited
from servers.models import Server
from servers.states import set_status
from tests.alerts import test_evaluation as base

S = Server.Status
alert_node, make_server = base.alert_node, base.make_server  # fixtures


def crash(server, code=1, oom=False):
    return server_exited(server_id=server.pk, exit_code=code, oom=oom)


def ok_report(node) -> dict:
    return {
        "checked_at": timezone.now().isoformat(),
        "ok": True,
        "engine_id": f"test-engine-{node.pk}",
        "cpu_percent": 12.5,
        "memory_total_mb": 4000,
        "memory_used_mb": 1000,
        "disk_total_mb": 10000,
        "disk_used_mb": 9000,
    }


def failed_report() -> dict:
    return {
        "checked_at": timezone.now().isoformat(),
        "ok": False,
        "error": "Node 'n' is unreachable: refused",
    }


def test_a_crash_opens_an_alert_with_exit_code_oom_reason_and_crash_count(make_server):
    server = make_server(name="lobby", restart_policy="never")
    assert crash(server, code=137, oom=True) == S.CRASHED
    alert = Alert.objects.get()
    assert (alert.type, alert.severity, alert.server, alert.node) == (
        "server_crashed",
        "critical",
        server,
        server.node,
    )
    assert alert.fingerprint == f"server_crashed:server:{server.pk}"
    assert alert.title == "lobby crashed"
    assert alert.message == (
        "lobby crashed (exit code 137, out of memory). Restart policy is 'never': not restarting."
    )
    assert alert.metadata == {
        "exitCode": 137,
        "oom": True,
        "reason": "Exited with code 137 (out of memory)",
        "crashCount": 1,
        "restarting": False,
    }


def test_a_stop_or_kill_someone_asked_for_is_no_crash(make_server):
    server = make_server(status=S.STOPPING)  # stop and kill both go through stopping
    assert crash(server, code=143) == S.STOPPED
    assert not Alert.objects.exists()


def test_a_crash_loop_is_one_alert_counting_up(make_server):
    server = make_server(restart_policy="always", max_crash_count=10)
    assert crash(server) == S.STARTING  # restarting
    assert Alert.objects.count() == 1
    set_status(server.pk, S.RUNNING, expect={S.STARTING})  # the monitor saw the ready line
    alert = Alert.objects.get()
    assert alert.resolved and alert.resolution == "The server is running again."
    assert crash(server, code=2) == S.CRASHED  # again within the crash window: not restarting
    set_status(server.pk, S.RUNNING, expect={S.CRASHED})  # started by hand, crashed once more
    crash(server, code=3)
    alert = Alert.objects.get()  # still one: reopened, nothing new sent
    assert not alert.resolved and alert.resolved_at is None and alert.resolution == ""
    assert alert.occurrences == 3
    assert alert.metadata["exitCode"] == 3 and alert.metadata["crashCount"] == 3
    assert "exit code 3" in alert.message


def test_the_loop_alert_returns_nothing_new_to_send(make_server):
    server = make_server(restart_policy="never")
    server.refresh_from_db()
    assert events.server_crashed(server, exit_code=1, oom=False, crash_count=1, restarting=False)
    Server.objects.filter(pk=server.pk).update(status=S.STARTING)
    set_status(server.pk, S.RUNNING)
    assert events.server_crashed(server, exit_code=1, oom=False, crash_count=2, restarting=False) is None
    assert Alert.objects.count() == 1


def test_a_crash_after_the_dedupe_window_is_a_new_alert(make_server):
    server = make_server(restart_policy="never")
    crash(server)
    set_status(server.pk, S.RUNNING, expect={S.CRASHED})
    long_ago = timezone.now() - timedelta(seconds=301)
    Alert.objects.update(created_at=long_ago, resolved_at=long_ago)
    crash(server)
    assert Alert.objects.count() == 2
    assert Alert.objects.filter(resolved=False).get().occurrences == 1


def test_a_crash_alert_a_person_resolved_is_not_reopened(make_server, admin):
    server = make_server(restart_policy="never")
    crash(server)
    services.resolve(Alert.objects.all(), by=admin, resolution="Known, fixing it.")
    set_status(server.pk, S.RUNNING, expect={S.CRASHED})
    crash(server)
    alert = Alert.objects.get()  # within the dedupe window: counted, still resolved as the person left it
    assert alert.resolved and alert.resolution == "Known, fixing it." and alert.occurrences == 2


def test_running_again_resolves_unless_the_rule_says_no(make_server):
    kept, resolving = make_server(name="kept", restart_policy="never"), make_server(name="other")
    AlertRule.objects.create(
        name="Crashes of kept", type="server_crashed", target="server", target_id=kept.pk, auto_resolve=False
    )
    crash(kept)
    Server.objects.filter(pk=resolving.pk).update(restart_policy="never")
    crash(resolving)
    for server in (kept, resolving):  # the reconcile found both containers running
        set_status(server.pk, S.RUNNING, expect={S.STOPPED, S.CRASHED})
    assert Alert.objects.get(server=kept).resolved is False
    assert Alert.objects.get(server=resolving).resolved is True


def test_a_node_going_offline_and_online_again(alert_node):
    node = alert_node()
    store_report(node, failed_report(), failures_to_offline=2)
    assert not Alert.objects.exists()
    store_report(node, failed_report(), failures_to_offline=2)
    alert = Alert.objects.get()
    assert (alert.type, alert.node, alert.title) == ("node_offline", node, f"Node {node.name} is offline")
    assert alert.metadata == {"reason": "Node 'n' is unreachable: refused", "consecutiveFailures": 2}
    assert not NodeMetric.objects.exists()  # failed checks measure nothing
    store_report(node, ok_report(node), failures_to_offline=2)
    alert.refresh_from_db()
    assert alert.resolved and alert.resolution == "The node is online again."
    assert NodeMetric.objects.filter(node=node).count() == 1


def test_a_node_rule_without_auto_resolve_keeps_the_offline_alert(alert_node):
    node = alert_node()
    AlertRule.objects.create(name="Offline", type="node_offline", target="node", auto_resolve=False)
    store_report(node, failed_report(), failures_to_offline=1)
    store_report(node, ok_report(node), failures_to_offline=1)
    assert Alert.objects.get(node=node).resolved is False


def test_a_crash_that_is_not_restarted_after_one_that_was_is_sent_again(make_server):
    """The owner's last message said "Restarting."; now the server stays down: they are told, once."""
    server = make_server(name="lobby", restart_policy="always", max_crash_count=10)
    server.notifications.create(kind="email", email="owner@example.com")
    assert crash(server) == S.STARTING  # sent: "… Restarting."
    alert = Alert.objects.get()
    assert alert.deliveries.count() == 1
    Server.objects.filter(pk=server.pk).update(status=S.RUNNING)  # running, not yet resolved by it
    assert crash(server, code=2) == S.CRASHED  # again within the crash window: it stays down
    alert.refresh_from_db()
    assert not alert.resolved and alert.occurrences == 2
    assert alert.title == "lobby crashed and was not restarted"
    assert alert.metadata["restarting"] is False and "not restarting" in alert.message
    assert alert.deliveries.count() == 2
    set_status(server.pk, S.RUNNING, expect={S.CRASHED})  # started by hand: resolved by running again
    crash(server, code=3)  # reopened, a plain repeat of a server that stays down: nothing sent
    alert.refresh_from_db()
    assert not alert.resolved and alert.occurrences == 3 and alert.deliveries.count() == 2


def test_a_reopened_loop_alert_that_now_stays_down_is_sent_again(make_server):
    server = make_server(restart_policy="always", max_crash_count=10)
    server.notifications.create(kind="email", email="owner@example.com")
    crash(server)
    set_status(server.pk, S.RUNNING, expect={S.STARTING})  # resolved: running again
    crash(server, code=2)  # within the crash window: not restarting; reopens the loop's alert
    alert = Alert.objects.get()
    assert not alert.resolved and alert.deliveries.count() == 2
