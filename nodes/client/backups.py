"""Backups of a server's files, made and restored on its node by short-lived contained containers.

Each operation runs a bash script (backups_scripts.py) in a container of the tools image
(tools_image.py: the panel's own bash, GNU tar, zstd, gzip and coreutils, imported over the node's
connection, never pulled), with the containment of the files helper (files.py says why): network
none, every capability dropped, no-new-privileges, a read-only root, the game's uid:gid, and only the
two directories the operation needs mounted: the server's directory at the template's data path
(read-only for a backup) and the server's backup directory `<data_dir>/backups/<uuid>` at /backups
(read-only for a restore). Both are made and checked on the node before each mount, as servers/mounts.py
does for a server's directory (the engine follows links in a bind mount's source).

An archive gets its final name only when complete, with its sha256 computed as it is written; a
restore checks that sha256 before it touches a file, extracts into a staging directory inside the
server's directory and then swaps it in, the originals put back on any failure. A crafted archive
(an S3 object someone replaced and whose checksum they also forged) meets GNU tar's own guards and, past
them, a container that sees nothing of the node. The container goes when the operation ends.
"""

import contextlib
import posixpath
import re
import time
import uuid
from dataclasses import dataclass

import docker.errors

from nodes.client import backups_scripts as scripts
from nodes.client.files_stream import CHUNK, ExecStream
from nodes.client.tools_image import PATH, ToolsImageMissing, tools_archive, tools_tag

BACKUP_LABEL = "hearth.backup"  # value: the server's uuid
ARCHIVE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
COMPRESSIONS = ("zstd", "gzip")
_READ_TIMEOUT = 6 * 3600.0  # one read of a script's output: tar may be silent for as long as it works
# A container's life at most: its idle main process ends then, and the operation in it with it, so a
# worker killed midway leaves nothing running for long (the next operation removes what stopped).
OPERATION_LIFETIME_SECONDS = 12 * 3600
_MEMORY = "2g"
# A temporary archive untouched this long is a killed run's (a live one is written to all the time).
_STALE_MINUTES = 30


@dataclass(frozen=True)
class BackupTarget:
    """Where one server's backups happen on its node: `server_dir` appears at `mount` (the template's
    data path), `backup_dir` at /backups; the containers run as `owner` ("uid:gid")."""

    server_id: str
    server_dir: str
    backup_dir: str
    mount: str
    owner: str
    disk_limit_mb: int = 0  # what a restore's files may take at most (0: no limit)


@dataclass(frozen=True)
class ArchiveMade:
    size_bytes: int
    sha256: str  # hex


class BackupFailed(Exception):
    """An archive could not be made, read, received, restored or removed; `reason` says why."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


class BackupCorrupt(BackupFailed):
    """The archive is not the one recorded (its sha256 differs) or is gone: nothing was touched."""


class BackupBusy(BackupFailed):
    """Another backup or restore of the same server is still running on its node (a worker killed
    midway leaves its container working: `backup_stop_all` ends it)."""


def _check_name(name: str) -> str:
    if not ARCHIVE_NAME.match(name):
        raise BackupFailed(f"Refusing the archive name {name!r}: letters, digits, '.', '_' and '-' only.")
    return name


def _check_compression(compression: str) -> str:
    if compression not in COMPRESSIONS:
        raise BackupFailed(f"Unknown compression {compression!r}: use {' or '.join(COMPRESSIONS)}.")
    return compression


def _check_patterns(excludes) -> list[str]:
    patterns = [str(pattern) for pattern in excludes]
    for pattern in patterns:
        if not pattern or "\0" in pattern or "\n" in pattern or len(pattern) > 500:
            raise BackupFailed(f"Refusing the ignore pattern {pattern!r}.")
    return patterns


def _temporary(name: str) -> str:
    return f".tmp-{uuid.uuid4().hex[:12]}-{name}"


class _Run:
    """One script's exec in a backup container: its stdout as chunks, its exit code at the end."""

    def __init__(self, client, container: str, stream: ExecStream, exec_id: str):
        self.client, self.container, self.stream, self.exec_id = client, container, stream, exec_id

    def chunks(self):
        while chunk := self.stream.recv(CHUNK):
            yield chunk

    def output(self) -> str:
        return b"".join(self.chunks()).decode(errors="replace")

    def exit_code(self) -> int:
        api = self.client._api
        deadline = time.monotonic() + 30
        while True:
            with self.client.guard("reading a backup's outcome", container=self.container):
                state = api.exec_inspect(self.exec_id)
            if not state.get("Running") or time.monotonic() > deadline:
                return state.get("ExitCode") if state.get("ExitCode") is not None else -1
            time.sleep(0.05)

    def reason(self) -> str:
        """The last lines of the script's stderr (tar names the member it refused)."""
        lines = self.stream.stderr.decode(errors="replace").strip().splitlines()[-4:]
        return "; ".join(line.removeprefix("tar: ") for line in lines)[-600:] or "no reason given"

    def finish(self, doing: str) -> None:
        """BackupCorrupt or BackupFailed when the script did not exit 0."""
        code = self.exit_code()
        if code in (scripts.CORRUPT, scripts.MISSING):
            raise BackupCorrupt(f"{doing}: {self.reason()}")
        if code != 0:
            raise BackupFailed(f"{doing} failed (exit {code}): {self.reason()}")


class ArchiveStream:
    """The chunks of an archive being made or read, and `close` to end it early (the container goes).
    Iterating to the end raises BackupFailed if the script failed: a short stream is never complete."""

    def __init__(self, client, container: str, run: _Run, doing: str):
        self.client, self.container, self.run, self.doing = client, container, run, doing

    def __iter__(self):
        try:
            yield from self.run.chunks()
            self.run.finish(self.doing)
        finally:
            self.close()

    def close(self) -> None:
        self.run.stream.close()
        self.client._remove_quietly(self.container)


class Backups:
    """The backups half of NodeClient (mixed into it; guard, _api, has_image, run and the container
    calls from the others)."""

    # ---- The operations ----

    def backup_write(self, target: BackupTarget, name: str, *, compression: str, excludes=()) -> ArchiveMade:
        """Archive the server's directory as `name` in its backup directory."""
        argv = [_check_compression(compression), _temporary(_check_name(name)), name, target.mount]
        with self._backup_container(target, data="ro", backups="rw") as container:
            run = self._script(container, target, scripts.WRITE, [*argv, *_check_patterns(excludes)])
            return _made(run.output(), run, "making the backup")

    def backup_stream(self, target: BackupTarget, *, compression: str, excludes=()) -> ArchiveStream:
        """The archive of the server's directory, as it is made (for S3: no copy on the node)."""
        argv = [_check_compression(compression), target.mount, *_check_patterns(excludes)]
        return self._streaming(
            target, scripts.STREAM, argv, data="ro", backups=None, doing="making the backup"
        )

    def backup_read(self, target: BackupTarget, name: str) -> ArchiveStream:
        """The bytes of the archive `name` (BackupCorrupt at the end when it is missing)."""
        argv = [_check_name(name)]
        return self._streaming(
            target, scripts.READ, argv, data=None, backups="ro", doing="reading the backup"
        )

    def backup_receive(
        self, target: BackupTarget, name: str, chunks, *, max_bytes: int = 0, sha256: str = ""
    ) -> ArchiveMade:
        """Write `chunks` as the archive `name` (under a temporary name until the last one is in).
        With `max_bytes` and `sha256` (the recorded ones), BackupCorrupt when more arrive (the rest is
        not read) or the sha256 differs: the archive never gets its name then."""
        if sha256 and not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise BackupCorrupt(f"The backup has no valid checksum recorded ({sha256!r}).")
        argv = [_temporary(_check_name(name)), name, str(max(0, int(max_bytes))), sha256 or "-"]
        with self._backup_container(target, data=None, backups="rw") as container:
            run = self._script(container, target, scripts.RECEIVE, argv, stdin=True)
            sent = 0
            with self.guard("sending a backup", container=container):
                for chunk in chunks:
                    if max_bytes and sent + len(chunk) > max_bytes:
                        # One byte over is enough for the script to refuse it (and remove its file).
                        run.stream.send(chunk[: max_bytes + 1 - sent])
                        break
                    sent += len(chunk)
                    run.stream.send(chunk)
                run.stream.close_stdin()
            return _made(run.output(), run, "receiving the backup")

    def backup_restore(self, target: BackupTarget, name: str, *, compression: str, sha256: str) -> None:
        """Replace the server's files by the archive's, once its sha256 is `sha256` (BackupCorrupt,
        nothing touched, otherwise). On any failure the original files are in place."""
        if not re.fullmatch(r"[0-9a-f]{64}", sha256 or ""):
            raise BackupCorrupt(f"The backup has no valid checksum recorded ({sha256!r}): not restoring it.")
        argv = [
            _check_compression(compression),
            _check_name(name),
            sha256,
            target.mount,
            uuid.uuid4().hex[:12],
            str(max(0, int(target.disk_limit_mb)) * 1024 * 1024),
        ]
        with self._backup_container(target, data="rw", backups="ro") as container:
            run = self._script(container, target, scripts.RESTORE, argv)
            run.output()
            run.finish("restoring the backup")

    def backup_remove(self, target: BackupTarget, name: str) -> None:
        """Remove the archive `name` (and any temporary one a killed run left); a missing one is fine.
        On the node's host: its backup directory is the panel's, never mounted into a game."""
        self.run(["rm", "-f", "--", posixpath.join(target.backup_dir, _check_name(name))])

    def backup_remove_all(self, target: BackupTarget) -> None:
        """Remove the server's backup directory and every archive in it (its server is deleted)."""
        self._check_backup_dir(target)
        self.run(["rm", "-rf", "--", target.backup_dir])

    def backup_clean_temporary(
        self, target: BackupTarget, *, older_than_minutes: int = _STALE_MINUTES
    ) -> None:
        """Remove the temporary archives that killed runs left (never a complete one); 0 removes them
        all (once backup_stop_all has ended every operation of the server)."""
        age = ["-mmin", f"+{int(older_than_minutes)}"] if older_than_minutes > 0 else []
        self.run(
            ["find", target.backup_dir, "-maxdepth", "1", "-name", ".tmp-*", *age, "-delete"],
            check=False,
        )

    def backup_recover(self, target: BackupTarget) -> None:
        """Undo what a restore killed midway left in the server's directory (its originals set aside
        go back, the archive's half-placed entries go); nothing to do is fine. Run it only when no
        operation of the server is running (after backup_stop_all)."""
        with self._backup_container(target, data="rw", backups=None) as container:
            run = self._script(container, target, scripts.RECOVER, [target.mount])
            run.output()
            run.finish("putting back an interrupted restore's files")

    def backup_stop_all(self, server_id: str) -> int:
        """Force-remove every backup container of the server, running ones too (what a killed worker
        left working: its exec does not end with the worker's connection). How many there were."""
        removed = 0
        for state in self.list_containers(labels=[f"{BACKUP_LABEL}={server_id}"]):
            with contextlib.suppress(Exception):
                removed += bool(self.remove_container(state.name or state.id))
        return removed

    # ---- The containers ----

    def _streaming(self, target, script, argv, *, data, backups, doing) -> ArchiveStream:
        container = self._start_backup_container(target, data=data, backups=backups)
        try:
            run = self._script(container, target, script, argv)
        except BaseException:
            self._remove_quietly(container)
            raise
        return ArchiveStream(self, container, run, doing)  # its close removes the container

    @contextlib.contextmanager
    def _backup_container(self, target: BackupTarget, *, data: str | None, backups: str | None):
        container = self._start_backup_container(target, data=data, backups=backups)
        try:
            yield container
        finally:
            self._remove_quietly(container)

    def _refuse_if_busy(self, server_id: str) -> None:
        """Refuse while another operation's script runs in one of the server's backup containers (a
        killed worker's goes on working: two restores swapping the same files would mix them); remove
        the idle ones (a container outlives its script when its removal failed or its worker died)."""
        for state in self.list_containers(labels=[f"{BACKUP_LABEL}={server_id}"]):
            name = state.name or state.id
            if state.running and self._script_running(name):
                raise BackupBusy(
                    "Another backup or restore of this server is still running on its node; try again "
                    "when it has finished."
                )
            self._remove_quietly(name)

    def _script_running(self, container: str) -> bool:
        with self.guard("inspecting a backup container", container=container):
            try:
                exec_ids = self._api.inspect_container(container).get("ExecIDs") or []
                return any(self._api.exec_inspect(exec_id).get("Running") for exec_id in exec_ids)
            except docker.errors.NotFound:
                return False

    def _remove_quietly(self, container: str) -> None:
        with contextlib.suppress(Exception):
            self.remove_container(container)

    def _start_backup_container(self, target: BackupTarget, *, data: str | None, backups: str | None) -> str:
        """A started container mounting the server's directory (`data`: "ro"/"rw"/None) and its backup
        directory (`backups` likewise); the caller removes it."""
        volumes = {}
        if data:
            self._check_server_dir(target)
            volumes[target.server_dir] = {"bind": target.mount, "mode": data}
        if backups:
            self._check_backup_dir(target)
            volumes[target.backup_dir] = {"bind": "/backups", "mode": backups}
        tag = self._tools_image()
        self._refuse_if_busy(target.server_id)
        name = f"hearth-backup-{target.server_id}-{uuid.uuid4().hex[:8]}"
        spec = {
            "image": tag,
            "name": name,
            "command": ["sleep", str(OPERATION_LIFETIME_SECONDS)],
            "entrypoint": [],
            "environment": {"PATH": PATH, "LC_ALL": "C"},
            "working_dir": "/",
            "user": target.owner,
            "labels": {BACKUP_LABEL: target.server_id, "hearth.role": "backup"},
            "volumes": volumes,
            # The page cache of what tar reads and writes is charged to the container: under a 1 GB
            # limit a 1 GB restore waited on reclaim (a third slower, bench/backup). 2 GB bounds what
            # a runaway (a hostile archive's, an ignore file's) can take, well above what ours use
            # (zstd refuses windows over 128 MB unless told; the cache is reclaimed, not refused).
            "mem_limit": _MEMORY,
            "memswap_limit": _MEMORY,
            "nano_cpus": None,
            "pids_limit": 256,  # zstd -T0 starts a thread per core
            "blkio_weight": None,
            "security_opt": ["no-new-privileges"],
            "cap_drop": ["ALL"],
            "init": False,
            "read_only": True,
            "restart_policy": {"Name": "no"},
            "log_config": {"Type": "json-file", "Config": {"max-size": "1m", "max-file": "1"}},
            "network_mode": "none",
            "ipc_mode": "none",
        }
        try:
            self.create_container(spec)
            self.start_container(name)
        except BaseException:
            self._remove_quietly(name)
            raise
        return name

    def _script(self, container: str, target: BackupTarget, script: str, argv, *, stdin=False) -> _Run:
        with self.guard("running a backup script", container=container):
            exec_id = self._api.exec_create(
                container,
                ["nice", "-n", "10", "bash", "-c", script, "backup", *argv],  # the game comes first
                stdin=stdin,
                user=target.owner,
            )["Id"]
            attached = self._api.exec_start(exec_id, socket=True, demux=False)
        return _Run(self, container, ExecStream(attached, timeout=_READ_TIMEOUT), exec_id)

    def _tools_image(self) -> str:
        try:
            tag = tools_tag()
            if not self.has_image(tag):
                with self.guard("importing the tools image"):
                    repository, version = tag.split(":")
                    self._api.import_image_from_data(
                        tools_archive(),
                        repository=repository,
                        tag=version,
                        changes=[f'LABEL {BACKUP_LABEL}.image="1"'],
                    )
        except ToolsImageMissing as exc:
            raise BackupFailed(str(exc)) from exc
        except docker.errors.APIError as exc:  # pragma: no cover - guard turns these into EngineRefused
            raise BackupFailed(f"the tools image could not be imported: {exc}") from exc
        return tag

    def _check_server_dir(self, target: BackupTarget) -> None:
        self._checked(target.server_dir, target.owner)

    def _check_backup_dir(self, target: BackupTarget) -> None:
        self._checked(target.backup_dir, target.owner)

    def _checked(self, path: str, owner: str) -> None:
        """Make and check `path` (`<data>/servers|backups/<uuid>`) like servers/mounts.py does."""
        from nodes.client.errors import NodeCommandFailed

        data_dir = posixpath.dirname(posixpath.dirname(path))
        parts = [part for part in path.split("/") if part]
        chain = ["/", *("/" + "/".join(parts[: i + 1]) for i in range(len(parts)))]
        try:
            self.make_checked_directory(
                path, data_dir=data_dir, owner=owner if self.is_local else "", chain=chain
            )
        except NodeCommandFailed as exc:
            raise BackupFailed(
                f"Refusing to use {path} on node '{self.node.name}': {exc.stderr or exc}. It and every "
                "directory above it must be real directories (no symlinks)."
            ) from exc


def _made(output: str, run: _Run, doing: str) -> ArchiveMade:
    run.finish(doing)
    words = output.split()
    try:
        sha256, size = words[0], int(words[-1])
    except (IndexError, ValueError) as exc:
        raise BackupFailed(f"{doing}: unexpected output {output[:200]!r}") from exc
    return ArchiveMade(size_bytes=size, sha256=sha256)
