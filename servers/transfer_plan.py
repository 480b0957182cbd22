"""Where a transfer's files are (the plan, fixed when the job starts), and naming the step that failed.

What runs on the nodes (unpacking into a staging directory, clearing earlier attempts and their tar,
installing the copy) is a named operation of the node client: nodes/client/host_files.py."""

import contextlib
import logging
import posixpath
from dataclasses import dataclass

from nodes.client import NodeCommandFailed
from nodes.models import Node
from servers.models import Job

logger = logging.getLogger(__name__)


class TransferAborted(Exception):
    """The transfer cannot go on (the server changed state, the copy does not match…): fail it."""


@dataclass(frozen=True)
class Plan:
    """Where a transfer's files are: fixed when the job starts, the same for the worker and the reaper."""

    job_id: str
    server_id: str | None
    source: Node | None
    target: Node | None

    @property
    def source_dir(self) -> str:
        return posixpath.join(self.source.data_dir, "servers", str(self.server_id))

    @property
    def target_dir(self) -> str:
        return posixpath.join(self.target.data_dir, "servers", str(self.server_id))

    @property
    def staging_prefix(self) -> str:
        return posixpath.join(self.target.data_dir, "transfers", str(self.server_id))

    @property
    def staging(self) -> str:
        return f"{self.staging_prefix}-{self.job_id}"


def plan_of(job: Job) -> Plan:
    return Plan(
        job_id=str(job.pk),
        server_id=str(job.server_id) if job.server_id else None,
        source=Node.objects.filter(pk=job.detail.get("source")).first(),
        target=Node.objects.filter(pk=job.detail.get("target")).first(),
    )


@contextlib.contextmanager
def doing(what: str, node: Node):
    """Name the step in a failed node command, not the script it ran (that is in the log)."""
    try:
        yield
    except NodeCommandFailed as exc:
        logger.warning("Transfer step '%s' failed: %s", what, exc)
        detail = exc.stderr.strip().splitlines()[0][:200] if exc.stderr.strip() else f"exit {exc.code}"
        raise TransferAborted(f"{what} on {node.name} failed: {detail}") from exc


def labelled(chunks, what: str, node: Node):
    """A node's stream whose failure names the step and the node it came from."""
    with doing(what, node):
        yield from chunks
