"""Streaming commands on the node host (what transfers use), over the local socket and over SSH: a
command that takes longer than the node timeout to finish its input is waited for, and a stream the
caller abandons ends the command instead of leaving it running."""

import time
import uuid
from pathlib import Path

import pytest

from nodes.client import NodeUnavailable, client_for

pytestmark = pytest.mark.django_db


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def wait_pid(path: Path, timeout: float = 10) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return int(path.read_text())
        time.sleep(0.05)
    pytest.fail(f"no pid in {path}")


def gone(pid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("via", ["unix", "ssh"])
def test_a_writer_that_finishes_after_the_node_timeout_is_waited_for(make_node, settings, via):
    settings.NODE_TIMEOUT_SECONDS = 1
    client = client_for(make_node(engine=2, via=via))
    script = "cat > /dev/null; sleep 2.5; echo unpacked"
    out = client.write_stream(["sh", "-c", script], iter([b"x" * 1000] * 10), exit_timeout=10)
    assert out.strip() == "unpacked"


def test_without_a_longer_exit_timeout_the_node_timeout_applies(make_node, settings):
    settings.NODE_TIMEOUT_SECONDS = 1
    client = client_for(make_node(engine=2, via="ssh"))
    with pytest.raises(NodeUnavailable):
        client.write_stream(["sh", "-c", "cat > /dev/null; sleep 3"], iter([b"x"]))


@pytest.mark.parametrize("via", ["unix", "ssh"])
def test_a_writer_whose_input_fails_midway_ends_the_command(make_node, via):
    client = client_for(make_node(engine=2, via=via))
    pidfile = Path(f"/tmp/hearth-test-{uuid.uuid4().hex}.pid")

    def chunks():
        yield b"first"
        pid = wait_pid(pidfile)
        assert alive(pid)
        raise RuntimeError("the caller gave up")

    try:
        with pytest.raises(RuntimeError, match="gave up"):
            client.write_stream(
                ["sh", "-c", 'echo $$ > "$1"; exec cat > /dev/null', "w", str(pidfile)], chunks()
            )
        assert gone(wait_pid(pidfile)), "the command kept running after its writer failed"
    finally:
        pidfile.unlink(missing_ok=True)


@pytest.mark.parametrize("via", ["unix", "ssh"])
def test_a_reader_that_stops_early_ends_the_command(make_node, via):
    client = client_for(make_node(engine=2, via=via))
    pidfile = Path(f"/tmp/hearth-test-{uuid.uuid4().hex}.pid")
    try:
        stream = client.read_stream(["sh", "-c", 'echo $$ > "$1"; exec yes', "r", str(pidfile)])
        assert next(stream).startswith(b"y\n")
        pid = wait_pid(pidfile)
        assert alive(pid)
        stream.close()
        assert gone(pid), "the command kept running after its reader stopped"
    finally:
        pidfile.unlink(missing_ok=True)
