"""The panel's peak memory during a large upload and download, measured on a real ASGI server as a
process (on the test database): its peak RSS (VmHWM) may grow by far less than the file's size.

The server is uvicorn, not daphne: daphne cannot stream either way, whatever the app does. Measured
here with this test's transfers of 300 MB: an upload grew daphne's peak RSS by 3.9 GB (Twisted spools
the body to a temporary file, then daphne queues all of it as messages before the app runs), and a
download to a client reading 50 MB/s by 299 MB (daphne writes whatever the app sends into Twisted's
transport buffer: no backpressure). uvicorn: +5 MB and +7 MB. See servers/files/upload_asgi.py."""

import hashlib
import itertools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.db import connection

from tests.fixtures import tokens_for
from tests.fixtures.browser import free_port
from tests.polling import wait_for

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
MB = 1024 * 1024
SIZE = 300 * MB
GROWTH_LIMIT = 80 * MB
BOUNDARY = "hearth-memory-test-boundary"


def peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def pattern(size: int, digest):
    """`size` pseudo-random bytes in 1 MB chunks (no two alike), hashed into `digest` as they are made."""
    block, made = os.urandom(MB), 0
    while made < size:
        chunk = ((made // MB).to_bytes(8, "big") + block[8:])[: size - made]
        digest.update(chunk)
        made += len(chunk)
        yield chunk


class StreamedForm:
    """A multipart body of one file of `size` bytes, made as it is read (never whole)."""

    def __init__(self, size: int, filename: str):
        self.head = (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="path"\r\n\r\n/\r\n'
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        self.tail = f"\r\n--{BOUNDARY}--\r\n".encode()
        self.size, self.digest = size, hashlib.sha256()
        self._parts = itertools.chain([self.head], pattern(size, self.digest), [self.tail])
        self._pending, self._at = memoryview(b""), 0

    def __len__(self):
        return len(self.head) + self.size + len(self.tail)

    def read(self, n: int = -1) -> bytes:
        while self._at >= len(self._pending):
            part = next(self._parts, None)
            if part is None:
                return b""
            self._pending, self._at = memoryview(part), 0
        end = len(self._pending) if n < 0 else self._at + n
        out = bytes(self._pending[self._at : end])
        self._at += len(out)
        return out


@pytest.fixture
def web(transactional_db, tmp_path):
    """The panel's web process on a free port: `web(server)`; its pid and address."""
    procs = []

    def start(*argv: str):
        db = connection.settings_dict
        env = {
            **os.environ,
            "DATABASE_URL": f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "HEARTH_FILES_UPLOAD_MAX_BYTES": str(SIZE + MB),
            "PYTHONUNBUFFERED": "1",
        }
        port = free_port()
        log = open(tmp_path / "web.log", "w")  # noqa: SIM115 - closed with the process
        command = [a.replace("{port}", str(port)) for a in argv]
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
        procs.append((proc, log))
        url = f"http://127.0.0.1:{port}"

        def answers():
            try:
                return requests.get(f"{url}/api/health", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        wait_for(
            answers, 60, lambda: f"the web process on {url}: {(tmp_path / 'web.log').read_text()[-2000:]}"
        )
        return proc.pid, url

    yield start
    for proc, log in procs:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


def warm_up(url: str, server, headers: dict) -> None:
    """Every module a transfer needs imported (and the helper started) before the baseline."""
    files_url = f"{url}/api/servers/{server.pk}/files"
    warm = requests.post(
        f"{files_url}/upload", files={"file": ("warm.txt", b"warm")}, headers=headers, timeout=60
    )
    assert warm.status_code == 200, warm.text
    assert (
        requests.get(
            f"{files_url}/download", params={"path": "/warm.txt"}, headers=headers, timeout=60
        ).content
        == b"warm"
    )


def upload(url: str, server, headers: dict) -> str:
    """Upload SIZE bytes as world.bin; their sha256."""
    form = StreamedForm(SIZE, "world.bin")
    answer = requests.post(
        f"{url}/api/servers/{server.pk}/files/upload",
        data=form,
        headers={**headers, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
        timeout=300,
    )
    assert answer.status_code == 200, answer.text
    return form.digest.hexdigest()


def download(url: str, server, headers: dict, *, pause: float = 0.0) -> str:
    """Download world.bin (SIZE bytes) as a client reading 1 MB at a time, `pause` seconds after
    each (slower than the node: the panel must wait for the client, not buffer); its sha256."""
    digest, received = hashlib.sha256(), 0
    with requests.get(
        f"{url}/api/servers/{server.pk}/files/download",
        params={"path": "/world.bin"},
        headers=headers,
        stream=True,
        timeout=300,
    ) as answer:
        assert answer.status_code == 200
        assert answer.headers["Content-Length"] == str(SIZE)
        for chunk in answer.iter_content(MB):
            digest.update(chunk)
            received += len(chunk)
            time.sleep(pause)
    assert received == SIZE
    return digest.hexdigest()


UVICORN = [
    str(BIN / "uvicorn"),
    "--host",
    "127.0.0.1",
    "--port",
    "{port}",
    "--http",
    "h11",
    "config.asgi:application",
]


def test_a_300_mb_upload_and_a_slow_download_stream_through_uvicorn(files_server, customer, web):
    server = files_server()
    pid, url = web(*UVICORN)
    headers = {"Authorization": f"Bearer {tokens_for(customer)['token']}"}
    warm_up(url, server, headers)
    before = peak_rss(pid)
    sent = upload(url, server, headers)
    after_upload = peak_rss(pid)
    assert download(url, server, headers, pause=0.02) == sent
    after_download = peak_rss(pid)
    print(
        f"uvicorn: peak RSS +{(after_upload - before) / MB:.1f} MB upload, +{(after_download - after_upload) / MB:.1f} MB download"
    )
    assert after_upload - before < GROWTH_LIMIT
    assert after_download - after_upload < GROWTH_LIMIT
