"""/api/tasks: the contract's shapes, the chain, beat's rows kept in step, exact next run times, and
every refusal (404 another user's, 403 without the permission, 423 suspended, 400 bad input)."""

from datetime import UTC, datetime

import pytest
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from accounts.models import AuditLog
from schedules import cron
from schedules.models import Task
from servers.models import Server, ServerMember

pytestmark = pytest.mark.django_db
S = Server.Status


def test_a_contract_task_is_created_listed_changed_and_deleted_with_its_beat_rows(
    client_for, customer, row_server
):
    server = row_server()
    api = client_for(customer)
    made = api.post(
        "/api/tasks",
        {
            "serverId": str(server.pk),
            "name": "Daily Announcement",
            "action": "command",
            "schedule": "0 12 * * *",
            "payload": {"command": "say restart in 3 hours"},
            "enabled": True,
        },
        format="json",
    )
    assert made.status_code == 201, made.content
    task = made.json()["data"]
    assert task["action"] == "command" and task["payload"] == {"command": "say restart in 3 hours"}
    assert task["runCount"] == 0 and task["lastRunAt"] is None and task["timezone"] == "UTC"
    assert task["steps"] == [
        {
            "action": "command",
            "payload": {"command": "say restart in 3 hours"},
            "delaySeconds": 0,
            "continueOnFailure": False,
        }
    ]
    periodic = PeriodicTask.objects.get(name=f"hearth-task:{task['id']}")
    assert periodic.task == "schedules.tasks.task_fire_task" and periodic.enabled
    assert (periodic.crontab.minute, periodic.crontab.hour) == ("0", "12")

    listed = api.get(f"/api/tasks?serverId={server.pk}").json()["data"]
    assert [t["id"] for t in listed] == [task["id"]]

    changed = api.put(f"/api/tasks/{task['id']}", {"enabled": False, "schedule": "0 4 * * *"}, format="json")
    assert changed.status_code == 200, changed.content
    assert (
        changed.json()["data"]["nextRunAt"] is None and changed.json()["data"]["name"] == "Daily Announcement"
    )
    periodic.refresh_from_db()
    assert not periodic.enabled and periodic.crontab.hour == "4"

    assert api.delete(f"/api/tasks/{task['id']}").status_code == 200
    assert not Task.objects.exists() and not PeriodicTask.objects.filter(pk=periodic.pk).exists()
    assert not CrontabSchedule.objects.filter(pk=periodic.crontab_id).exists()
    actions = set(AuditLog.objects.values_list("action", flat=True))
    assert {"task.create", "task.update", "task.delete"} <= actions


def test_a_chain_replaces_the_steps_and_deleting_the_server_removes_the_beat_rows(
    client_for, customer, row_server
):
    server = row_server()
    api = client_for(customer)
    steps = [
        {"action": "command", "payload": {"command": "say 1 minute"}},
        {"action": "stop", "delaySeconds": 60, "continueOnFailure": True},
        {"action": "backup", "payload": {"name": "nightly"}},
        {"action": "start", "delaySeconds": 5},
    ]
    made = api.post(
        "/api/tasks",
        {
            "serverId": str(server.pk),
            "name": "Nightly",
            "schedule": "30 4 * * *",
            "timezone": "Europe/Berlin",
            "steps": steps,
            "catchUp": "once",
            "onlyWhenOnline": True,
        },
        format="json",
    ).json()["data"]
    assert [s["action"] for s in made["steps"]] == ["command", "stop", "backup", "start"]
    assert made["steps"][1] == {
        "action": "stop",
        "payload": None,
        "delaySeconds": 60,
        "continueOnFailure": True,
    }
    assert made["catchUp"] == "once" and made["onlyWhenOnline"] is True
    assert PeriodicTask.objects.get(name=f"hearth-task:{made['id']}").crontab.timezone.key == "Europe/Berlin"

    again = api.put(f"/api/tasks/{made['id']}", {"action": "restart"}, format="json").json()["data"]
    assert again["steps"] == [
        {"action": "restart", "payload": None, "delaySeconds": 0, "continueOnFailure": False}
    ]

    server.delete()  # cascades to the task: its beat rows must not be left firing
    assert not PeriodicTask.objects.filter(name__startswith="hearth-task:").exists()


def test_next_run_at_is_exact_in_the_tasks_time_zone_across_dst():
    # Berlin springs forward on 2026-03-29 (02:00 → 03:00) and falls back on 2026-10-25.
    spring = cron.next_runs("0 9 * * *", "Europe/Berlin", count=2, after=datetime(2026, 3, 28, 6, tzinfo=UTC))
    assert [r.astimezone(UTC).hour for r in spring] == [8, 7]  # 09:00 CET, then 09:00 CEST
    assert (spring[1].astimezone(UTC) - spring[0]).total_seconds() == 23 * 3600
    autumn = cron.next_runs(
        "0 9 * * *", "Europe/Berlin", count=2, after=datetime(2026, 10, 24, 6, tzinfo=UTC)
    )
    assert [r.astimezone(UTC).hour for r in autumn] == [7, 8]  # 09:00 CEST, then 09:00 CET
    assert (autumn[1].astimezone(UTC) - autumn[0]).total_seconds() == 25 * 3600
    slot = cron.latest_slot("*/15 * * * *", "UTC", at=datetime(2026, 1, 1, 10, 15, 0, 400_000, tzinfo=UTC))
    assert slot == datetime(2026, 1, 1, 10, 15, tzinfo=UTC)
    assert cron.latest_slot(
        "*/15 * * * *", "UTC", at=datetime(2026, 1, 1, 10, 14, 59, 900_000, tzinfo=UTC)
    ) == (datetime(2026, 1, 1, 10, 0, tzinfo=UTC))


def test_the_preview_lists_five_run_times_and_explains_a_bad_expression(client_for, customer):
    api = client_for(customer)
    shown = api.get("/api/tasks/preview", {"schedule": "*/30 * * * *", "timezone": "Asia/Kolkata"})
    assert shown.status_code == 200, shown.content
    runs = [datetime.fromisoformat(r) for r in shown.json()["data"]["nextRuns"]]
    assert len(runs) == 5 and all(r.minute in (0, 30) for r in runs) and runs == sorted(runs)
    bad = api.get("/api/tasks/preview", {"schedule": "61 * * * *"})
    assert bad.status_code == 400 and "not a valid cron expression" in bad.json()["message"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"schedule": "0 3 * *"}, "five fields"),
        ({"schedule": "0 3 * * * *"}, "five fields"),
        ({"schedule": "0 25 * * *"}, "not a valid cron expression"),
        ({"schedule": "0 3 1 * mon"}, "not both"),
        ({"schedule": "0 0 30 2 *"}, "never occurs"),  # a date that never comes
        ({"timezone": "Mars/Olympus"}, "Unknown time zone"),
        ({"action": "explode"}, "not a valid choice"),
        ({"action": "command", "payload": {}}, "needs payload.command"),
        ({"action": "command", "payload": {"command": "say hi\nop me"}}, "one line"),
        ({"action": None, "steps": []}, "at least one step"),
        ({"action": None, "steps": [{"action": "stop", "delaySeconds": 7200}]}, "delaySeconds"),
        ({"catchUp": "always"}, "not a valid choice"),
        ({"name": " "}, "name"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(client_for, customer, row_server, body, message):
    server = row_server()
    fields = {"serverId": str(server.pk), "name": "x", "action": "restart", "schedule": "0 3 * * *", **body}
    fields = {key: value for key, value in fields.items() if value is not None}
    answer = client_for(customer).post("/api/tasks", fields, format="json")
    assert answer.status_code == 400, answer.content
    assert message in answer.content.decode()
    assert (
        not Task.objects.exists()
        and not PeriodicTask.objects.filter(name__startswith="hearth-task:").exists()
    )


def test_other_users_tasks_are_404_a_member_without_the_permission_403_and_suspended_423(
    client_for, customer, stranger, make_user, row_server
):
    server = row_server()
    task = (
        client_for(customer)
        .post(
            "/api/tasks",
            {"serverId": str(server.pk), "name": "r", "action": "restart", "schedule": "0 3 * * *"},
            format="json",
        )
        .json()["data"]
    )
    outsider = client_for(stranger)
    assert outsider.get(f"/api/tasks?serverId={server.pk}").status_code == 404
    assert outsider.get("/api/tasks").json()["data"] == []
    for method, path in [("get", ""), ("put", ""), ("delete", ""), ("post", "/execute"), ("get", "/runs")]:
        assert (
            getattr(outsider, method)(f"/api/tasks/{task['id']}{path}", {}, format="json").status_code == 404
        )
    assert (
        outsider.post(
            "/api/tasks",
            {"serverId": str(server.pk), "name": "x", "action": "stop", "schedule": "* * * * *"},
            format="json",
        ).status_code
        == 404
    )

    reader = make_user()
    ServerMember.objects.create(server=server, user=reader, permissions=["task.read"])
    member = client_for(reader)
    assert member.get(f"/api/tasks/{task['id']}/runs").status_code == 200
    assert member.put(f"/api/tasks/{task['id']}", {"enabled": False}, format="json").status_code == 403
    assert member.post(f"/api/tasks/{task['id']}/execute").status_code == 403

    Server.objects.filter(pk=server.pk).update(status=S.SUSPENDED)
    owner = client_for(customer)
    assert owner.get(f"/api/tasks/{task['id']}").status_code == 200
    assert owner.put(f"/api/tasks/{task['id']}", {"enabled": False}, format="json").status_code == 423
    assert owner.post(f"/api/tasks/{task['id']}/execute").status_code == 423
    assert owner.delete(f"/api/tasks/{task['id']}").status_code == 423


def test_a_step_needs_the_permission_its_action_needs_by_hand(client_for, make_user, row_server):
    server = row_server()
    member = make_user()
    ServerMember.objects.create(
        server=server, user=member, permissions=["task.create", "task.update", "server.restart"]
    )
    api = client_for(member)
    body = {"serverId": str(server.pk), "name": "n", "schedule": "0 3 * * *"}
    refused = api.post(
        "/api/tasks", {**body, "steps": [{"action": "restart"}, {"action": "stop"}]}, format="json"
    )
    assert refused.status_code == 403 and "needs the server.stop permission" in refused.json()["message"]
    made = api.post("/api/tasks", {**body, "action": "restart"}, format="json")
    assert made.status_code == 201
    task = made.json()["data"]["id"]
    again = api.put(
        f"/api/tasks/{task}", {"action": "command", "payload": {"command": "op me"}}, format="json"
    )
    assert again.status_code == 403 and "server.console" in again.json()["message"]
    ServerMember.objects.filter(user=member).update(permissions=["task.update", "backup.create"])
    rotating = api.put(f"/api/tasks/{task}", {"action": "backup", "payload": {}}, format="json")
    # A scheduled backup removes the oldest one over the limit: it needs backup.delete too.
    assert rotating.status_code == 403 and "backup.delete" in rotating.json()["message"]
    # Without new steps, a change still makes the chain run as its changer: who must hold what it needs.
    ServerMember.objects.filter(user=member).update(permissions=["task.update"])
    toggled = api.put(f"/api/tasks/{task}", {"enabled": False}, format="json")
    assert toggled.status_code == 403 and "server.restart" in toggled.json()["message"]


def test_a_deleted_users_chains_are_disabled(client_for, make_user, row_server):
    from schedules.models import Task

    server = row_server()
    member = make_user()
    ServerMember.objects.create(server=server, user=member, permissions=["task.create", "server.restart"])
    body = {"serverId": str(server.pk), "name": "n", "schedule": "0 3 * * *", "action": "restart"}
    made = client_for(member).post("/api/tasks", body, format="json")
    assert made.status_code == 201
    member.delete()  # its chain would run unchecked: it ran with the member's permissions
    task = Task.objects.select_related("periodic_task").get(pk=made.json()["data"]["id"])
    assert not task.enabled and not task.periodic_task.enabled and task.created_by is None


def test_the_health_endpoint_shows_beats_last_tick_and_a_stuck_beat_as_down(client_for, admin):
    import time

    from config import heartbeat

    staff = client_for(admin)
    heartbeat.tick("beat", time.time() - 2)
    fresh = staff.get("/api/admin/health").json()["data"]
    assert fresh["services"]["taskScheduler"] == "running" and 1 < fresh["scheduler"]["secondsSinceTick"] < 10
    heartbeat.tick("beat", time.time() - 45)  # its heartbeat key lives on (90 s), its loop does not
    stuck = staff.get("/api/admin/health").json()["data"]
    assert stuck["services"]["taskScheduler"] == "down" and stuck["status"] != "healthy"
    assert stuck["scheduler"]["secondsSinceTick"] >= 45
