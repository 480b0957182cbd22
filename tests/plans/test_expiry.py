"""Expiry: the reminders (once per threshold, to the owner by email and the expiry rules' webhooks), the
suspension when it comes, the deletion after the plan's grace period, and staff or a billing
integration moving it; upgrade bundles on stopped servers."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import AuditLog
from alerts.models import Alert, AlertDelivery
from plans.models import UpgradeBundle
from servers.expiry import expiry_run
from servers.models import Job, Server
from tests.matrix import node_and_template

pytestmark = pytest.mark.django_db
S = Server.Status


@pytest.fixture
def server(customer, shop):
    node, template = node_and_template()
    return Server.objects.create(
        name="expiring", owner=customer, node=node, template=template, docker_image=template.docker_image,
        status=S.STOPPED, allocated_memory_mb=1024, allocated_cpu_cores=1, allocated_disk_mb=4096,
        plan=shop["basic"], expire_at=timezone.now() + timedelta(days=10),
    )  # fmt: skip


def at(server, days: float):
    """The moment `days` before the server expires."""
    return server.expire_at - timedelta(days=days)


def test_reminders_go_once_per_threshold_to_the_owner(server, customer, settings):
    settings.EXPIRY_REMINDER_DAYS = [7, 3, 1]
    assert expiry_run(now=at(server, 8))["reminded"] == 0
    assert expiry_run(now=at(server, 6.9))["reminded"] == 1
    assert expiry_run(now=at(server, 6))["reminded"] == 0  # the 7-day one was sent
    assert expiry_run(now=at(server, 2.5))["reminded"] == 1
    assert expiry_run(now=at(server, 0.5))["reminded"] == 1
    assert expiry_run(now=at(server, 0.1))["reminded"] == 0
    alerts = Alert.objects.filter(type="server_expiring", server=server).order_by("created_at")
    assert [a.metadata["daysLeft"] for a in alerts] == [7, 3, 1]
    assert [a.resolved for a in alerts] == [True, True, False]  # each later one resolves the earlier
    assert alerts[2].title == "expiring expires in 1 day"
    to_owner = AlertDelivery.objects.filter(alert__in=alerts, destination=customer.email)
    assert to_owner.count() == 3
    server.refresh_from_db()
    assert server.expiry_reminders_sent == [1, 3, 7]


def test_thresholds_passed_at_once_are_one_reminder(server, settings):
    settings.EXPIRY_REMINDER_DAYS = [7, 3, 1]
    assert expiry_run(now=at(server, 0.5))["reminded"] == 1
    assert Alert.objects.get(type="server_expiring").metadata["daysLeft"] == 1
    assert expiry_run(now=at(server, 0.4))["reminded"] == 0


def test_an_expired_server_is_suspended_and_deleted_after_the_grace(server, settings):
    settings.EXPIRY_REMINDER_DAYS = [1]
    expiry_run(now=at(server, 0.5))
    later = server.expire_at + timedelta(seconds=1)
    assert expiry_run(now=later) == {"reminded": 0, "suspended": 1, "deleted": 0}
    server.refresh_from_db()
    assert (
        server.status == S.SUSPENDED and server.suspension_reason == "expired" and server.suspended_by is None
    )
    assert Alert.objects.get(type="server_expiring").resolution == "The server expired and was suspended."
    assert expiry_run(now=later + timedelta(days=6))["deleted"] == 0  # basic keeps it 7 days
    assert expiry_run(now=later + timedelta(days=7))["deleted"] == 1
    job = Job.objects.get(server_id=server.pk, kind=Job.Kind.DELETE)
    server.refresh_from_db()
    assert server.status == S.STOPPING and job.status == Job.Status.PENDING
    assert AuditLog.objects.filter(action="server.expired_delete", resource_id=str(server.pk)).exists()


def test_a_plan_without_a_grace_keeps_expired_servers(server, shop):
    shop["basic"].delete_after_days = None
    shop["basic"].save()
    expiry_run(now=server.expire_at + timedelta(seconds=1))
    assert expiry_run(now=server.expire_at + timedelta(days=365))["deleted"] == 0


def test_extend_adds_days_and_lifts_an_expirys_suspension(staff, server):
    expiry_run(now=server.expire_at + timedelta(seconds=1))
    Server.objects.filter(pk=server.pk).update(expire_at=timezone.now() - timedelta(days=1))
    response = staff.post(f"/api/servers/{server.pk}/extend", {"days": 30}, format="json")
    assert response.status_code == 200, response.content
    server.refresh_from_db()
    assert server.status == S.STOPPED and server.suspension_reason == ""
    assert timezone.now() + timedelta(days=29) < server.expire_at <= timezone.now() + timedelta(days=30)
    assert server.expiry_reminders_sent == []
    audit = AuditLog.objects.get(action="server.extend")
    assert audit.metadata["expireAt"] == server.expire_at.isoformat()


def test_extend_on_a_server_staff_suspended_keeps_it_suspended(staff, server):
    Server.objects.filter(pk=server.pk).update(status=S.SUSPENDED, suspension_reason="abuse")
    assert staff.post(f"/api/servers/{server.pk}/extend", {"days": 30}, format="json").status_code == 200
    server.refresh_from_db()
    assert server.status == S.SUSPENDED and server.suspension_reason == "abuse"


def test_extend_sets_a_date_or_never(staff, server):
    when = (timezone.now() + timedelta(days=90)).replace(microsecond=0)
    assert (
        staff.post(
            f"/api/servers/{server.pk}/extend", {"expireAt": when.isoformat()}, format="json"
        ).status_code
        == 200
    )
    server.refresh_from_db()
    assert server.expire_at == when
    assert (
        staff.post(f"/api/servers/{server.pk}/extend", {"expireAt": None}, format="json").status_code == 200
    )
    server.refresh_from_db()
    assert server.expire_at is None
    refused = staff.post(f"/api/servers/{server.pk}/extend", {"days": 5}, format="json")
    assert refused.status_code == 409 and "never expires" in refused.json()["message"]


@pytest.mark.parametrize(
    "body",
    [{}, {"days": 0}, {"days": 1, "expireAt": None}, {"expireAt": "2001-01-01T00:00:00Z"}, {"until": 3}],
)
def test_a_bad_extend_is_400(staff, server, body):
    assert staff.post(f"/api/servers/{server.pk}/extend", body, format="json").status_code == 400


def test_only_holders_of_server_resources_extend(client_for, customer, stranger, server):
    assert (
        client_for(customer).post(f"/api/servers/{server.pk}/extend", {"days": 1}, format="json").status_code
        == 403
    )
    assert (
        client_for(stranger).post(f"/api/servers/{server.pk}/extend", {"days": 1}, format="json").status_code
        == 404
    )


@pytest.fixture
def bundle(shop):
    bundle = UpgradeBundle.objects.create(name="+1 GB", memory_mb=1024, database_limit=1, price_label="€1")
    bundle.plans.set([shop["basic"]])
    return bundle


def test_a_bundle_adds_to_a_stopped_server(staff, server, bundle):
    response = staff.post(f"/api/servers/{server.pk}/upgrade", {"bundleId": str(bundle.pk)}, format="json")
    assert response.status_code == 200, response.content
    data = response.json()["data"]
    assert data["allocatedMemoryMb"] == 2048 and data["databaseLimit"] == server.database_limit + 1
    assert AuditLog.objects.filter(action="server.upgrade", metadata__bundle="+1 GB").exists()


def test_a_bundle_is_refused_on_a_running_server_another_plan_and_by_customers(
    staff, client_for, customer, server, bundle, shop
):
    url = f"/api/servers/{server.pk}/upgrade"
    body = {"bundleId": str(bundle.pk)}
    assert client_for(customer).post(url, body, format="json").status_code == 403
    Server.objects.filter(pk=server.pk).update(status=S.RUNNING)
    assert staff.post(url, body, format="json").status_code == 409
    Server.objects.filter(pk=server.pk).update(status=S.STOPPED, plan=shop["big"])
    other = staff.post(url, body, format="json")
    assert other.status_code == 400 and "not offered for this server's plan" in other.json()["message"]
    missing = staff.post(url, {"bundleId": "00000000-0000-0000-0000-000000000000"}, format="json")
    assert missing.status_code == 404
    server.refresh_from_db()
    assert server.allocated_memory_mb == 1024


def test_customers_list_the_bundles_staff_manage(client_for, customer, staff, bundle):
    listed = client_for(customer).get("/api/upgrades").json()["data"]
    assert [b["name"] for b in listed] == ["+1 GB"] and listed[0]["priceLabel"] == "€1"
    assert client_for(customer).post("/api/upgrades", {"name": "free"}, format="json").status_code == 403
    made = staff.post("/api/upgrades", {"name": "+10 GB disk", "diskMb": 10240}, format="json")
    assert made.status_code == 201 and made.json()["data"]["diskMb"] == 10240
    assert staff.post("/api/upgrades", {"name": "+10 GB disk"}, format="json").status_code == 409


def test_the_billing_recipe_with_one_scoped_api_key(api, admin, shop):
    """README "Billing integration": a key limited to what billing needs creates the customer, a server on
    a plan for them, extends it, suspends it, unsuspends it and deletes it."""
    from tests.fixtures import tokens_for

    staff = api.__class__()
    staff.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_for(admin)['token']}")
    scope = ["admin.write", "admin.read", "server.create", "server.read", "server.resources", "server.suspend",
             "server.delete"]  # fmt: skip
    key = staff.post("/api/api-keys", {"name": "billing", "permissions": scope}, format="json").json()[
        "data"
    ]["key"]
    billing = api.__class__()
    billing.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    user = billing.post(
        "/api/admin/users", {"email": "buyer@example.com", "username": "buyer", "password": "a-long-password"},
        format="json",
    )  # fmt: skip
    assert user.status_code == 201, user.content
    buyer = user.json()["data"]["id"]
    made = billing.post(
        "/api/servers",
        {
            "name": "bought",
            "templateId": str(shop["game"].pk),
            "planId": str(shop["basic"].pk),
            "ownerId": buyer,
        },
        format="json",
    )
    assert made.status_code == 201, made.content
    server = made.json()["data"]
    assert server["ownerId"] == buyer and server["planId"] == str(shop["basic"].pk) and server["expireAt"]
    base = f"/api/servers/{server['id']}"
    assert billing.post(f"{base}/extend", {"days": 30}, format="json").status_code == 200
    assert billing.post(f"{base}/suspend", {"reason": "unpaid"}, format="json").status_code == 200
    assert billing.post(f"{base}/unsuspend").status_code == 200
    deleted = billing.delete(base)
    assert deleted.status_code == 200, deleted.content
    actions = list(AuditLog.objects.filter(resource_id=server["id"]).values_list("action", flat=True))
    assert {"server.create", "server.extend", "server.suspend", "server.unsuspend", "server.delete"} <= set(
        actions
    )
