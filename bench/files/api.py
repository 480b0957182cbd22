"""The file manager API as a customer's client uses it (contract section "File Management"):
multipart uploads streamed from disk with their length known (as a browser sends them), downloads
streamed to disk, and the archive path for many small files (a tar.gz uploaded and unpacked by a
decompress job; a compress job and the archive downloaded)."""

import itertools
import time
import uuid
from pathlib import Path
from urllib.parse import quote

from bench import adapter
from bench.files import data as dataset
from bench.harness import Aborted

CHUNK = 1024 * 1024


class Multipart:
    """A multipart/form-data body read from files as it is sent: `len()` is known before (so the
    request has a Content-Length, not chunks), `path` comes first, then one `file` part per file."""

    def __init__(self, path: str, files: list[Path]):
        self.boundary = f"hearthbench{uuid.uuid4().hex}"
        self.content_type = f"multipart/form-data; boundary={self.boundary}"
        dash = f"--{self.boundary}\r\n".encode()
        self.pieces: list[bytes | Path] = [
            dash + b'Content-Disposition: form-data; name="path"\r\n\r\n' + path.encode() + b"\r\n"
        ]
        for file in files:
            head = (
                f'Content-Disposition: form-data; name="file"; filename="{file.name}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            )
            self.pieces += [dash + head.encode(), file, b"\r\n"]
        self.pieces.append(f"--{self.boundary}--\r\n".encode())
        self.length = sum(p.stat().st_size if isinstance(p, Path) else len(p) for p in self.pieces)

    def __len__(self) -> int:
        return self.length

    def __iter__(self):
        for piece in self.pieces:
            if isinstance(piece, bytes):
                yield piece
                continue
            with open(piece, "rb") as source:
                while chunk := source.read(CHUNK):
                    yield chunk


class FilesApi:
    """One server's files through the API, as the benchmark's administrator (requests session `http`)."""

    def __init__(self, http, base_url: str, server_id, timeout: float):
        self.http, self.timeout = http, timeout
        self.url = f"{base_url}/api/servers/{server_id}/files"

    def _check(self, response, what: str):
        if response.status_code >= 300:
            raise RuntimeError(f"{what}: HTTP {response.status_code} {response.text[:300]}")
        return response

    def upload(self, directory: str, files: list[Path]) -> None:
        body = Multipart(directory, files)
        response = self.http.post(
            f"{self.url}/upload", data=body, headers={"Content-Type": body.content_type}, timeout=self.timeout
        )
        self._check(response, f"upload of {len(files)} file(s) into {directory}")

    def upload_batches(self, directory: str, files: list[Path], batch: int) -> int:
        """`files` into `directory`, `batch` files per multipart request, one request after the other."""
        for start in range(0, len(files), batch):
            self.upload(directory, files[start : start + batch])
        return len(files)

    def download(self, path: str, local: Path) -> int:
        response = self.http.get(f"{self.url}/download?path={quote(path)}", stream=True, timeout=self.timeout)
        with response:
            self._check(response, f"download of {path}")
            written = 0
            with open(local, "wb") as out:
                for chunk in response.iter_content(CHUNK):
                    out.write(chunk)
                    written += len(chunk)
        return written

    def wait_job(self, job_id) -> None:
        """Until the job (compress, decompress) has finished, polled in the panel's database every 20 ms
        (the browser hears of it over the WebSocket; the poll costs well under a millisecond). The
        endpoints themselves wait up to 10 s and answer 200 once done: then this returns at once."""
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            status, error = adapter.job_outcome(job_id)
            if status == "succeeded":
                return
            if status == "failed":
                raise RuntimeError(f"job {job_id} failed: {error}")
            time.sleep(0.02)
        raise Aborted(f"job {job_id} did not finish within {self.timeout:.0f} s")

    def decompress(self, archive: str, target: str) -> None:
        response = self.http.post(
            f"{self.url}/decompress",
            json={"archivePath": archive, "targetPath": target},
            timeout=self.timeout,
        )
        self.wait_job(_answer(self._check(response, f"decompress {archive}"))["jobId"])

    def compress(self, paths: list[str], name: str) -> str:
        """The archive's path once it is written (the job waited for when the answer names one)."""
        response = self.http.post(
            f"{self.url}/compress",
            json={"paths": paths, "archiveName": name, "format": "tar.gz"},
            timeout=self.timeout,
        )
        answer = _answer(self._check(response, f"compress {paths}"))
        self.wait_job(answer["jobId"])  # 200: done already; 202: still running
        return answer["archivePath"]


def _answer(response) -> dict:
    """The answer's fields (at the top level beside "success", or in "data")."""
    body = response.json()
    return {**body, **(body.get("data") or {})}


def small_up_archive(api: FilesApi, data, directory: str, scratch: Path, remove) -> dict:
    """The customer's way with many files: tar.gz them, upload the archive, have the panel unpack it
    (into `directory`'s parent: the archive holds `small/…`). The clock stops once the files are in
    place; the archive is then removed (`remove`, untimed). Returns the stages and "seconds"."""
    marks = {"t0": time.monotonic()}
    archive = scratch / "small.tar.gz"
    dataset.pack(data.small, archive)
    marks["packed"] = time.monotonic()
    parent = directory.rsplit("/", 1)[0] or "/"
    api.upload(parent, [archive])
    marks["uploaded"] = time.monotonic()
    remote = f"{parent.rstrip('/')}/{archive.name}"
    api.decompress(remote, parent)
    marks["unpacked"] = time.monotonic()
    archive.unlink()
    remove(remote)
    return _stages(marks)


def small_down_archive(api: FilesApi, directory: str, landing: Path, remove) -> tuple[dict, Path]:
    """A compress job, the archive downloaded and unpacked on the client (into `landing`). The clock
    stops once the files are on the client; the archive is removed after. Returns the stages and
    "seconds", and where the files landed (the archive may or may not hold the directory's name)."""
    marks = {"t0": time.monotonic()}
    archive = api.compress([directory], "small-bench.tar.gz")
    marks["compressed"] = time.monotonic()
    local = landing.parent / f"{landing.name}.tar.gz"
    api.download(archive, local)
    marks["downloaded"] = time.monotonic()
    dataset.unpack(local, landing)
    marks["unpacked"] = time.monotonic()
    local.unlink()
    remove(archive)
    inner = landing / directory.rsplit("/", 1)[-1]
    return _stages(marks), inner if inner.is_dir() else landing


def _stages(marks: dict) -> dict:
    names = list(marks)
    stages = {b: round(marks[b] - marks[a], 3) for a, b in itertools.pairwise(names)}
    return {**stages, "seconds": marks[names[-1]] - marks["t0"]}
