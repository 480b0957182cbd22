"""Plans through the API: what customers see, a server created on one, and every way a customer might
get more than the plan gives (create, update, allocations, backups, databases, schedules); staff manage
plans and may create on a plan with their own values."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import AuditLog
from backups.models import Backup
from databases.models import DatabaseHost, ServerDatabase
from plans.models import Plan
from servers.models import Server

pytestmark = pytest.mark.django_db


def create(client, shop, plan="basic", **body):
    payload = {"name": "mine", "templateId": str(shop["game"].pk), **body}
    if plan:
        payload["planId"] = str(shop[plan].pk)
    return client.post("/api/servers", payload, format="json")


def test_customers_see_the_active_plans_as_offered(client_for, customer, shop):
    listed = client_for(customer).get("/api/plans").json()["data"]
    assert [plan["name"] for plan in listed] == ["basic", "big"]
    basic = listed[0]
    assert basic["priceLabel"] == "€4 / month" and basic["memoryMb"] == 1024 and basic["cpuCores"] == 1.5
    assert basic["templateIds"] == [str(shop["game"].pk)] and basic["locationIds"] == [str(shop["eu"].pk)]
    assert "serverCount" not in basic and "isActive" not in basic
    other = client_for(customer).get(f"/api/plans?templateId={shop['other'].pk}").json()["data"]
    assert [plan["name"] for plan in other] == ["big"]
    assert client_for(customer).get(f"/api/plans/{shop['retired'].pk}").status_code == 404
    assert client_for(customer).get("/api/plans?templateId=nope").status_code == 404


def test_a_customers_server_gets_exactly_its_plan(client_for, customer, shop):
    before = timezone.now()
    response = create(client_for(customer), shop)
    assert response.status_code == 201, response.content
    data = response.json()["data"]
    server = Server.objects.get(pk=data["id"])
    assert server.plan == shop["basic"] and data["planId"] == str(shop["basic"].pk)
    assert (server.allocated_memory_mb, server.allocated_cpu_cores, server.allocated_disk_mb) == (
        1024,
        1.5,
        4096,
    )
    limits = (server.backup_limit, server.database_limit, server.allocation_limit, server.schedule_limit)
    assert limits == (1, 1, 2, 1)
    assert server.node == shop["nodes"]["eu"]  # the plan's location
    assert before + timedelta(days=30) <= server.expire_at <= timezone.now() + timedelta(days=30)
    assert AuditLog.objects.get(action="server.create").metadata["plan"] == "basic"


@pytest.mark.parametrize(
    ("body", "field", "text"),
    [
        ({"plan": None}, "planId", "Choose a plan: basic, big."),
        ({"plan": "retired"}, "planId", "no longer offered"),
        ({"allocatedMemoryMb": 4096}, "allocatedMemoryMb", "Set by the plan (basic)"),
        ({"allocatedDiskMb": 64, "allocatedCpuCores": "0.5"}, "allocatedDiskMb", "Set by the plan"),
        ({"templateId": "other"}, "templateId", "does not offer this template"),
        ({"locationId": "us"}, "locationId", "does not run servers in us"),
    ],
)
def test_a_customer_cannot_create_past_or_around_a_plan(client_for, customer, shop, body, field, text):
    body = dict(body)
    plan = body.pop("plan", "basic")
    for key in ("templateId", "locationId"):
        if key in body:
            body[key] = str(shop[body[key]].pk)
    response = create(client_for(customer), shop, plan=plan, **body)
    assert response.status_code == 400, response.content
    assert any(text in message for message in response.json()["fields"][field]), response.json()
    assert not Server.objects.exists()


@pytest.mark.parametrize("field", ["backupLimit", "databaseLimit", "scheduleLimit", "expireInDays", "nodeId"])
def test_a_customer_cannot_send_what_only_staff_set(client_for, customer, shop, field):
    value = str(shop["nodes"]["eu"].pk) if field == "nodeId" else 50
    response = create(client_for(customer), shop, **{field: value})
    assert response.status_code == 403 and field in response.json()["message"]


@pytest.fixture
def on_basic(client_for, customer, shop):
    return Server.objects.get(pk=create(client_for(customer), shop).json()["data"]["id"])


def test_a_customer_cannot_grow_a_plan_server_by_any_other_call(client_for, customer, shop, on_basic):
    client = client_for(customer)
    server = on_basic
    base = f"/api/servers/{server.pk}"
    assert client.patch(base, {"allocatedMemoryMb": 8192}, format="json").status_code == 403
    assert client.patch(base, {"scheduleLimit": 10}, format="json").status_code == 403
    assert client.post(f"{base}/extend", {"days": 30}, format="json").status_code == 403
    # allocations: the primary and one more (limit 2)
    free = [a.port for a in shop["nodes"]["eu"].allocations.filter(server__isnull=True).order_by("port")]
    added = client.post(f"{base}/allocations", {"hostPort": free[0], "containerPort": 25599}, format="json")
    assert added.status_code == 200, added.content
    over = client.post(f"{base}/allocations", {"hostPort": free[1], "containerPort": 25598}, format="json")
    assert over.status_code == 400 and "at most 2" in over.json()["message"]
    # backups (limit 1)
    Backup.objects.create(server=server, name="kept", status=Backup.Status.COMPLETED)
    assert client.post(f"{base}/backups", {"name": "more"}, format="json").status_code == 400
    # databases (limit 1): counted before the host is asked
    host = DatabaseHost.objects.create(name="h", host="127.0.0.1", port=1, username="x")
    ServerDatabase.objects.create(server=server, host=host, name="s_one", username="u", password_encrypted="")
    more = client.post(f"{base}/databases", {"name": "two"}, format="json")
    assert more.status_code == 400 and "may have 1 database(s)" in more.json()["message"]
    # schedules (limit 1)
    task = {"serverId": str(server.pk), "name": "nightly", "action": "restart", "schedule": "0 3 * * *"}
    assert client.post("/api/tasks", task, format="json").status_code == 201
    second = client.post("/api/tasks", {**task, "name": "again"}, format="json")
    assert second.status_code == 400 and "at most 1 scheduled tasks" in second.json()["message"]


def test_staff_create_on_a_plan_with_values_of_their_own(staff, customer, shop):
    response = create(
        staff, shop, ownerId=str(customer.pk), allocatedMemoryMb=2048, backupLimit=9, expireInDays=3
    )
    assert response.status_code == 201, response.content
    server = Server.objects.get(pk=response.json()["data"]["id"])
    assert (
        server.allocated_memory_mb == 2048 and server.backup_limit == 9 and server.allocated_disk_mb == 4096
    )
    assert server.expire_at <= timezone.now() + timedelta(days=3)
    never = create(staff, shop, plan="big", name="forever")
    assert Server.objects.get(pk=never.json()["data"]["id"]).expire_at is None


def test_without_a_plan_staff_servers_keep_the_setting_limits(staff, shop, settings):
    settings.DATABASE_DEFAULT_LIMIT, settings.ALLOCATION_DEFAULT_LIMIT = 4, 5
    response = create(staff, shop, plan=None, allocatedMemoryMb=512)
    assert response.status_code == 201, response.content
    server = Server.objects.get(pk=response.json()["data"]["id"])
    assert (server.database_limit, server.allocation_limit, server.schedule_limit) == (4, 5, 25)
    assert (
        server.backup_limit == settings.BACKUP_DEFAULT_LIMIT
        and server.plan is None
        and server.expire_at is None
    )


def test_with_no_plan_offered_customers_size_within_the_self_service_maximums(client_for, customer, shop):
    Plan.objects.update(is_active=False)
    response = create(client_for(customer), shop, plan=None, allocatedMemoryMb=512)
    assert response.status_code == 201, response.content
    assert create(client_for(customer), shop, plan=None, allocatedMemoryMb=999999).status_code == 400


def test_staff_manage_plans(staff, client_for, customer, shop):
    body = {"name": "pro", "memoryMb": 8192, "cpuCores": "8", "diskMb": 40960, "defaultExpireDays": 30,
            "locationIds": [str(shop["us"].pk)], "priceLabel": "$20"}  # fmt: skip
    made = staff.post("/api/plans", body, format="json")
    assert made.status_code == 201, made.content
    plan = made.json()["data"]
    assert plan["serverCount"] == 0 and plan["isActive"] and plan["locationIds"] == [str(shop["us"].pk)]
    assert staff.post("/api/plans", body, format="json").status_code == 409
    assert client_for(customer).post("/api/plans", body, format="json").status_code == 403
    changed = staff.patch(f"/api/plans/{plan['id']}", {"isActive": False}, format="json")
    assert changed.status_code == 200 and not changed.json()["data"]["isActive"]
    assert [p["name"] for p in staff.get("/api/plans").json()["data"]] == ["pro", "retired", "basic", "big"]
    assert staff.delete(f"/api/plans/{plan['id']}").status_code == 200
    assert {"plan.create", "plan.update", "plan.delete"} <= set(
        AuditLog.objects.values_list("action", flat=True)
    )


def test_a_plan_with_servers_cannot_be_deleted(staff, on_basic, shop):
    refused = staff.delete(f"/api/plans/{shop['basic'].pk}")
    assert refused.status_code == 409 and "deactivate it instead" in refused.json()["message"]


@pytest.mark.parametrize(
    "body",
    [
        {"memoryMb": 10},
        {"cpuCores": "0"},
        {"name": ""},
        {"locationIds": ["00000000-0000-0000-0000-000000000000"]},
    ],
)
def test_a_bad_plan_is_400(staff, body):
    payload = {"name": "p", "memoryMb": 512, "cpuCores": "1", "diskMb": 512, **body}
    assert staff.post("/api/plans", payload, format="json").status_code == 400
