"""The admin's index: a dashboard of servers, nodes and failed jobs; internals hidden or grouped."""

import pytest

from nodes.health import node_check_health
from servers.models import Job, Server
from templates_app.models import Template

pytestmark = pytest.mark.django_db
S = Server.Status


@pytest.fixture
def fleet(make_node, customer):
    """An online node on test engine 1, an unreachable one, servers in three states, a failed job."""
    up = make_node(engine=1, via="unix", name="alpha")
    assert node_check_health(node=up)["ok"]
    down = make_node(engine=1, via="ssh", name="bravo", docker_url="ssh://hearth@127.0.0.1:1")
    assert not node_check_health(node=down)["ok"]
    template = Template.objects.create(
        name="T", docker_image="hearth/testgame:latest", start_command="x", stop_command="stop"
    )
    statuses = [S.RUNNING, S.RUNNING, S.STOPPED, S.INSTALL_FAILED]
    servers = [
        Server.objects.create(
            name=f"s{i}",
            owner=customer,
            node=up,
            template=template,
            docker_image=template.docker_image,
            status=status,
            allocated_memory_mb=128,
            allocated_cpu_cores=1,
            allocated_disk_mb=128,
        )
        for i, status in enumerate(statuses)
    ]
    failed = Job.objects.create(
        server=servers[3],
        server_name="s3",
        kind=Job.Kind.INSTALL,
        status=Job.Status.FAILED,
        error="Install script exited with code 7",
    )
    Job.objects.create(
        server=servers[2], server_name="s2", kind=Job.Kind.INSTALL, status=Job.Status.SUCCEEDED
    )
    return up, down, servers, failed


def test_the_index_counts_servers_by_status_with_links(signed_in, admin, fleet):
    response = signed_in(admin).get("/admin/")
    rows = {row["status"]: row for row in response.context["server_statuses"]}
    assert rows["running"]["count"] == 2 and rows["stopped"]["count"] == 1
    assert rows["install_failed"]["count"] == 1 and rows["suspended"]["count"] == 0
    assert response.context["server_total"] == 4
    page = response.content.decode()
    assert 'href="/admin/servers/server/?status__exact=running"' in page


def test_the_index_shows_nodes_online_and_offline_with_their_last_health(signed_in, admin, fleet):
    up, down, _, _ = fleet
    response = signed_in(admin).get("/admin/")
    nodes = {n["name"]: n for n in response.context["nodes"]}
    assert nodes["alpha"]["state"] == "online" and nodes["alpha"]["health"].startswith("Docker ")
    assert nodes["bravo"]["state"] == "offline" and nodes["bravo"]["health"]  # the probe's error
    assert nodes["bravo"]["health"] == down.__class__.objects.get(pk=down.pk).last_health["error"]
    assert (response.context["nodes_online"], response.context["nodes_offline"]) == (1, 1)
    page = response.content.decode()
    assert f'href="/admin/nodes/node/{up.pk}/change/"' in page
    assert "1 online, 1 offline" in page


def test_the_index_lists_recent_failed_jobs_only(signed_in, admin, fleet):
    _, _, servers, failed = fleet
    response = signed_in(admin).get("/admin/")
    jobs = response.context["failed_jobs"]
    assert [j["error"] for j in jobs] == ["Install script exited with code 7"]
    page = response.content.decode()
    assert f'href="/admin/servers/job/{failed.pk}/change/"' in page
    assert f'href="/admin/servers/server/{servers[3].pk}/change/"' in page
    assert 'href="/admin/servers/job/?status__exact=failed"' in page


def test_support_staff_see_the_dashboard_too(signed_in, make_user, fleet):
    response = signed_in(make_user(role="Support")).get("/admin/")
    assert response.status_code == 200 and response.context["server_total"] == 4


def test_an_empty_panel_says_so(signed_in, admin):
    page = signed_in(admin).get("/admin/").content.decode()
    assert "No nodes yet" in page and "No failed jobs." in page


class TestInternals:
    def test_groups_and_jwt_tables_are_gone(self, signed_in, admin):
        client = signed_in(admin)
        page = client.get("/admin/").content.decode()
        for hidden in ("Groups", "Outstanding tokens", "Blacklisted tokens", "Crontabs", "Intervals"):
            assert hidden not in page
        for url in (
            "/admin/auth/group/",
            "/admin/token_blacklist/outstandingtoken/",
            "/admin/token_blacklist/blacklistedtoken/",
            "/admin/django_celery_beat/crontabschedule/",
        ):
            assert client.get(url).status_code == 404, url

    def test_periodic_tasks_are_readable_under_internals_and_come_last(self, signed_in, admin):
        client = signed_in(admin)
        apps = client.get("/admin/").context["app_list"]
        assert apps[-1]["name"] == "Internals"
        assert [m["object_name"] for m in apps[-1]["models"]] == ["PeriodicTask"]
        assert client.get("/admin/django_celery_beat/periodictask/").status_code == 200
        assert client.get("/admin/django_celery_beat/periodictask/add/").status_code == 403

    def test_support_staff_may_read_the_internals(self, signed_in, make_user):
        client = signed_in(make_user(role="Support"))
        assert client.get("/admin/").context["app_list"][-1]["name"] == "Internals"
        assert client.get("/admin/django_celery_beat/periodictask/").status_code == 200
