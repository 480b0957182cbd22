"""The files the benchmark moves, made once per run on the client's side (random bytes, so that no
compression anywhere can shorten a transfer), and the checks that what came back is what went out."""

import hashlib
import os
import random
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path

from bench.files.common import MB

CHUNK = 1024 * 1024


@dataclass
class DataSet:
    """`big`: one file of `big_bytes`; `small`: a directory of `len(sizes)` files named f00000.bin…"""

    root: Path
    big_bytes: int
    sizes: dict[str, int]
    big_sha256: str = ""
    small_sha256: str = ""

    @property
    def big(self) -> Path:
        return self.root / "source" / "big.bin"

    @property
    def small(self) -> Path:
        return self.root / "source" / "small"

    @property
    def small_bytes(self) -> int:
        return sum(self.sizes.values())

    def landing(self, name: str) -> Path:
        """An empty directory for a download to land in (the previous one removed first)."""
        path = self.root / "landing" / name
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path

    def clear_landing(self) -> None:
        shutil.rmtree(self.root / "landing", ignore_errors=True)


def make(root: Path, *, big_mb: int, files: int, min_kb: int, max_kb: int, seed: int = 12) -> DataSet:
    """Write the data set under `root` (sizes drawn from a seeded generator, contents from urandom)."""
    rng = random.Random(seed)  # noqa: S311 - sizes, not secrets
    sizes = {f"f{i:05d}.bin": rng.randint(min_kb * 1024, max_kb * 1024) for i in range(files)}
    data = DataSet(root=root, big_bytes=big_mb * MB, sizes=sizes)
    data.small.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with open(data.big, "wb") as out:
        for _ in range(big_mb):
            chunk = os.urandom(CHUNK)
            digest.update(chunk)
            out.write(chunk)
    data.big_sha256 = digest.hexdigest()
    for name, size in sizes.items():
        (data.small / name).write_bytes(os.urandom(size))
    data.small_sha256 = tree_digest(data.small)
    return data


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def tree_digest(directory: Path) -> str:
    """One digest over every file's name and contents (sorted by name; subdirectories not expected)."""
    digest = hashlib.sha256()
    for path in sorted(directory.iterdir()):
        digest.update(path.name.encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def check_big(data: DataSet, path: Path) -> str:
    """'' when `path` is the big file, else what is wrong."""
    if not path.is_file():
        return f"{path.name} did not arrive"
    if path.stat().st_size != data.big_bytes:
        return f"{path.name} has {path.stat().st_size} bytes, not {data.big_bytes}"
    return "" if file_digest(path) == data.big_sha256 else f"{path.name}'s contents differ"


def check_small(data: DataSet, directory: Path) -> str:
    """'' when `directory` holds exactly the small files, else what is wrong."""
    if not directory.is_dir():
        return f"{directory.name}/ did not arrive"
    names = {p.name for p in directory.iterdir()}
    if names != set(data.sizes):
        missing, extra = len(set(data.sizes) - names), len(names - set(data.sizes))
        return f"{directory.name}/: {missing} files missing, {extra} unexpected"
    return "" if tree_digest(directory) == data.small_sha256 else f"{directory.name}/: contents differ"


def pack(directory: Path, archive: Path) -> None:
    """A tar.gz of `directory` (its entries under the directory's name), as a customer would make one."""
    with tarfile.open(archive, "w:gz", compresslevel=6) as tar:
        tar.add(directory, arcname=directory.name)


def unpack(archive: Path, into: Path) -> None:
    with tarfile.open(archive, "r:*") as tar:
        tar.extractall(into, filter="data")
