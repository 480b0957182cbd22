"""The node client's named host operations, on the node's host over the local socket and over SSH:
callers pass paths (each one word, never shell text) and a tree goes out, in and into place."""

import re
import uuid
from pathlib import Path

import pytest

from nodes.client import NodeCommandFailed, client_for
from tests.conftest import require_env

pytestmark = pytest.mark.django_db


@pytest.fixture(params=["unix", "ssh"])
def host(request, make_node):
    """The client of a node on engine 2 and a fresh directory under its data dir, removed afterwards."""
    client = client_for(make_node(engine=2, via=request.param))
    base = f"{require_env('HEARTH_TEST_NODE2_DATA_DIR')}/client-test-{uuid.uuid4().hex[:10]}"
    client.make_directories(base)
    yield client, base
    client.remove_tree(base)


def write(client, path: str, size: int) -> None:
    client.run(["sh", "-c", 'head -c "$2" /dev/urandom > "$1"', "write", path, str(size)])


def test_a_tree_goes_out_into_staging_and_into_place(host):
    client, base = host
    client.make_directories(f"{base}/source/deep")
    write(client, f"{base}/source/deep/world.dat", 3 * 1024 * 1024)
    staging = f"{base}/transfers/x-job"
    client.make_directories(staging)
    client.receive_into_staging(staging, client.archive_tree(f"{base}/source"), exit_timeout=30)
    assert client.is_directory(f"{staging}/tree/deep")
    client.install_staged(staging, f"{base}/servers/x")
    assert client.is_directory(f"{base}/servers/x/deep") and not client.is_directory(staging)
    assert client.disk_usage_mb(f"{base}/servers/x") >= 3
    client.clear_staging(f"{base}/transfers/x", f"{base}/servers/x")
    assert not client.is_directory(f"{base}/servers/x")
    assert client.disk_usage_mb(f"{base}/servers/x") == 0  # missing: nothing used


def test_a_path_is_one_word_never_shell_text(host):
    client, base = host
    tricky = f"{base}/$(touch {base}/pwned); `id` && echo"
    client.make_directories(tricky)
    assert client.is_directory(tricky)
    client.remove_tree(tricky)
    assert not client.is_directory(tricky)
    assert not client.is_directory(f"{base}/pwned") and "pwned" not in client.run(["ls", "-a", base])


def test_the_login_user_and_a_failed_operation(host):
    client, base = host
    assert re.fullmatch(r"\d+:\d+", client.login_user())
    with pytest.raises(NodeCommandFailed):
        client.install_staged(f"{base}/nothing-staged", f"{base}/servers/y")
    assert Path(base).name in client.run(["ls", str(Path(base).parent)])
