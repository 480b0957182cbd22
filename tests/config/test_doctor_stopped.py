"""`manage.py doctor` with engine 2 stopped behind its live sshd: the node is named, with the command that
fixes it, and doctor exits non-zero without hanging. Stops a shared service: runs alone (stops_services)."""

import json
import time
from io import StringIO

import pytest
from django.core.management import call_command

from config import heartbeat
from tests.fixtures import nodes as test_nodes  # not `import testenv`: pytest would collect it as a test

pytestmark = [pytest.mark.stops_services, pytest.mark.django_db(transaction=True)]


def test_a_stopped_engine_is_an_error_naming_the_node(make_node, settings):
    settings.DOCTOR_DISK_FREE_WARN_MB = 1
    node = make_node(engine=2, via="ssh")
    heartbeat.tick("beat", time.time())
    test_nodes.testenv("stop-engine", "2")
    try:
        started = time.monotonic()
        out = StringIO()
        with pytest.raises(SystemExit) as exit:
            call_command("doctor", "--json", stdout=out)
        elapsed = time.monotonic() - started
    finally:
        test_nodes.testenv("start-engine", "2")
    assert exit.value.code == 1
    checks = {check["name"]: check for check in json.loads(out.getvalue())["checks"]}
    check = checks[f"node {node.name}"]
    assert check["status"] == "error"
    assert node.docker_url in check["message"]
    assert "sudo systemctl start docker" in check["fix"] and "127.0.0.1" in check["fix"]
    assert elapsed < settings.DOCTOR_CHECK_TIMEOUT_SECONDS * 2 + 5  # bounded, whatever the node does
