"""Where a transfer's files are (the plan, fixed when the job starts) and the commands run on the
target: unpacking into a staging directory, clearing earlier attempts (and their tar), installing the copy."""

import contextlib
import logging
import posixpath
from dataclasses import dataclass

from nodes.client import NodeCommandFailed
from nodes.models import Node
from servers.models import Job

logger = logging.getLogger(__name__)

# On the target, as the node's SSH user. A job's staging directory is made under the lease; the receiving
# shell writes its pid there, then tar unpacks into its `tree`. A cleanup kills exactly that process (pid
# and working directory both match) before removing the directory, and a receiver that starts after the
# cleanup finds no directory to enter: nothing of a reaped or dead worker's can be written afterwards.
RECEIVE = 'cd "$1" && echo $$ > pid && mkdir -m 750 tree && cd tree && exec tar --no-same-owner -xf -'
CLEAR = r"""
prefix=$1; shift
for dir in "$prefix"-*; do
  [ -d "$dir" ] || continue
  real=$(cd "$dir" && pwd -P) || continue
  pid=$(cat "$dir/pid" 2>/dev/null) || pid=
  case $pid in
    '' | *[!0-9]*) ;;
    *) n=0
       while [ $n -lt 100 ]; do
         case $(readlink "/proc/$pid/cwd" 2>/dev/null) in
           "$real" | "$real/tree") kill -KILL "$pid" 2>/dev/null; sleep 0.1; n=$((n + 1)) ;;
           *) break ;;
         esac
       done ;;
  esac
  rm -rf --one-file-system "$dir"
done
[ $# -eq 0 ] || rm -rf --one-file-system "$@"
"""
INSTALL = 'rm -rf --one-file-system "$2" && mkdir -p "${2%/*}" && mv "$1/tree" "$2" && rm -rf "$1"'


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
