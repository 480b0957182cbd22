"""The race a realpath-then-open implementation loses: another process keeps exchanging a directory of
the server's for a symlink to a host directory (atomically, renameat2 RENAME_EXCHANGE, thousands of
times) while the API reads, writes, lists, chmods, creates and deletes through that path. The host
directory holds the same names as the server's, so a single escape would show: its contents, modes and
secret must stay untouched and nothing of it may come back in an answer. On the local and the SSH node."""

import os
import subprocess
import sys
import time

import pytest

from nodes.client import FileRefused
from servers import runtime
from servers.files.helper import helper_for, session

ENGINES = [(1, "unix"), (2, "ssh")]
SECONDS = 3.5

SWAPPER = r"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD, RENAME_EXCHANGE = -100, 2
swap, alternate, stop = (arg.encode() for arg in sys.argv[1:4])
count = 0
while not os.path.exists(stop):
    if libc.renameat2(AT_FDCWD, swap, AT_FDCWD, alternate, RENAME_EXCHANGE) != 0:
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error))
    count += 1
print(count)
"""


def url(server, tail: str = "") -> str:
    return f"/api/servers/{server.pk}/files{tail}"


@pytest.fixture
def outside(tmp_path):
    top = tmp_path / "outside"
    top.mkdir()
    (top / "inner").write_text("host secret\n")
    (top / "victim").write_text("host victim\n")
    (top / "only-outside").write_text("host only\n")
    os.chmod(tmp_path, 0o755)  # noqa: S103 - readable by the SSH node's user
    os.chmod(top, 0o777)  # noqa: S103 - writable by anyone: only containment protects it
    for name in ("inner", "victim", "only-outside"):
        os.chmod(top / name, 0o666)  # noqa: S103
    return str(top)


def state(top: str) -> dict:
    seen = {}
    for name in sorted(os.listdir(top)):
        path = os.path.join(top, name)
        with open(path, "rb") as handle:
            seen[name] = (os.lstat(path).st_mode, handle.read())
    return seen


def plant(server, outside: str) -> tuple[str, str]:
    """/swap, a directory of the server's with the outside's names in it, and /swap-link beside it."""
    top = runtime.server_dir(server)
    owner = os.stat(top)
    swap, alternate = os.path.join(top, "swap"), os.path.join(top, "swap-link")
    os.mkdir(swap)
    for name in ("inner", "victim"):
        with open(os.path.join(swap, name), "w") as handle:
            handle.write(f"server {name}\n")
    for path in (swap, *(os.path.join(swap, n) for n in os.listdir(swap))):
        os.lchown(path, owner.st_uid, owner.st_gid)
    os.symlink(outside, alternate)
    os.lchown(alternate, owner.st_uid, owner.st_gid)
    return swap, alternate


def operations(api, server):
    """One round of every operation through /swap; the answers (for what must never leak)."""
    put = url(server, "/content") + "?path=/swap/victim"
    yield api.get(url(server, "/content"), {"path": "/swap/inner"})
    yield api.get(url(server), {"path": "/swap"})
    yield api.put(put, {"content": "written by the api\n"}, format="json")
    yield api.post(url(server, "/chmod"), {"path": "/swap/victim", "mode": "600"}, format="json")
    yield api.post(url(server, "/chmod"), {"path": "/swap", "mode": "700"}, format="json")
    yield api.post(url(server, "/create"), {"path": "/swap/made/new", "content": "new\n"}, format="json")
    yield api.post(url(server, "/rename"), {"from": "/swap/inner", "to": "/swap/renamed"}, format="json")
    yield api.post(url(server, "/rename"), {"from": "/swap/renamed", "to": "/swap/inner"}, format="json")
    yield api.post(url(server, "/copy"), {"from": "/swap/victim", "to": "/swap/copied"}, format="json")
    yield api.delete(url(server) + "?path=/swap/copied")
    yield api.delete(url(server) + "?path=/swap/made")
    yield api.delete(url(server) + "?path=/swap/victim")


def hammer_one_session(server, *, seconds: float) -> tuple[int, int]:
    """The same through one FileSession (a millisecond an operation, so thousands of them): reads of
    /swap/inner never return the host's secret, whatever else happens. Rounds done, and operations that
    succeeded (so reached the server's own directory)."""
    mount = helper_for(server).mount
    rounds = reached = 0
    with session(server) as files:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            rounds += 1
            for step in (
                lambda: b"".join(files.read(f"{mount}/swap/inner")),
                lambda: files.write(f"{mount}/swap/victim", [b"written\n"]),
                lambda: files.chmod(f"{mount}/swap/victim", 0o600),
                lambda: [e.name for e in files.list(f"{mount}/swap")],
                lambda: files.remove(f"{mount}/swap/victim"),
            ):
                try:
                    result = step()
                except FileRefused:
                    continue
                reached += 1  # through the server's own directory: /swap was a link outside meanwhile
                if isinstance(result, bytes):
                    assert b"host" not in result
                elif isinstance(result, list):
                    assert "only-outside" not in result
    return rounds, reached


@pytest.mark.parametrize(("engine", "via"), ENGINES)
def test_swapping_a_directory_for_a_link_never_lets_an_operation_out(
    files_server, client_for, customer, outside, tmp_path, engine, via
):
    server = files_server(engine, via)
    api = client_for(customer)
    assert api.get(url(server)).status_code == 200  # the helper and the directory exist
    swap, alternate = plant(server, outside)
    before = state(outside)
    stop = tmp_path / "stop"
    swapper = subprocess.Popen(
        [sys.executable, "-c", SWAPPER, swap, alternate, str(stop)], stdout=subprocess.PIPE, text=True
    )
    statuses: dict[int, int] = {}
    try:
        deadline = time.monotonic() + SECONDS
        while time.monotonic() < deadline:
            for answer in operations(api, server):
                statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
                for leaked in (b"host secret", b"host victim", b"only-outside", b"host only"):
                    assert leaked not in answer.content, answer.content
        session_rounds = hammer_one_session(server, seconds=2.0)
    finally:
        stop.touch()
        out, _ = swapper.communicate(timeout=30)
    assert swapper.returncode == 0
    assert int(out) >= 2000, f"the swapper only exchanged {out.strip()} times"
    assert set(statuses) <= {200, 400, 404, 409}, statuses  # no 500: every race outcome is a clean refusal
    rounds, reached = session_rounds
    assert rounds > 20 and reached > 0  # operations did reach the server's directory: the race was real
    assert state(outside) == before
