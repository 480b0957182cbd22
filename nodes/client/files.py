"""A server's files, reached only through OpenSSH's `sftp-server` in a helper container that mounts the
server's directory and nothing else of the node.

Why a container. The customer owns what is in their server's directory: their game can plant symlinks
(to `/etc`, to another server, to the node's data dir), hardlinks and swap a directory for a link while
we work. Checking a path on the node's host and then opening it (realpath-then-open) loses that race.
Inside the helper, every path resolves in the container's own mount namespace, whatever the links say:
the server's directory is the only thing of the node's it can see, its root filesystem is our files
image (sftp-server, the C library, a passwd: read-only), it runs as the game's uid:gid with every
capability dropped, `no-new-privileges`, no network and a PID and memory limit. A link to `/etc/shadow`
opens the image's nothing; `..` stops at `/`. So the API, the SFTP gateway, archive extraction, and
later backup restores and marketplace installs all get the same containment by construction, on local
and SSH nodes alike, through the node's Docker engine (an exec in the helper, its stdin and stdout the
SFTP protocol).

A helper is made on first use (servers/files/helper.py names its mount, user and directory), reused by
every session after, and removed when idle (`FILES_HELPER_IDLE_SECONDS`) or with its server.
"""

from dataclasses import dataclass

import docker.errors
from django.conf import settings

from nodes.client.files_image import SFTP_SERVER, image_archive, image_tag
from nodes.client.files_session import FileSession
from nodes.client.files_stream import BulkExecStream, ExecStream

HELPER_LABEL = "hearth.files"  # value: the server's uuid (never hearth.server: the monitor's label)
_SFTP_ARGV = [SFTP_SERVER, "-e", "-l", "ERROR", "-u", "022"]


@dataclass(frozen=True)
class FilesHelper:
    """One server's helper container: `source` (the checked directory on the node's host) appears at
    `mount` inside; it runs as `owner` ("uid:gid")."""

    server_id: str
    source: str
    mount: str
    owner: str

    @property
    def name(self) -> str:
        return f"hearth-files-{self.server_id}"


class FilesHelperDown(Exception):
    """The server's helper container is missing or not running: make it (start_files_helper) and retry."""


class Files:
    """The files half of NodeClient (mixed into it; `self.guard`, `self._api`, `has_image` from the others)."""

    def files_stream(self, helper: FilesHelper, *, timeout: float | None = None) -> ExecStream:
        """A raw SFTP stream to a new sftp-server in the server's helper; FilesHelperDown when there is
        no running helper. `timeout` bounds each read (None: wait as long as it takes, for the gateway)."""
        with self.guard("opening a files session", container=helper.name):
            try:
                exec_id = self._api.exec_create(
                    helper.name, [*_SFTP_ARGV, "-d", helper.mount], stdin=True, user=helper.owner
                )
                attached = self._api.exec_start(exec_id, socket=True, demux=False)
            except docker.errors.NotFound as exc:
                raise FilesHelperDown(helper.name) from exc
            except docker.errors.APIError as exc:
                if exc.status_code == 409:  # "container … is not running"
                    raise FilesHelperDown(helper.name) from exc
                raise
        return ExecStream(attached, timeout=timeout)

    def files_session(self, helper: FilesHelper) -> FileSession:
        """An SFTP session to the server's helper (FilesHelperDown when it is not running)."""
        stream = self.files_stream(helper, timeout=settings.NODE_TIMEOUT_SECONDS)
        try:
            with self.guard("opening a files session", container=helper.name):
                return FileSession(self.node.name, stream)
        except BaseException:
            stream.close()
            raise

    def start_files_helper(self, helper: FilesHelper) -> None:
        """(Re)create and start the server's helper. The caller has checked `helper.source` on the node
        (servers.mounts): the engine follows links in a bind mount's source, never inside it."""
        tag = image_tag(helper.owner)
        if not self.has_image(tag):
            with self.guard("importing the files image"):
                repository, version = tag.split(":")
                self._api.import_image_from_data(
                    image_archive(helper.owner),
                    repository=repository,
                    tag=version,
                    changes=[f'LABEL {HELPER_LABEL}.image="1"'],
                )
        self.remove_container(helper.name)
        spec = {
            "image": tag,
            "name": helper.name,
            # The idle main process: sftp-server on a stdin that stays open and never speaks.
            "command": [SFTP_SERVER, "-e", "-l", "ERROR"],
            "entrypoint": [],
            "environment": {},
            "working_dir": helper.mount,
            "user": helper.owner,
            "stdin_open": True,
            "stdin_once": False,
            "labels": {HELPER_LABEL: helper.server_id, "hearth.role": "files"},
            "volumes": {helper.source: {"bind": helper.mount, "mode": "rw"}},
            "mem_limit": 128 * 1024 * 1024,
            "memswap_limit": 128 * 1024 * 1024,
            "nano_cpus": 1_000_000_000,
            "pids_limit": 64,
            "blkio_weight": None,
            "security_opt": ["no-new-privileges"],
            "cap_drop": ["ALL"],
            "init": False,
            "read_only": True,
            "restart_policy": {"Name": "no"},
            "log_config": {"Type": "json-file", "Config": {"max-size": "1m", "max-file": "1"}},
            "network_mode": "none",
            "ipc_mode": "none",  # no /dev/shm: nothing writable but the server's directory
        }
        self.create_container(spec)
        self.start_container(helper.name)

    def files_helpers(self) -> list:
        """The helper containers on this node (ContainerStates; the server's uuid in labels[HELPER_LABEL])."""
        return self.list_containers(labels=[HELPER_LABEL])

    # ---- The helpers' lifecycle (servers/files/helper.py: reaping idle helpers, removing a server's) ----

    def files_helper_busy(self, server_id) -> bool:
        """Whether the server's helper has an exec running (an open files session or SFTP stream): the
        engine lists only running execs in ExecIDs. False when there is no helper."""
        name = FilesHelper(str(server_id), "", "", "").name
        with self.guard("inspecting a files helper", container=name):
            try:
                attrs = self._api.inspect_container(name)
            except docker.errors.NotFound:
                return False
        return bool(attrs.get("ExecIDs"))

    def remove_files_helper(self, server_id) -> bool:
        """Remove the server's helper, sessions and all (before its directory is deleted, replaced or
        moved, or when it is suspended); False when there was none."""
        return self.remove_container(FilesHelper(str(server_id), "", "", "").name)

    def files_bulk_stream(self, helper: FilesHelper, *, timeout: float | None = None) -> "BulkExecStream":
        """files_stream, read in large pieces (BulkExecStream): for the SFTP gateway's proxy."""
        return BulkExecStream(self.files_stream(helper, timeout=timeout))
