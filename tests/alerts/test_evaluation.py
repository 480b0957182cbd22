"""Resource-threshold rules on a recorded metric history (rows with timestamps: no container).

The fixtures here (`alert_node`, `make_server`, `make_rule`, `points`) are imported by the other alert
tests of this branch (test_events.py, test_history.py)."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from alerts import rules, services
from alerts.evaluation import Condition, Spacing, evaluate_rules, judge
from alerts.models import Alert, AlertRule
from nodes.models import Location, Node, NodeMetric
from servers.models import Server, ServerMetric

S = Server.Status
MINUTE = timedelta(minutes=1)
SPACING = Spacing(60, 95)  # servers' at METRICS_POINT_SECONDS 60, STATS_INTERVAL_SECONDS 5


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
    assert judge(history(meets), condition, now=now, spacing=SPACING).holds
    assert not judge(history(misses), condition, now=now, spacing=SPACING).holds


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
    """Evaluations while it holds are no new occurrences: only last_seen_at (the evaluation's `now`)."""
    server = make_server()
    make_rule()
    points(server, [199] * 7)
    assert evaluate_rules() == 1
    later = timezone.now() + timedelta(seconds=30)
    assert evaluate_rules(now=later) == 0
    assert evaluate_rules(now=later) == 0
    alert = Alert.objects.get()
    assert (alert.occurrences, alert.last_seen_at) == (1, later)


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
    assert alert.occurrences in (1, 2)  # 2 when the second evaluator got to raise it too


# --- the review of issue 15: the span of the points, per-target transactions, reopen, rule changes ---


def _cpu(duration: int) -> Condition:
    return Condition.of({"metric": "cpu", "operator": ">", "value": 90, "duration": duration})


@pytest.mark.parametrize("age", [56, 60, 64])
def test_one_high_point_is_no_two_minute_condition_however_old(age):
    """Points every 65 s, only the latest high: it stands for one minute, not for the two."""
    now = timezone.now()
    samples = [(now - timedelta(seconds=age + 65 * i), 99 if i == 0 else 10) for i in (3, 2, 1, 0)]
    assert not judge(samples, _cpu(120), now=now, spacing=SPACING).holds


@pytest.mark.parametrize(
    "age, count, held", [(100, 4, False), (55, 4, False), (110, 5, True), (125, 5, False)]
)
def test_the_holding_points_themselves_must_span_the_duration(age, count, held):
    """A 300 s rule: four high points a minute apart span 240 s however old the latest; five span 300 s
    and hold while the latest is fresh (at most 2 minutes old)."""
    now = timezone.now()
    samples = [(now - timedelta(seconds=age + 60 * i), 99 if i < count else 10) for i in range(count + 2)][
        ::-1
    ]
    assert judge(samples, _cpu(300), now=now, spacing=SPACING).holds is held


def test_points_spaced_by_a_slow_sampler_still_hold(make_server, make_rule, settings):
    """At STATS_INTERVAL 25 s points may lie up to 85 s apart: a 300 s rule still fires."""
    settings.STATS_INTERVAL_SECONDS = 25
    server = make_server()
    make_rule()
    points(server, [199] * 4, every=100)  # spans 300 + 60 s
    assert evaluate_rules() == 1


def test_a_self_cleared_alert_reopens_when_the_condition_holds_again(make_server, make_rule):
    """A flapping metric is one open alert, sent once: the self-cleared alert reopens within the window."""
    server = make_server()
    server.notifications.create(kind="email", email="owner@example.com")
    make_rule(dedupe_seconds=300)
    now = timezone.now()
    points(server, [199] * 6, end=now - MINUTE)
    assert evaluate_rules(now=now - MINUTE) == 1
    points(server, [120], end=now)
    evaluate_rules(now=now)
    assert Alert.objects.get().resolution == "The condition cleared."
    later = now + 5 * MINUTE
    points(server, [199] * 5, end=later)
    assert evaluate_rules(now=later) == 0
    alert = Alert.objects.get()  # reopened, not a second alert, nothing sent again
    assert (alert.resolved, alert.resolved_at, alert.resolution, alert.occurrences) == (False, None, "", 2)
    assert alert.deliveries.count() == 1


def _refuse_alerts_for(server) -> None:
    """A real failure of one target's write: the database refuses its alert (a trigger, this test only)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION pg_temp.refuse_alert() RETURNS trigger AS $$ BEGIN "
            f"IF NEW.server_id = '{server.pk}' THEN RAISE EXCEPTION 'refused for the test'; END IF; "
            "RETURN NEW; END $$ LANGUAGE plpgsql"
        )
        cursor.execute(
            f"CREATE TRIGGER refuse_alert BEFORE INSERT ON {Alert._meta.db_table} "
            "FOR EACH ROW EXECUTE FUNCTION pg_temp.refuse_alert()"
        )


def test_one_failing_target_blocks_no_other(make_server, make_rule):
    failing, holding, clearing = (
        make_server(name="failing"),
        make_server(name="holding"),
        make_server(name="clearing"),
    )
    make_rule()
    points(clearing, [199] * 6, end=timezone.now() - MINUTE)
    assert evaluate_rules(now=timezone.now() - MINUTE) == 1
    points(clearing, [10])
    for server in (failing, holding):
        points(server, [199] * 7)
    _refuse_alerts_for(failing)
    assert evaluate_rules() == 1
    assert open_alerts().get().server == holding
    assert Alert.objects.get(server=clearing).resolution == "The condition cleared."


def test_a_deleted_server_resolves_its_rule_alert(make_server, make_rule):
    server = make_server()
    make_rule()
    points(server, [199] * 7)
    assert evaluate_rules() == 1
    server.delete()
    evaluate_rules()
    alert = Alert.objects.get()
    assert (alert.server, alert.resolved, alert.resolution) == (
        None,
        True,
        "The server is no longer running.",
    )


def test_a_repeat_counts_on_the_row_not_on_a_stale_copy(make_server, make_rule):
    server = make_server()
    make_rule()
    points(server, [199] * 7)
    evaluate_rules()
    stale = Alert.objects.get()
    Alert.objects.update(occurrences=5)  # another process counted meanwhile
    services._repeat(stale, timezone.now())
    assert Alert.objects.get().occurrences == 6


@pytest.mark.django_db(transaction=True)
def test_raise_alert_counts_on_the_alert_another_process_opened_meanwhile(make_server):
    """The IntegrityError branch: another connection's open alert is not yet visible at raise_alert's
    check, and its insert waits on the unique index until that one commits."""
    server = make_server()
    fingerprint = f"rule:test:server:{server.pk}"
    inserted, errors = threading.Event(), []

    def other_process():
        try:
            with transaction.atomic():
                now = timezone.now()
                Alert.objects.create(
                    type="resource_threshold",
                    fingerprint=fingerprint,
                    title="t",
                    created_at=now,
                    last_seen_at=now,
                )
                inserted.set()
                time.sleep(0.5)  # raise_alert checks and then waits on the index meanwhile
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=other_process)
    thread.start()
    assert inserted.wait(5)
    result = services.raise_alert(
        type="resource_threshold", fingerprint=fingerprint, title="t", server=server, dedupe_seconds=300
    )
    thread.join(10)
    assert not errors and result is None
    alert = Alert.objects.get()
    assert alert.occurrences == 2 and alert.server is None  # the other one's row, counted


def _with_open_alert(make_server, make_rule, **rule_fields) -> AlertRule:
    server = make_server()
    rule = make_rule(**rule_fields)
    points(server, [199] * 7)
    assert evaluate_rules() == 1
    return rule


@pytest.mark.parametrize(
    "change, resolution",
    [
        ({"enabled": False}, "The rule was disabled."),
        (
            {"target_id": "*", "conditions": {"metric": "cpu", "operator": ">", "value": 95, "duration": 60}},
            "The rule was changed.",
        ),
        ({"type": "server_crashed", "conditions": {}}, "The rule was changed."),
    ],
)
def test_disabling_or_changing_a_rule_resolves_its_open_alerts(
    make_server, make_rule, admin, change, resolution
):
    rule = _with_open_alert(make_server, make_rule)
    rules.rule_update(rule=rule, actor=admin, **change)
    alert = Alert.objects.get()
    assert (alert.resolved, alert.resolved_by, alert.resolution) == (True, None, resolution)


def test_renaming_a_rule_keeps_its_alerts_and_deleting_it_resolves_them(make_server, make_rule, admin):
    rule = _with_open_alert(make_server, make_rule)
    rules.rule_update(rule=rule, actor=admin, name="Renamed", severity="critical")
    assert open_alerts().count() == 1
    rules.rule_delete(rule=rule, actor=admin)
    alert = Alert.objects.get()
    assert (alert.rule, alert.resolved, alert.resolution) == (None, True, "The rule was deleted.")


def test_beat_skips_an_evaluation_while_the_previous_one_runs(make_server, make_rule):
    from django.core.cache import cache

    from alerts.tasks import EVALUATING, alerts_evaluate_task

    make_rule()
    points(make_server(), [190] * 7)
    cache.set(EVALUATING, True)
    assert alerts_evaluate_task() == 0 and not Alert.objects.exists()
    cache.delete(EVALUATING)
    assert alerts_evaluate_task() == 1
