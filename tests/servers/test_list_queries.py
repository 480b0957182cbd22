"""The lists at scale: a constant number of queries whatever the page size and the data, a unique sort
key (every row once across the pages), and the same camelCase as the library spells it."""

import uuid
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.translation import gettext_lazy

from accounts.models import AuditLog
from servers.models import Server, ServerMember
from tests.servers.test_refusals import make_node, template  # noqa: F401 - fixtures


def queries(client, path: str) -> tuple[int, list]:
    with CaptureQueriesContext(connection) as captured:
        answer = client.get(path)
    assert answer.status_code == 200, answer.content
    return len(captured.captured_queries), answer.json()["data"]


def servers(owner, node, game, count: int, *, name: str = "s") -> list[Server]:
    return [
        Server.objects.create(
            name=f"{name}{i}",
            owner=owner,
            node=node,
            template=game,
            docker_image=game.docker_image,
            allocated_memory_mb=64,
            allocated_cpu_cores=1,
            allocated_disk_mb=64,
        )
        for i in range(count)
    ]


def test_a_customers_list_takes_the_same_queries_whatever_the_page_and_the_data(
    customer,
    stranger,
    client_for,
    make_node,  # noqa: F811
    template,  # noqa: F811
):
    node = make_node()
    api = client_for(customer)
    servers(customer, node, template, 2)
    shared = servers(stranger, node, template, 1, name="shared")[0]
    ServerMember.objects.create(server=shared, user=customer, permissions=["server.read"])
    few, data = queries(api, "/api/servers?limit=5")
    assert len(data) == 3  # own and shared
    servers(customer, node, template, 40, name="more")
    servers(stranger, node, template, 40, name="theirs")  # not the customer's: never read
    many, data = queries(api, "/api/servers?limit=50")
    assert many == few and len(data) == 43


def test_the_admin_list_takes_the_same_queries_whatever_the_page_and_the_data(
    customer,
    staff,
    make_node,  # noqa: F811
    template,  # noqa: F811
):
    node = make_node()
    servers(customer, node, template, 2)
    few, data = queries(staff, "/api/admin/servers?limit=5")
    assert data[0]["owner"]["email"] == customer.email and data[0]["node"]["name"] == node.name
    servers(customer, make_node(name="n2", ports=[]), template, 40, name="more")
    many, data = queries(staff, "/api/admin/servers?limit=50")
    assert many == few and len(data) == 42


@pytest.mark.parametrize("deep_offset", [1000, 5], ids=["offset", "deferred-join"])
def test_the_audit_log_takes_the_same_queries_and_pages_rows_of_one_instant_once(
    staff, admin, deep_offset, monkeypatch
):
    """Every row once, from the offset on which a page's ids are found first too (pagination.page_of)."""
    from config.api.pagination import PagePagination

    monkeypatch.setattr(PagePagination, "deep_offset", deep_offset)
    now = timezone.now()
    made = AuditLog.objects.bulk_create(
        AuditLog(user=admin, username="a", action="server.start", resource_type="server") for _ in range(23)
    )
    AuditLog.objects.filter(pk__in=[row.pk for row in made]).update(created_at=now)  # all one instant
    few, _ = queries(staff, "/api/admin/audit-logs?limit=5")
    many, _ = queries(staff, "/api/admin/audit-logs?limit=100")
    deep, _ = queries(staff, "/api/admin/audit-logs?page=4&limit=5")
    assert many == few == deep
    seen = []
    for page in range(1, 6):
        seen += [row["id"] for row in queries(staff, f"/api/admin/audit-logs?page={page}&limit=5")[1]]
    assert sorted(seen) == sorted(str(row.pk) for row in made)  # 23 rows over five pages: each once


@pytest.mark.parametrize(
    "data",
    [
        {"allocated_memory_mb": 1, "a_b_c": [{"x_y": None, "list_of": [1, "s_t"]}], "_lead": 1, "trail_": 2},
        {"environment": {"KEEP_ME": 1, "keep_me": {"in_side": 1}}, "by_type": {"server_crash": 1}},
        [{"ab_2": 1, "a_1_b": True, "x__y": 1.5}],
        {"nested": ({"tu_ple": 1},), 1: "int key", "ok": "x_y"},
    ],
)
def test_the_renderer_camelcases_exactly_as_the_library(data, settings):
    from djangorestframework_camel_case.util import camelize as library

    from config.api.renderers import camelize

    options = settings.JSON_CAMEL_CASE["JSON_UNDERSCOREIZE"]
    expected = library(data, **options)
    assert camelize(data, frozenset(options["ignore_fields"])) == expected


@pytest.mark.parametrize(
    "data",
    [
        {"when": timezone.now(), "day": timezone.now().date(), "at": timezone.now().time()},
        {"id": uuid.uuid4(), "price": Decimal("1.50"), "tags": {"a"}, "pair": (1, "b"), 7: None},
        {"text": gettext_lazy("Not found."), "js": "a\u2028b\u2029c", "utf": "héllo ☃", "n": 2**62},
        {"big": 2**70, "neg": -(2**70)},  # orjson refuses these: DRF writes them
        [],
        {"deep": [[{"x": [1.25, True, None]}]]},
    ],
)
def test_the_renderer_writes_the_same_bytes_as_drfs_json_renderer(data):
    from rest_framework.renderers import JSONRenderer

    from config.api.renderers import EnvelopeRenderer

    context = {"response": None}
    assert EnvelopeRenderer().render(data, "application/json", context) == JSONRenderer().render(
        data, "application/json", context
    )
