"""GET /metrics: parsed by prometheus_client's own text parser after real activity (API requests, a task
on the real worker, console lines, a WebSocket), and refused to everyone but staff holding admin.read,
an API key holding it and the scrape token."""

import os
import subprocess
import sys

import pytest
from celery import shared_task
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from django.core.management import call_command
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from accounts.apikeys import apikey_create
from config import metrics
from config.metrics_dir import DERIVED
from nodes.models import Location, Node
from servers.models import Server
from tests.fixtures.servers import stopped_server
from tests.polling import wait_for

TOKEN = "scrape-token-for-the-tests"


def families(text: str) -> dict:
    return {family.name: family for family in text_string_to_metric_families(text)}


def value(fams: dict, family: str, sample: str, **labels) -> float | None:
    for s in fams[family].samples if family in fams else []:
        if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    return None


def scrape(token: str = TOKEN) -> dict:
    response = APIClient().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return families(response.content.decode())


def recorded() -> dict:
    """What the processes recorded (the multiprocess files), without the database's part."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=django_settings.PROMETHEUS_MULTIPROC_DIR)
    return families(generate_latest(registry).decode())


@pytest.fixture
def scrape_token(settings):
    settings.METRICS_SCRAPE_TOKEN = TOKEN


def _node(name: str, **fields) -> Node:
    location, _ = Location.objects.get_or_create(name="metrics-dc")
    fields = {"max_memory_mb": 4096, "max_cpu_cores": 4, "max_disk_mb": 0, **fields}
    return Node.objects.create(
        name=name, location=location, hostname="h", public_address="203.0.113.9", **fields
    )


@pytest.mark.django_db(transaction=True)
def test_a_scrape_shows_servers_nodes_requests_tasks_and_console_lines(
    celery_worker, scrape_token, client_for, customer, game_template
):
    from config.tasks import heartbeat

    up = _node(
        "metrics-up",
        is_online=True,
        last_health={"ok": True, "memory_used_mb": 1024, "memory_total_mb": 4096, "cpu_percent": 50.0},
    )
    down = _node("metrics-down", is_online=False)
    running = stopped_server(
        node=up, template=game_template, owner=customer, name="a", allocated_memory_mb=1024
    )
    running.status = Server.Status.RUNNING
    running.save()
    stopped_server(node=up, template=game_template, owner=customer, name="b", allocated_memory_mb=1024)
    before = recorded()
    route = "api/servers/<pk>"
    seen = (
        value(
            before,
            "hearth_api_request_duration_seconds",
            "hearth_api_request_duration_seconds_count",
            route=route,
            method="GET",
            status="200",
        )
        or 0
    )

    assert client_for(customer).get(f"/api/servers/{running.pk}").status_code == 200
    assert client_for(customer).get(f"/api/no/such/{running.pk}").status_code == 404
    heartbeat.delay()
    metrics.console_lines(up.pk, 3)
    wait_for(
        lambda: value(
            recorded(),
            "hearth_celery_tasks",
            "hearth_celery_tasks_total",
            task="config.tasks.heartbeat",
            state="succeeded",
        ),
        10,
        "the worker's task to be counted",
    )

    fams = scrape()
    assert value(fams, "hearth_servers", "hearth_servers", status="running", node=str(up.pk)) == 1
    assert value(fams, "hearth_servers", "hearth_servers", status="stopped", node=str(up.pk)) == 1
    assert value(fams, "hearth_servers", "hearth_servers", status="running", node=str(down.pk)) == 0
    assert value(fams, "hearth_node_up", "hearth_node_up", node=str(up.pk)) == 1
    assert value(fams, "hearth_node_up", "hearth_node_up", node=str(down.pk)) == 0
    assert value(fams, "hearth_node_info", "hearth_node_info", node=str(up.pk), name="metrics-up") == 1
    assert (
        value(
            fams,
            "hearth_node_capacity_used_ratio",
            "hearth_node_capacity_used_ratio",
            node=str(up.pk),
            resource="memory",
        )
        == 0.5
    )
    assert (
        value(
            fams,
            "hearth_node_capacity_used_ratio",
            "hearth_node_capacity_used_ratio",
            node=str(up.pk),
            resource="cpu",
        )
        == 0.5
    )
    assert (
        value(
            fams,
            "hearth_node_capacity_used_ratio",
            "hearth_node_capacity_used_ratio",
            node=str(up.pk),
            resource="disk",
        )
        is None
    )  # unlimited
    assert (
        value(
            fams,
            "hearth_node_host_used_ratio",
            "hearth_node_host_used_ratio",
            node=str(up.pk),
            resource="memory",
        )
        == 0.25
    )
    assert (
        value(
            fams,
            "hearth_node_host_used_ratio",
            "hearth_node_host_used_ratio",
            node=str(down.pk),
            resource="memory",
        )
        is None
    )

    count = "hearth_api_request_duration_seconds_count"
    assert (
        value(fams, "hearth_api_request_duration_seconds", count, route=route, method="GET", status="200")
        == seen + 1
    )
    assert (
        value(
            fams, "hearth_api_request_duration_seconds", count, route="unmatched", method="GET", status="404"
        )
        >= 1
    )
    assert (
        value(
            fams,
            "hearth_api_request_duration_seconds",
            "hearth_api_request_duration_seconds_bucket",
            route=route,
            method="GET",
            status="200",
            le="+Inf",
        )
        == seen + 1
    )
    routes = {s.labels["route"] for s in fams["hearth_api_request_duration_seconds"].samples}
    assert not any(str(running.pk) in r for r in routes), routes  # never the raw path

    task = "config.tasks.heartbeat"
    assert value(fams, "hearth_celery_tasks", "hearth_celery_tasks_total", task=task, state="started") >= 1
    assert (
        value(
            fams,
            "hearth_celery_task_duration_seconds",
            "hearth_celery_task_duration_seconds_count",
            task=task,
        )
        >= 1
    )
    assert value(fams, "hearth_console_lines", "hearth_console_lines_total", node=str(up.pk)) == 3


@pytest.mark.django_db  # Channels' session middleware touches the connection; no rows needed
async def test_websocket_connections_are_counted_while_open():
    from config.asgi import application

    def connections() -> float:
        return value(recorded(), "hearth_websocket_connections", "hearth_websocket_connections") or 0

    before = connections()
    communicator = WebsocketCommunicator(application, "/ws")
    connected, _ = await communicator.connect()
    assert connected
    assert connections() == before + 1
    await communicator.disconnect()
    assert connections() == before


def test_metrics_answers_staff_with_admin_read_api_keys_holding_it_and_the_scrape_token(
    scrape_token, client_for, admin, customer, make_user
):
    def get(token: str | None):
        client = APIClient()
        if token is not None:
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return client.get("/metrics")

    refusals = {
        "no token": (get(None), 401),
        "a wrong scrape token": (get(TOKEN + "x"), 401),
        "a customer": (client_for(customer).get("/metrics"), 403),
        "a key without admin.read": (
            get(apikey_create(user=admin, name="narrow", permissions=["server.read"])[1]),
            403,
        ),
    }
    for what, (response, status) in refusals.items():
        assert response.status_code == status, what
        assert b"hearth_" not in response.content, what
    assert client_for(admin).get("/metrics").status_code == 200
    assert client_for(make_user(role="Support")).get("/metrics").status_code == 200
    assert get(apikey_create(user=admin, name="scraper", permissions=["admin.read"])[1]).status_code == 200
    response = get(TOKEN)
    assert response.status_code == 200 and b"hearth_servers" in response.content


@shared_task(name="tests.metrics.fails")
def fails():
    raise RuntimeError("on purpose")


def test_a_failed_task_is_counted_as_failed_and_timed():
    def failed() -> float:
        fams = recorded()
        return (
            value(
                fams,
                "hearth_celery_tasks",
                "hearth_celery_tasks_total",
                task="tests.metrics.fails",
                state="failed",
            )
            or 0
        )

    def timed() -> float:
        fams = recorded()
        name = "hearth_celery_task_duration_seconds"
        return value(fams, name, f"{name}_count", task="tests.metrics.fails") or 0

    before, before_timed = failed(), timed()
    assert fails.apply().failed()
    assert failed() == before + 1 and timed() == before_timed + 1
    fams = recorded()
    assert not value(
        fams,
        "hearth_celery_tasks",
        "hearth_celery_tasks_total",
        task="tests.metrics.fails",
        state="succeeded",
    )


def test_an_empty_scrape_token_setting_turns_the_token_off(db, settings):
    settings.METRICS_SCRAPE_TOKEN = ""
    assert APIClient().get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 401
    assert APIClient().get("/metrics", HTTP_AUTHORIZATION="Bearer  ").status_code == 401


@pytest.mark.django_db(transaction=True)
def test_an_upgrade_leaves_the_running_processes_metrics_alone():
    def lines() -> float:
        return value(recorded(), "hearth_console_lines", "hearth_console_lines_total", node="upgrade") or 0

    metrics.console_lines("upgrade", 2)
    call_command("upgrade", verbosity=0)
    metrics.console_lines("upgrade", 1)
    assert lines() == 3  # this process still writes to files a scrape reads


def test_a_process_that_ends_takes_its_open_connections_out_of_the_gauge(tmp_path):
    script = "from config import metrics; metrics.websocket_opened(); metrics.websocket_opened()"
    environment = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    environment.pop(DERIVED, None)
    subprocess.run([sys.executable, "-c", script], env=environment, check=True, timeout=60)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(tmp_path))
    fams = families(generate_latest(registry).decode())
    assert (value(fams, "hearth_websocket_connections", "hearth_websocket_connections") or 0) == 0
    assert not list(tmp_path.glob("gauge_livesum_*.db"))
