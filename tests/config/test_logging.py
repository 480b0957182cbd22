"""LOG_FORMAT=json: one JSON object per line, carrying the request id the response sends back, the user
and the server of an API request, and a Celery task's id and name. No header or query string is logged."""

import io
import json
import logging
import os
import subprocess
import sys
import uuid

import pytest
from celery import shared_task
from django.conf import settings
from django.urls import path
from pythonjsonlogger.json import JsonFormatter
from rest_framework.response import Response
from rest_framework.views import APIView

from config.request_context import ContextFilter, incoming_request_id
from config.urls import urlpatterns as real_urlpatterns

logger = logging.getLogger("tests.logging")


class ServerView(APIView):
    def get(self, request, server_id):
        logger.info("looking at a server")
        return Response({"ok": True})


urlpatterns = [path("api/servers/<uuid:server_id>/logged", ServerView.as_view()), *real_urlpatterns]


@shared_task(name="tests.logging.say")
def say():
    logger.warning("from a task")


@pytest.fixture
def json_lines():
    """The settings' json formatter and context filter on a handler of their own; the lines written."""
    spec = dict(settings.LOGGING["formatters"]["json"])
    spec.pop("()")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(fmt=spec.pop("format"), **spec))
    handler.addFilter(ContextFilter())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)


def test_a_request_s_lines_carry_its_id_user_and_server(json_lines, settings, client_for, customer):
    settings.ROOT_URLCONF = __name__
    server_id = uuid.uuid4()
    client = client_for(customer)
    response = client.get(f"/api/servers/{server_id}/logged?token=secret-in-the-query")
    assert response.status_code == 200
    (line,) = json_lines()
    assert set(line) >= {"timestamp", "level", "logger", "message", "request_id", "user_id", "server_id"}
    assert (
        line["message"] == "looking at a server"
        and line["level"] == "INFO"
        and line["logger"] == "tests.logging"
    )
    assert line["request_id"] == response["X-Request-ID"]
    assert line["user_id"] == str(customer.pk)
    assert line["server_id"] == str(server_id)
    raw = json.dumps(line)
    assert "secret-in-the-query" not in raw and "Bearer" not in raw  # no query string, no header


def test_the_server_of_the_api_s_server_routes_is_known():
    from django.test import RequestFactory
    from django.urls import resolve

    from config.request_context import _server_of

    server_id = uuid.uuid4()
    for url in (
        f"/api/servers/{server_id}",
        f"/api/servers/{server_id}/reset-crash-count",
        f"/api/servers/{server_id}/files",
    ):
        request = RequestFactory().get(url)
        request.resolver_match = resolve(url)
        assert _server_of(request) == str(server_id), url
    request = RequestFactory().get(f"/api/nodes/{server_id}")
    request.resolver_match = resolve(f"/api/nodes/{server_id}")
    assert _server_of(request) is None


def test_a_safe_incoming_request_id_is_kept_any_other_replaced(client_for, customer):
    client = client_for(customer)
    assert client.get("/api/health", HTTP_X_REQUEST_ID="trace-1234abcd")["X-Request-ID"] == "trace-1234abcd"
    for bad in ("short", "x" * 65, "has space in it", "new\nline-injected", "<script>alert(1)</script>"):
        assert incoming_request_id(bad) != bad
        given = client.get("/api/health", HTTP_X_REQUEST_ID=bad)["X-Request-ID"]
        assert given != bad and len(given) == 32


def test_a_task_s_lines_carry_its_id_and_name(json_lines):
    result = say.apply(task_id="task-id-for-the-test")
    assert result.successful()
    (line,) = json_lines()
    assert line["task_id"] == "task-id-for-the-test" and line["task_name"] == "tests.logging.say"
    assert line["request_id"] is None and line["user_id"] is None


def test_log_format_json_configures_the_process(tmp_path):
    """The real settings with LOG_FORMAT=json: a line the process logs is JSON on stderr."""
    env = {**os.environ, "LOG_FORMAT": "json", "DJANGO_SETTINGS_MODULE": "config.settings"}
    code = (
        "import django, logging; django.setup(); logging.getLogger('hearth.test').warning('hello %s', 'json')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=settings.BASE_DIR,
    )
    assert result.returncode == 0, result.stderr
    (line,) = [json.loads(text) for text in result.stderr.splitlines() if text.startswith("{")]
    assert line["message"] == "hello json" and line["level"] == "WARNING" and line["logger"] == "hearth.test"
    assert line["timestamp"]
