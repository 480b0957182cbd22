"""Resource-threshold rules on a recorded metric history (rows with timestamps: no container).

The fixtures here (`alert_node`, `make_server`, `make_rule`, `points`) are imported by the other alert
tests of this branch (test_events.py, test_history.py)."""

import threading
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from alerts import services
from alerts.evaluation import Condition, evaluate_rules, judge
from alerts.models import Alert, AlertRule
from nodes.models import Location, Node, NodeMetric
from servers.models import Server, ServerMetric

S = Server.Status
MINUTE = timedelta(minutes=1)


@pytest.fixture
def alert_node(db):
    location = Location.objects.create(name="alerts-dc")
    counter = iter(range(1, 1000))

    def make(**fields) -> Node:
        fields.setdefault("name", f"alerts-node-{next(counter)}")
        return Node.objects.create(
            location=location,
            hostname="127.0.0.1",
            public_address="127.0.0.1",
            docker_url="unix:///nowhere.sock",
            max_memory_mb=4096,
            max_cpu_cores=2,
            is_online=True,
            **fields,
        )

    return make


@pytest.fixture
def make_server(alert_node, game_template, customer):
    node = alert_node()

    def make(name: str = "game", status: str = S.RUNNING, **fields) -> Server:
        fields.setdefault("allocated_memory_mb", 1024)
        fields.setdefault("allocated_cpu_cores", 2)
        fields.setdefault("allocated_disk_mb", 2048)
        return Server.objects.create(
            name=name,
            owner=customer,
            node=fields.pop("node", node),
            template=game_template,
            docker_image=game_template.docker_image,
            status=status,
            **fields,
        )

    return make


@pytest.fixture
def make_rule(db):
    def make(*, target: str = "server", target_id="*", **conditions) -> AlertRule:
        fields = {
            key: conditions.pop(key)
            for key in ("auto_resolve", "dedupe_seconds", "severity", "enabled", "name")
            if key in conditions
        }
        fields.setdefault("name", "High CPU")
        return AlertRule.objects.create(
            type="resource_threshold",
            target=target,
            target_id=str(target_id),
            conditions={"metric": "cpu", "operator": ">", "value": 90, "duration": 300, **conditions},
            **fields,
        )

    return make


def points(target, values, *, end=None, every: float = 60, **fixed):
    """One history point per value, the last at `end` (now), `every` seconds apart. Server values are
    docker's cpu (percent of one core) unless another field is named in `field`."""
    end = end or timezone.now()
    field = fixed.pop("field", "cpu")
    times = [end - timedelta(seconds=every * (len(values) - 1 - i)) for i in range(len(values))]
    if isinstance(target, Node):
        rows = [
            NodeMetric(node=target, created_at=at, **{"cpu": 0, "memory": 0, "disk": 0, **fixed, field: v})
            for at, v in zip(times, values, strict=True)
        ]
        return NodeMetric.objects.bulk_create(rows)
    base = {"cpu": 0.0, "memory_mb": 0, "network_received": 0, "network_sent": 0, **fixed}
    rows = [
        ServerMetric(server=target, created_at=at, **{**base, field: v})
        for at, v in zip(times, values, strict=True)
    ]
    return ServerMetric.objects.bulk_create(rows)


def open_alerts(**filters):
    return Alert.objects.filter(resolved=False, **filters)


# --- the window: spikes, coverage, staleness -------------------------------------------------------


def test_a_spike_shorter_than_the_duration_opens_nothing(make_server, make_rule):
    server = make_server()  # 2 cores: docker's 190 % is 95 % of the limit
    make_rule()
    points(server, [100, 100, 100, 100, 100, 100, 190, 190, 190, 190])  # 4 min over 90 %: rule says 5
    assert evaluate_rules() == 0
    assert not Alert.objects.exists()


def test_a_condition_held_for_the_whole_duration_opens_one_alert(make_server, make_rule):
    server = make_server(name="lobby")
    rule = make_rule(severity="critical", dedupe_seconds=600)
    points(server, [100, 100, 100, 186, 188, 190, 191, 190, 190.4])  # 6 min over: covers 5 min
    assert evaluate_rules() == 1
    alert = Alert.objects.get()
    assert alert.fingerprint == f"rule:{rule.pk}:server:{server.pk}"
    assert alert.title == "High CPU on lobby"
    assert alert.message == "CPU at 95.2 % of its limit for 5 min (rule: > 90 %)"
    assert alert.metadata == {
        "metric": "cpu",
        "value": 95.2,
        "cpuUsage": 95.2,
        "threshold": 90,
        "operator": ">",
        "duration": 300,
    }
    assert (alert.severity, alert.type, alert.rule, alert.server, alert.node) == (
        "critical",
        "resource_threshold",
        rule,
        server,
        server.node,
    )


def test_a_recorded_history_opens_at_the_plateau_and_resolves_when_it_ends(make_server, make_rule):
    """30 minutes of history replayed every 30 s: a 3-minute spike opens nothing; a 10-minute plateau
    opens one alert once it has lasted 5 minutes, which resolves itself at the first point below."""
    server = make_server()
    make_rule(dedupe_seconds=0)
    start = timezone.now() - timedelta(minutes=40)
    history = [60] * 5 + [185] * 3 + [60] * 5 + [190] * 10 + [50] * 7  # minute by minute
    points(server, history, end=start + MINUTE * (len(history) - 1))
    opened_at, resolved_at = [], []
    for step in range(2 * len(history)):
        now = start + timedelta(seconds=30 * step)
        if evaluate_rules(now=now):
            opened_at.append(step / 2)
        if resolved_at == [] and Alert.objects.filter(resolved=True).exists():
            resolved_at.append(step / 2)
    # the plateau's points are at minutes 13..22; the first covers minute 12-13, so at 17 five minutes are covered
    assert opened_at == [17.0]
    assert resolved_at == [23.0]
    assert Alert.objects.get().resolution == "The condition cleared."


def test_a_new_server_with_two_minutes_of_history_does_not_fire_on_a_five_minute_rule(make_server, make_rule):
    server = make_server()
    make_rule()
    points(server, [199, 199, 199])  # minutes 0, 1, 2: two minutes old
    assert evaluate_rules() == 0
    points(server, [199, 199], end=timezone.now() - 3 * MINUTE)  # now 4 min of points: 5 of averages
    assert evaluate_rules() == 1


def test_stale_history_opens_nothing(make_server, make_rule):
    server = make_server()
    make_rule()
    points(server, [199] * 10, end=timezone.now() - 3 * MINUTE)  # the monitor stopped writing
    assert evaluate_rules() == 0


def test_a_gap_in_the_window_breaks_coverage(make_server, make_rule):
    server = make_server()
    make_rule()
    points(server, [199, 199, 199], end=timezone.now() - timedelta(seconds=210))  # -330, -270, -210 s
    points(server, [199, 199])  # -60, 0 s: 150 s without a point (a restart) inside the window
    assert evaluate_rules() == 0


def test_duration_zero_judges_the_latest_fresh_point(make_server, make_rule):
    server, old = make_server(), make_server(name="old")
    make_rule(duration=0)
    points(server, [0, 0, 0, 199], end=timezone.now() - timedelta(seconds=40))
    points(old, [199], end=timezone.now() - 3 * MINUTE)
    assert evaluate_rules() == 1
    assert Alert.objects.get().message == "CPU at 99.5 % of its limit (rule: > 90 %)"


@pytest.mark.parametrize(
    "operator, value, meets, misses",
    [
        (">", 90, 90.1, 90),
        ("<", 10, 9.9, 10),
        (">=", 90, 90, 89.9),
        ("<=", 10, 10, 10.1),
        ("==", 50, 50.04, 50.1),
    ],
)
def test_each_operator(operator, value, meets, misses):
    now = timezone.now()
    condition = Condition.of({"metric": "cpu", "operator": operator, "value": value, "duration": 120})
    history = lambda v: [(now - timedelta(seconds=s), v) for s in (150, 90, 30)]  # noqa: E731
    assert judge(history(meets), condition, now=now, interval=60).holds
    assert not judge(history(misses), condition, now=now, interval=60).holds


def test_memory_and_disk_are_percent_of_the_allocation(make_server, make_rule):
    server = make_server(allocated_memory_mb=1000, allocated_disk_mb=2000)
    make_rule(metric="memory", operator=">=", value=80, duration=120)
    disk_rule = make_rule(metric="disk", operator=">", value=75, duration=120, name="Disk")
    points(server, [800, 850, 900], field="memory_mb")
    assert evaluate_rules() == 1  # no disk measure yet: the disk rule holds nothing
    assert Alert.objects.get().message == "Memory at 90 % of its limit for 2 min (rule: >= 80 %)"
    ServerMetric.objects.all().delete()
    points(server, [1600, 1600, 1600], field="disk_mb", memory_mb=0)
    assert evaluate_rules() == 1
    assert open_alerts(rule=disk_rule).get().metadata["diskUsage"] == 80.0


# --- targets -----------------------------------------------------------------------------------


def test_star_watches_running_and_starting_servers_only(make_server, make_rule):
    servers = {
        status: make_server(name=status, status=status) for status in (S.RUNNING, S.STARTING, S.STOPPED)
    }
    make_rule()
    for server in servers.values():
        points(server, [199] * 7)  # the stopped one's last points are fresh: it just stopped
    assert evaluate_rules() == 2
    assert set(open_alerts().values_list("server__name", flat=True)) == {"running", "starting"}


def test_a_rule_for_one_server_watches_that_server_only(make_server, make_rule):
    one, other = make_server(name="one"), make_server(name="other")
    make_rule(target_id=one.pk)
    points(one, [199] * 7)
    points(other, [199] * 7)
    assert evaluate_rules() == 1
    assert open_alerts().get().server == one


def test_node_rules_read_the_node_history(alert_node, make_rule):
    busy, calm, watched = alert_node(name="busy"), alert_node(name="calm"), alert_node(name="watched")
    make_rule(target="node", metric="memory", value=85, duration=120)
    by_id = make_rule(target="node", target_id=watched.pk, metric="disk", operator=">=", value=95, duration=0)
    points(busy, [90, 91, 92, 93, 94], every=30, field="memory")  # a point per health check (30 s)
    points(calm, [90, 91, 50, 93, 94], every=30, field="memory")
    points(watched, [95], field="disk", memory=10)
    assert evaluate_rules() == 2
    assert open_alerts(node=busy).get().message == "Memory at 94 % on node busy for 2 min (rule: > 85 %)"
    assert open_alerts(node=busy).get().title == "High Memory on node busy"
    assert open_alerts(node=watched).get().fingerprint == f"rule:{by_id.pk}:node:{watched.pk}"


def test_evaluation_costs_the_same_queries_for_5_or_60_servers(make_server, make_rule):
    make_rule()
    make_rule(metric="memory", name="Memory")

    def cost(count: int) -> int:
        Server.objects.all().delete()
        for i in range(count):
            points(make_server(name=f"s{i}"), [10] * 10)
        with CaptureQueriesContext(connection) as queries:
            assert evaluate_rules() == 0
        return len(queries)

    assert cost(5) == cost(60)


# --- dedupe and self-resolve -------------------------------------------------------------------


def test_a_condition_that_still_holds_opens_no_second_alert(make_server, make_rule):
    server = make_server()
    make_rule()
    points(server, [199] * 7)
    assert evaluate_rules() == 1
    assert evaluate_rules() == 0
    assert Alert.objects.get().occurrences == 2


def test_after_a_manual_resolve_a_new_alert_opens_only_after_the_dedupe_window(make_server, make_rule, admin):
    server = make_server()
    make_rule(dedupe_seconds=300)
    points(server, [199] * 7)
    assert evaluate_rules() == 1
    services.resolve(Alert.objects.all(), by=admin, resolution="Looked at it.")
    assert evaluate_rules() == 0  # still within 5 minutes of the first
    Alert.objects.update(created_at=timezone.now() - timedelta(seconds=301))
    assert evaluate_rules() == 1
    assert Alert.objects.count() == 2 and open_alerts().count() == 1


def test_an_alert_resolves_itself_when_the_condition_clears(make_server, make_rule):
    server = make_server()
    make_rule()
    points(server, [199] * 6, end=timezone.now() - MINUTE)
    assert evaluate_rules() == 1
    points(server, [120])
    assert evaluate_rules() == 0
    alert = Alert.objects.get()
    assert alert.resolved and alert.resolved_by is None and alert.resolution == "The condition cleared."


def test_without_auto_resolve_the_alert_stays_open(make_server, make_rule):
    server = make_server()
    make_rule(auto_resolve=False)
    points(server, [199] * 6, end=timezone.now() - MINUTE)
    evaluate_rules()
    points(server, [120])
    evaluate_rules()
    server.status = S.STOPPED
    server.save()
    evaluate_rules()
    assert open_alerts().count() == 1


def test_a_stopped_server_resolves_its_alert_and_stale_history_leaves_it_open(make_server, make_rule):
    stopping, silent = make_server(name="stopping"), make_server(name="silent")
    make_rule()
    for server in (stopping, silent):
        points(server, [199] * 7, end=timezone.now() - timedelta(seconds=90))
    evaluate_rules(now=timezone.now() - timedelta(seconds=90))
    assert open_alerts().count() == 2
    Server.objects.filter(pk=stopping.pk).update(status=S.STOPPED)
    evaluate_rules(now=timezone.now() + 5 * MINUTE)  # silent's points are stale: nothing is known
    assert open_alerts().get().server == silent
    assert Alert.objects.get(server=stopping).resolution == "The server is no longer running."


def test_disabled_and_broken_rules(make_server, make_rule):
    server = make_server()
    make_rule(enabled=False)
    make_rule(operator="≈", name="Broken")
    make_rule(name="Working")
    points(server, [199] * 7)
    assert evaluate_rules() == 1
    assert open_alerts().get().rule.name == "Working"


@pytest.mark.django_db(transaction=True)
def test_two_evaluations_at_once_open_one_alert(make_server, make_rule):
    server = make_server()
    make_rule()
    points(server, [199] * 7)
    barrier, results, errors = threading.Barrier(2), [], []

    def evaluate():
        try:
            barrier.wait(5)
            results.append(evaluate_rules())
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=evaluate) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert not errors
    assert sorted(results) == [0, 1]
    alert = Alert.objects.get()
    assert alert.occurrences == 2
