"""servers.selectors: the shared queries answer the same whoever asks (API, consumer, web UI)."""

import time
import uuid
from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from servers import console
from servers.models import Server, ServerMember, ServerMetric
from servers.selectors import console_history, metric_history, servers_visible_to
from tests.servers.test_refusals import a_server, make_node, template  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db


class TestVisibleTo:
    def test_owners_and_members_see_a_server_and_strangers_do_not(
        self,
        customer,
        stranger,
        make_user,
        make_node,  # noqa: F811
        template,  # noqa: F811
    ):
        server = a_server(customer, make_node(), template)
        member = make_user()
        ServerMember.objects.create(server=server, user=member, permissions=["server.read"])
        assert list(servers_visible_to(customer)) == [server]
        assert list(servers_visible_to(member)) == [server]
        assert not servers_visible_to(stranger).exists()
        assert not servers_visible_to(AnonymousUser()).exists()

    def test_staff_with_server_read_see_every_server(self, customer, admin, make_node, template):  # noqa: F811
        server = a_server(customer, make_node(), template)
        assert list(servers_visible_to(admin)) == [server]

    def test_the_manager_method_gives_the_same_answer(self, customer, stranger, make_node, template):  # noqa: F811
        a_server(customer, make_node(), template)
        for user in (customer, stranger):
            assert list(Server.objects.visible_to(user)) == list(servers_visible_to(user))

    def test_it_narrows_a_given_queryset(self, customer, make_node, template):  # noqa: F811
        server = a_server(customer, make_node(), template)
        assert not servers_visible_to(customer, Server.objects.exclude(pk=server.pk)).exists()


def test_metric_history_is_downsampled_to_at_most_120_points(customer, make_node, template):  # noqa: F811
    server = a_server(customer, make_node(), template)
    now = timezone.now()
    ServerMetric.objects.bulk_create(
        ServerMetric(
            server=server,
            created_at=now - timedelta(minutes=i),
            cpu=10.0,
            memory_mb=100,
            network_received=i,
            network_sent=i,
        )
        for i in range(300)
    )
    assert len(metric_history(server=server, range_name="1h")) == 60
    points = metric_history(server=server, range_name="6h")
    assert 0 < len(points) <= 120 and all(p["cpu"] == 10.0 for p in points)


def test_console_history_filters_by_stream_and_time():
    server_id = uuid.uuid4()
    console.write_lines(server_id, "stdout", ["one", "two"])
    console.write(server_id, "a panel line")
    cutoff = time.time() + 0.001
    time.sleep(0.01)
    console.write_lines(server_id, "stdout", ["three"])
    assert [e["data"] for e in console_history(server_id)] == ["one\n", "two\n", "a panel line\n", "three\n"]
    assert [e["data"] for e in console_history(server_id, stream="system")] == ["a panel line\n"]
    assert [e["data"] for e in console_history(server_id, stream="stdout", before=cutoff)] == [
        "one\n",
        "two\n",
    ]
    assert [e["data"] for e in console_history(server_id, limit=1)] == ["three\n"]


def test_a_panel_line_naming_something_from_outside_stays_one_line_without_terminal_controls():
    server_id = uuid.uuid4()
    console.write(server_id, "Installed Evil\n[Server] Stopping\r\x1b[2J\u2028x 1.0.")
    console.write_lines(server_id, "stdout", ["\x1b[32mgreen\x1b[0m"])  # the game's own colours stay
    assert [e["data"] for e in console_history(server_id)] == [
        "Installed Evil [Server] Stopping  [2J x 1.0.\n",
        "\x1b[32mgreen\x1b[0m\n",
    ]


@pytest.mark.parametrize("deep_offset", [1000, 7], ids=["offset", "deferred-join"])
def test_paging_through_servers_of_one_name_finds_each_exactly_once(
    customer,
    client_for,
    make_node,  # noqa: F811
    template,  # noqa: F811
    deep_offset,
    monkeypatch,
):
    """The list sorts on (name, id): a unique key, so offset pages neither skip nor repeat a server; the
    same from the offset on which a page's ids are found first (config.api.pagination.page_of)."""
    from config.api.pagination import PagePagination

    monkeypatch.setattr(PagePagination, "deep_offset", deep_offset)
    node = make_node()
    made = {
        str(
            Server.objects.create(
                name="same",
                owner=customer,
                node=node,
                template=template,
                docker_image=template.docker_image,
                allocated_memory_mb=64,
                allocated_cpu_cores=1,
                allocated_disk_mb=64,
            ).pk
        )
        for _ in range(23)
    }
    client, seen = client_for(customer), []
    for page in range(1, 5):
        answer = client.get("/api/servers", {"page": page, "limit": 7})
        assert answer.status_code == 200, answer.content
        seen += [row["id"] for row in answer.json()["data"]]
    assert sorted(seen) == sorted(made)  # 23 servers over four pages of 7: each once


SQLITE_VISIBILITY = """
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from accounts.models import User
from nodes.models import Location, Node
from servers.models import Server, ServerMember
from servers.selectors import servers_visible_to
from templates_app.models import Template

node = Node.objects.create(name="n", location=Location.objects.create(name="l"), hostname="h",
                           public_address="203.0.113.1", max_memory_mb=1024, max_cpu_cores=1)
game = Template.objects.create(name="g", docker_image="busybox", start_command="true", stop_command="stop")
me, other = (User.objects.create(email=f"{n}@example.com", username=n) for n in ("me", "other"))
def server(name, owner):
    return Server.objects.create(name=name, owner=owner, node=node, template=game, docker_image="busybox",
                                 allocated_memory_mb=64, allocated_cpu_cores=1, allocated_disk_mb=64)
server("mine", me)
ServerMember.objects.create(server=server("shared", other), user=me, permissions=["server.read"])
server("theirs", other)
print(sorted(s.name for s in servers_visible_to(me)))

from rest_framework.test import APIClient
staff = APIClient(HTTP_HOST="localhost")
staff.force_authenticate(User.objects.create(email="staff@example.com", username="staff", is_superuser=True))
answer = staff.get("/api/nodes")
print(answer.status_code, sorted(s["name"] for s in answer.json()["data"][0]["servers"]))
print(answer.json()["data"][0]["servers"][0]["id"] == str(Server.objects.get(name="mine").pk))
"""


def test_on_sqlite_a_customer_sees_their_own_and_shared_servers_and_staff_the_node_list(tmp_path):
    """The zero-setup default database keeps UUIDs as hex text: the visibility query's own SQL and the
    node list's embedded servers too."""
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'panel.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    result = subprocess.run(
        [sys.executable, "-c", SQLITE_VISIBILITY], env=env, capture_output=True, text=True, timeout=180
    )
    assert result.stdout.split("\n")[-4:] == [
        "['mine', 'shared']",
        "200 ['mine', 'shared', 'theirs']",
        "True",
        "",
    ], result.stdout[-1000:] + result.stderr[-3000:]
