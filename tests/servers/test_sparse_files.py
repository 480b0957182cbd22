"""Sparse files on the real nodes: a `truncate -s 8G` config file is skipped unread (by its apparent
size, never streamed), and counts whole against the disk limit."""

import os
import resource
import subprocess
import time
from pathlib import Path

import pytest

from servers.disk import server_check_disk
from servers.models import Server
from tests.servers.conftest import wait_status
from tests.servers.test_lifecycle import create, lines

S = Server.Status
ENGINES = [(1, "unix"), (2, "ssh")]


def directory_of(server: Server) -> Path:
    return Path(server.node.data_dir) / "servers" / str(server.pk)


def sparse(path: Path, size: str = "8G") -> None:
    subprocess.run(["truncate", "-s", size, str(path)], check=True)
    owner = path.parent.stat()
    os.chown(path, owner.st_uid, owner.st_gid)


def installed(client_for, customer, game_node, game_template, engine, via, **extra) -> Server:
    server = create(client_for(customer), game_node(engine, via), game_template, install=True, **extra)
    assert wait_status(server, S.STOPPED, S.INSTALL_FAILED).status == S.STOPPED, server.status_reason
    return server


def max_rss_mb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


@pytest.mark.parametrize(("engine", "via"), ENGINES)
def test_a_sparse_8_gb_config_file_is_skipped_unread_and_the_server_starts(
    client_for, customer, game_node, game_template, monitor, engine, via
):
    # A file the test game does not read itself (it reads server.properties line by line, and would
    # hold 8 GB of zeros without a newline): what is measured is the panel.
    game_template.config_files = [
        {"path": "plugin.properties", "parser": "properties", "replace": {"a": "b"}}
    ]
    game_template.save()
    server = installed(client_for, customer, game_node, game_template, engine, via)
    properties = directory_of(server) / "plugin.properties"
    sparse(properties)
    rss_before, started = max_rss_mb(), time.monotonic()
    assert client_for(customer).post(f"/api/servers/{server.pk}/start").status_code == 200
    server = wait_status(server, S.RUNNING, S.CRASHED, timeout=30)
    assert server.status == S.RUNNING, server.status_reason
    assert time.monotonic() - started < 20
    assert max_rss_mb() - rss_before < 64  # the old rewriter held the whole file, several times over
    assert (
        "Skipped config file plugin.properties: it is 8.0 GB, over the 4.0 MB the panel rewrites "
        "(HEARTH_CONFIG_FILE_MAX_BYTES)." in lines(server)
    )
    assert properties.stat().st_size == 8 * 1024**3 and properties.stat().st_blocks == 0  # untouched


def test_config_files_up_to_the_cap_are_rewritten_and_one_byte_more_is_skipped(
    client_for, customer, game_node, game_template, monitor, settings
):
    settings.CONFIG_FILE_MAX_BYTES = 4096
    api = client_for(customer)
    server = installed(client_for, customer, game_node, game_template, 2, "ssh")
    properties = directory_of(server) / "server.properties"
    for size, rewritten in ((4096, True), (4097, False)):
        body = b"motd=old\n"
        properties.write_bytes(body + b"#" * (size - len(body) - 1) + b"\n")
        os.chown(properties, properties.parent.stat().st_uid, properties.parent.stat().st_gid)
        api.post(f"/api/servers/{server.pk}/start")
        wait_status(server, S.RUNNING)
        text = properties.read_text()
        assert ("motd=hello" in text) is rewritten, (size, text[:40])
        api.post(f"/api/servers/{server.pk}/stop")
        wait_status(server, S.STOPPED)
    assert "Skipped config file server.properties: it is 4.0 KB, over the 4.0 KB" in lines(server)


@pytest.mark.parametrize(("engine", "via"), ENGINES)
def test_a_directory_or_a_link_at_a_config_path_is_skipped_without_being_archived(
    client_for, customer, game_node, game_template, monitor, engine, via
):
    server = installed(client_for, customer, game_node, game_template, engine, via)
    properties = directory_of(server) / "server.properties"
    properties.symlink_to("/etc/passwd")
    os.lchown(properties, properties.parent.stat().st_uid, properties.parent.stat().st_gid)
    client_for(customer).post(f"/api/servers/{server.pk}/start")
    assert wait_status(server, S.RUNNING, S.CRASHED).status == S.RUNNING, server.status_reason
    assert "Skipped config file server.properties: it is not a regular file." in lines(server)
    assert properties.is_symlink() and os.readlink(properties) == "/etc/passwd"


@pytest.mark.parametrize(("engine", "via"), ENGINES)
def test_a_sparse_file_counts_at_its_apparent_size_against_the_disk_limit(
    client_for, customer, game_node, game_template, monitor, engine, via
):
    server = installed(client_for, customer, game_node, game_template, engine, via, allocatedDiskMb=512)
    sparse(directory_of(server) / "world.dat")
    used = server_check_disk(server=Server.objects.get(pk=server.pk))
    assert used >= 8192
    assert Server.objects.get(pk=server.pk).disk_usage_mb == used
    assert f"Warning: the server uses {used} MB of its 512 MB disk." in lines(server)


def test_many_tiny_files_still_count_by_the_blocks_they_take(
    client_for, customer, game_node, game_template, monitor
):
    server = installed(client_for, customer, game_node, game_template, 1, "unix")
    tiny = directory_of(server) / "tiny"
    tiny.mkdir()
    for index in range(3000):  # 3000 bytes of data in 3000 blocks of 4 KB: ~12 MB taken
        (tiny / str(index)).write_bytes(b"x")
    assert server_check_disk(server=Server.objects.get(pk=server.pk)) >= 11


def test_a_directory_the_game_made_unreadable_still_counts(
    client_for, customer, game_node, game_template, monitor
):
    """The game runs as the node's login user, as `du` does: a directory it filled and then shut
    (`chmod 000`) would be skipped, and the files in it would pass the disk limit."""
    from nodes.client import client_for as node_client_for

    server = installed(client_for, customer, game_node, game_template, 2, "ssh")
    hide = "mkdir -p hidden/deeper && head -c 6M /dev/zero > hidden/deeper/w.dat && chmod 000 hidden/deeper hidden"
    node = node_client_for(server.node)
    node.run(["sh", "-c", f'cd "$1" && {hide}', "hide", str(directory_of(server))])
    assert server_check_disk(server=Server.objects.get(pk=server.pk)) >= 6
