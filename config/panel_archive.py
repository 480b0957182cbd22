"""The panel backup archive (`manage.py panel_backup` / `panel_restore`): one tar.gz holding a manifest, the
database, the settings the data depends on and the var files that matter.

Writing is all or nothing: the archive is built in a 0600 temporary file beside its destination and only
linked into place once complete, so a failed backup leaves nothing that looks like one. Reading treats the
archive as hostile: only the expected names, only regular files, each at most its size limit, no name
twice, every member's sha256 matching the manifest, the gzip stream read to its end (its CRC is checked
there). Members are copied by name into a private directory; tarfile never extracts anything itself."""

import hashlib
import json
import os
import tarfile
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

FORMAT = "hearth-panel-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SETTINGS_ENV = "settings.env"
DATABASE_FILES = {"postgresql": "database.pgdump", "sqlite": "database.sqlite3"}
VAR_FILES = ("var/secret_key", "var/sftp_host_key")

MiB = 1024 * 1024
# A member over its limit is refused before a byte of it is written out (a hostile archive's 1 TB header).
SIZE_LIMITS = {
    MANIFEST: 4 * MiB,
    SETTINGS_ENV: MiB,
    **{name: MiB for name in VAR_FILES},
    **{name: 256 * 1024 * MiB for name in DATABASE_FILES.values()},
}
CHUNK = MiB
_REGULAR = (tarfile.REGTYPE, tarfile.AREGTYPE)


class ArchiveError(Exception):
    """The archive cannot be written, or is not one this panel can restore (the message says why)."""


@dataclass
class Archive:
    """A verified archive: its manifest, and each member copied into a private directory."""

    manifest: dict
    files: dict[str, Path]

    @property
    def vendor(self) -> str:
        return self.manifest["database"]["vendor"]

    @property
    def database(self) -> Path:
        return self.files[DATABASE_FILES[self.vendor]]

    def text(self, name: str) -> str | None:
        path = self.files.get(name)
        return path.read_text(encoding="utf-8") if path else None


def sha256_of(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def write_archive(destination: Path, manifest: dict, files: dict[str, Path]) -> int:
    """Write `files` (archive name: staged path) and the manifest, with each file's sha256 and size, to
    `destination`, which must not exist yet. Returns the archive's size in bytes."""
    unknown = set(files) - set(SIZE_LIMITS) - {MANIFEST}
    if unknown:
        raise ArchiveError(f"not archive members: {sorted(unknown)}")  # a programming error, said plainly
    manifest = {
        **manifest,
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "files": {
            name: {"sha256": sha256_of(path), "size": path.stat().st_size} for name, path in files.items()
        },
    }
    body = json.dumps(manifest, indent=2, sort_keys=True).encode()
    fd, partial = tempfile.mkstemp(dir=destination.parent, prefix=".hearth-panel-", suffix=".partial")
    try:
        with os.fdopen(fd, "wb") as raw:
            with tarfile.open(fileobj=raw, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
                _add(tar, MANIFEST, len(body), _BytesReader(body))
                for name, path in files.items():
                    with open(path, "rb") as handle:
                        _add(tar, name, path.stat().st_size, handle)
            raw.flush()
            os.fsync(raw.fileno())
        _publish(Path(partial), destination)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return destination.stat().st_size


class _BytesReader:
    def __init__(self, data: bytes):
        self.data, self.offset = data, 0

    def read(self, size: int = -1) -> bytes:
        end = len(self.data) if size < 0 else self.offset + size
        chunk, self.offset = self.data[self.offset : end], min(end, len(self.data))
        return chunk


def _add(tar: tarfile.TarFile, name: str, size: int, handle) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.type = size, 0o600, tarfile.REGTYPE
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = int(time.time())
    tar.addfile(info, handle)


def _publish(partial: Path, destination: Path) -> None:
    """Put the complete archive at `destination` without ever replacing an existing file."""
    try:
        os.link(partial, destination)  # fails if destination exists, atomically
    except FileExistsError:
        raise ArchiveError(f"{destination} already exists: choose another --output") from None
    except OSError:  # a file system without hard links (some bind mounts): rename instead
        if destination.exists():
            raise ArchiveError(f"{destination} already exists: choose another --output") from None
        os.replace(partial, destination)
    else:
        partial.unlink()
    directory = os.open(destination.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def read_archive(path: Path, workdir: Path) -> Archive:
    """Verify the archive at `path` completely and copy its members into `workdir` (which must be private
    and empty). Raises ArchiveError naming the first problem; nothing outside `workdir` is written."""
    try:
        tar = tarfile.open(path, mode="r:gz")  # noqa: SIM115 - closed by the `with tar` below
    except FileNotFoundError:
        raise ArchiveError(f"{path} does not exist") from None
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise ArchiveError(f"{path} is not a panel backup (a tar.gz archive): {exc}") from None
    found: dict[str, tuple[Path, str]] = {}
    with tar:
        try:
            while (member := tar.next()) is not None:
                _check_member(member, found)
                found[member.name] = _copy_member(tar, member, workdir)
            while tar.fileobj.read(CHUNK):  # to the gzip trailer, whose CRC and length are checked
                pass
        except ArchiveError:
            raise
        except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
            raise ArchiveError(f"{path} is damaged or truncated: {exc}") from None
    if MANIFEST not in found:
        raise ArchiveError(f"{path} has no {MANIFEST}: it is not a panel backup made by panel_backup")
    manifest = _load_manifest(found.pop(MANIFEST)[0])
    listed = manifest["files"]
    if missing := sorted(set(listed) - set(found)):
        raise ArchiveError(
            f"the archive lacks {', '.join(missing)}, which its manifest lists: it is incomplete"
        )
    if extra := sorted(set(found) - set(listed)):
        raise ArchiveError(f"the archive holds {', '.join(extra)}, which its manifest does not list")
    for name, (_, digest) in sorted(found.items()):
        if digest != listed[name]["sha256"]:
            raise ArchiveError(
                f"{name} does not match its checksum in the manifest: the archive is damaged or altered"
            )
    archive = Archive(manifest=manifest, files={name: copied for name, (copied, _) in found.items()})
    if DATABASE_FILES[archive.vendor] not in archive.files:
        raise ArchiveError(
            f"the archive has no {DATABASE_FILES[archive.vendor]} (its manifest says {archive.vendor})"
        )
    if SETTINGS_ENV not in archive.files:
        raise ArchiveError(f"the archive has no {SETTINGS_ENV}")
    return archive


def _check_member(member: tarfile.TarInfo, found: dict) -> None:
    name = member.name
    if name.startswith("/") or PurePosixPath(name).is_absolute():
        raise ArchiveError(f"refused: the archive holds an absolute name ({name!r})")
    if ".." in PurePosixPath(name).parts or "\\" in name or "\x00" in name:
        raise ArchiveError(f"refused: the archive holds a name that leaves its directory ({name!r})")
    if member.type not in _REGULAR:
        kind = (
            "a symbolic link" if member.issym() else "a hard link" if member.islnk()
            else "a directory" if member.isdir() else "a device" if member.isdev() else "not a regular file"
        )  # fmt: skip
        raise ArchiveError(f"refused: {name!r} is {kind}; a panel backup holds regular files only")
    if name not in SIZE_LIMITS:
        raise ArchiveError(f"refused: {name!r} is not a member of a panel backup")
    if name in found:
        raise ArchiveError(f"refused: {name!r} appears twice in the archive")
    if member.size > SIZE_LIMITS[name]:
        raise ArchiveError(f"refused: {name!r} is {member.size} bytes, over its limit of {SIZE_LIMITS[name]}")


def _copy_member(tar: tarfile.TarFile, member: tarfile.TarInfo, workdir: Path) -> tuple[Path, str]:
    target = workdir / member.name.replace("/", "__")
    source = tar.extractfile(member)
    digest, written = hashlib.sha256(), 0
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        while chunk := source.read(CHUNK):
            written += len(chunk)
            digest.update(chunk)
            out.write(chunk)
    if written != member.size:
        raise ArchiveError(
            f"{member.name} ends after {written} of its {member.size} bytes: the archive is truncated"
        )
    return target, digest.hexdigest()


def _load_manifest(path: Path) -> dict:
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ArchiveError(f"{MANIFEST} is not valid JSON: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArchiveError(f"{MANIFEST} is not a panel backup's manifest")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise ArchiveError(
            f"the archive is in format {version!r}; this Hearth reads format {FORMAT_VERSION}: "
            "restore it with the Hearth version that made it (its manifest says which) or a newer one"
        )
    database, files, migrations = manifest.get("database"), manifest.get("files"), manifest.get("migrations")
    if not isinstance(database, dict) or database.get("vendor") not in DATABASE_FILES:
        raise ArchiveError(f"{MANIFEST} names no database this panel restores (PostgreSQL or SQLite)")
    if not isinstance(files, dict) or not all(
        name in SIZE_LIMITS and name != MANIFEST and isinstance(entry, dict)
        and isinstance(entry.get("sha256"), str) and len(entry["sha256"]) == 64
        for name, entry in files.items()
    ):  # fmt: skip
        raise ArchiveError(f"{MANIFEST} lists its files wrongly")
    if not isinstance(migrations, dict) or not all(
        isinstance(app, str) and isinstance(names, list) and all(isinstance(n, str) for n in names)
        for app, names in migrations.items()
    ):
        raise ArchiveError(f"{MANIFEST} lists its migrations wrongly")
    return manifest
