"""Plans, bundles and a server's expiry in the admin: saved and refused through the services."""

from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.utils import timezone

from accounts.models import AuditLog
from plans.models import Plan
from servers.models import Server
from tests.matrix import node_and_template

pytestmark = pytest.mark.django_db


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_staff_add_a_plan_and_cannot_delete_one_in_use(signed_in, admin, customer, shop):
    client = signed_in(admin)
    form = {"name": "gold", "memory_mb": 2048, "swap_mb": 0, "cpu_cores": "2", "disk_mb": 8192, "backup_limit": 3,
            "database_limit": 2, "allocation_limit": 3, "schedule_limit": 10, "sort_order": 0, "is_active": "on",
            "locations": [str(shop["eu"].pk)]}  # fmt: skip
    response = client.post("/admin/plans/plan/add/", form, follow=True)
    assert response.status_code == 200
    gold = Plan.objects.get(name="gold")
    assert list(gold.locations.all()) == [shop["eu"]]
    assert AuditLog.objects.filter(action="plan.create", metadata__name="gold").exists()
    listing = client.get("/admin/plans/plan/").content.decode()
    assert "gold" in listing and "never" in listing
    node, template = node_and_template()
    Server.objects.create(name="on-gold", owner=customer, node=node, template=template, plan=gold,
                          allocated_memory_mb=512, allocated_cpu_cores=1, allocated_disk_mb=512)  # fmt: skip
    refused = client.post(f"/admin/plans/plan/{gold.pk}/delete/", {"post": "yes"}, follow=True)
    assert "on-gold" in refused.content.decode()  # Django names the servers that keep it
    assert Plan.objects.filter(pk=gold.pk).exists()


def test_staff_extend_a_server_from_the_list(signed_in, admin, customer, shop):
    node, template = node_and_template()
    server = Server.objects.create(
        name="ends", owner=customer, node=node, template=template, allocated_memory_mb=512, allocated_cpu_cores=1,
        allocated_disk_mb=512, status=Server.Status.STOPPED, expire_at=timezone.now() + timedelta(days=1),
    )  # fmt: skip
    client = signed_in(admin)
    listing = "/admin/servers/server/"
    done = client.post(
        listing, {"action": "extend_by_30_days", "_selected_action": [str(server.pk)]}, follow=True
    )
    assert any("Extend by 30 days: 1 server(s)." in m for m in messages_of(done))
    server.refresh_from_db()
    assert server.expire_at > timezone.now() + timedelta(days=30)
    client.post(listing, {"action": "never_expire", "_selected_action": [str(server.pk)]}, follow=True)
    server.refresh_from_db()
    assert server.expire_at is None
    assert "Plan and expiry" in client.get(f"{listing}{server.pk}/change/").content.decode()


def test_staff_create_a_server_on_a_plan_in_the_admin(signed_in, admin, shop):
    client = signed_in(admin)
    form = {"name": "admin-made", "owner": str(admin.pk), "template": str(shop["game"].pk),
            "plan": str(shop["basic"].pk), "restart_policy": "on-failure", "environment": "{}",
            "port_bindings": "{}"}  # fmt: skip
    response = client.post("/admin/servers/server/add/", form, follow=True)
    assert response.status_code == 200, response.content
    server = Server.objects.get(name="admin-made")
    assert server.plan == shop["basic"] and server.allocated_memory_mb == 1024 and server.backup_limit == 1
    assert server.expire_at is not None
