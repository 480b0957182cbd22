"""One server's helper container and the sessions to it (nodes/client/files.py says why a container)."""

import contextlib
import logging
import time

from django.conf import settings
from django.core.cache import cache

from config.errors import IllegalTransition, NotFound, Suspended, Unavailable
from config.ids import is_uuid
from nodes.client import FileSession, FilesHelper, FilesHelperDown, NodeUnavailable, client_for
from nodes.client.files import HELPER_LABEL
from nodes.client.files_image import FilesImageMissing
from nodes.dockertime import epoch
from nodes.models import Node
from servers import runtime
from servers.files.denylist import guarded
from servers.models import Server

logger = logging.getLogger(__name__)
S = Server.Status
# A helper of a server in these states goes at once, open sessions and all (servers.files.access refuses
# them anyway): a suspended server's files must not stay reachable through a session opened before.
NO_HELPER = {S.SUSPENDED, S.INSTALLING, S.TRANSFERRING, S.RESTORING}
USED_FOR = 7 * 24 * 3600  # how long the cache remembers a last use (beyond any idle setting)


def helper_for(server: Server) -> FilesHelper:
    """The server's directory at the template's data path (where the game sees it, so the game's
    absolute links mean the same), as the game's user."""
    return FilesHelper(
        server_id=str(server.pk),
        source=runtime.server_dir(server),
        mount=server.template.data_path,
        owner=runtime.container_user(server),
    )


def open_session(server: Server, *, denylist: bool = True) -> FileSession:
    """A FileSession on the server's files, starting its helper when there is none (after checking the
    server's directory on the node, as before every container start). Close it when done. Bound by
    the template's file denylist (servers/files/denylist.py) unless `denylist` is False (staff)."""
    files = _through_helper(server, lambda client, helper: client.files_session(helper))
    return guarded(files, server, server.template.data_path) if denylist else files


def open_stream(server: Server):
    """A raw SFTP stream to a fresh sftp-server in the server's helper, read in bulk (the SFTP
    gateway's), the helper started as for open_session. Close it when done."""
    return _through_helper(server, lambda client, helper: client.files_bulk_stream(helper))


def _through_helper(server: Server, opening):
    client = client_for(server.node)
    helper = helper_for(server)
    mark_used(server.pk)
    try:
        return opening(client, helper)
    except FilesHelperDown:
        _refuse_busy(server)
        runtime.ensure_directory(client, server)
        try:
            client.start_files_helper(helper)
        except FilesImageMissing as exc:  # the panel lacks sftp-server (the health check says so too)
            raise Unavailable(str(exc)) from exc
        return opening(client, helper)


def _refuse_busy(server: Server) -> None:
    """No new helper for a server suspended or having its files replaced, as it is now (a long job's
    `server` was read minutes ago: a transfer may have archived the directory since)."""
    status = Server.objects.filter(pk=server.pk).values_list("status", flat=True).first()
    if status is None:
        raise NotFound("Server not found.")
    if status == S.SUSPENDED:
        raise Suspended("Server is suspended: its files cannot be read or changed until staff unsuspend it.")
    if status in NO_HELPER:
        raise IllegalTransition(
            f"The server is {status}: try its files again once that is done.", current_state=status
        )


@contextlib.contextmanager
def session(server: Server, *, denylist: bool = True):
    """`with session(server) as files:` — open_session, closed afterwards."""
    files = open_session(server, denylist=denylist)
    try:
        yield files
    finally:
        files.close()


def remove_helper(server: Server) -> None:
    """Remove the server's helper (before its directory is deleted, moved or restored)."""
    client_for(server.node).remove_files_helper(server.pk)


def mark_used(server_id) -> None:
    """Record that the server's helper is in use now (the reaper spares it for FILES_HELPER_IDLE_SECONDS)."""
    try:
        cache.set(_used_key(server_id), time.time(), timeout=USED_FOR)
    except (
        Exception
    ):  # the broker's Redis: a file operation beats a record of it (the reaper spares busy ones)
        logger.warning("Cannot record the use of %s's files helper", server_id, exc_info=True)


def last_used(server_id) -> float | None:
    return cache.get(_used_key(server_id))


def _used_key(server_id) -> str:
    return f"files-helper-used:{server_id}"


def helpers_reap(*, now: float | None = None) -> int:
    """Remove, on every online node, the helpers idle longer than FILES_HELPER_IDLE_SECONDS (never one
    with a session running), and those of servers suspended or having their files replaced (sessions
    and all). A helper of a server this panel does not know is left alone (another panel's, sharing an
    engine as the test runs do; the panel's own go with their server, runtime.destroy). Helpers removed;
    a node that does not answer is skipped until the next run."""
    now = time.time() if now is None else now
    removed = 0
    for node in Node.objects.filter(is_online=True):
        try:
            removed += _reap_node(client_for(node), now)
        except NodeUnavailable as exc:
            logger.info("Files helpers on %s not reaped: %s", node.name, exc)
    return removed


def _reap_node(client, now: float) -> int:
    helpers = {state.labels.get(HELPER_LABEL, ""): state for state in client.files_helpers()}
    known = Server.objects.filter(pk__in=[i for i in helpers if is_uuid(i)], node=client.node)
    removed = 0
    for server_id, status in known.values_list("pk", "status"):
        server_id = str(server_id)
        if status in NO_HELPER:
            removed += client.remove_files_helper(server_id)
        elif _idle(server_id, helpers[server_id], now) and not client.files_helper_busy(server_id):
            if not _idle(server_id, helpers[server_id], now):  # the cache read again
                continue  # used since the first look: open_session marks before it opens
            # A session opening in the instant left breaks once; its retry makes a new helper.
            removed += client.remove_files_helper(server_id)
    return removed


def _idle(server_id: str, state, now: float) -> bool:
    used = last_used(server_id)
    if used is None:  # the cache forgot (flushed, or a helper older than USED_FOR): since it started
        used = epoch(state.started_at) if state.started_at else 0.0
    return now - used > settings.FILES_HELPER_IDLE_SECONDS
