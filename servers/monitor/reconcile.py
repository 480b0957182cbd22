"""What the monitor does to servers: events drive state (start → starting, the template's ready line →
running, exit → stopped or a crash handed to the crash policy), and on every (re)connection each server
is reconciled with its container, so nothing that happened while the monitor was away is lost.

Only containers `watcher.owners` maps to a server (the panel's own, on this node) act on anything."""

from typing import TYPE_CHECKING

from django.db import close_old_connections

from nodes.dockertime import epoch, nanos
from servers.crash import server_exited
from servers.models import Server
from servers.states import set_status

if TYPE_CHECKING:
    from servers.monitor.watcher import NodeWatcher

S = Server.Status
LABEL = "hearth.server"
GAME_LABELS = [LABEL, "hearth.role=game"]  # the panel's game containers (the label is only a filter)
SAME_RUN_SECONDS = 0.5  # a start event and the container's StartedAt of one run differ by less than this


def reconcile(watcher: "NodeWatcher") -> None:
    """Bring every server on the watcher's node in line with its container, after any gap in events."""
    listed = watcher.client.list_containers(labels=GAME_LABELS)
    owners = watcher.owners(c.id for c in listed)
    containers = {owners[c.id]: c for c in listed if c.id in owners}  # one each: a server has one id
    watcher.reconciled = {
        server_id: {"start": epoch(c.started_at), "die": epoch(c.finished_at)}
        for server_id, c in containers.items()
    }
    for c in containers.values():
        if finished := nanos(c.finished_at):
            watcher.exits[c.id] = finished
    for server in Server.objects.filter(node_id=watcher.node_id).select_related("template"):
        container = containers.get(str(server.pk))
        if container is not None and container.status == "running":
            if server.status in (S.STOPPED, S.CRASHED):
                set_status(server.pk, S.RUNNING, expect={S.STOPPED, S.CRASHED})  # started behind our back
            watcher.follow(str(server.pk), container)
        elif server.status in (S.RUNNING, S.STARTING, S.STOPPING):
            if server.status == S.STARTING and container is not None and container.status == "created":
                continue  # the start task is about to start it
            code = container.exit_code if container is not None else None
            oom = bool(container is not None and container.oom_killed)
            if container is not None and container.status == "exited":
                # A run that began and ended while no one watched (a node the monitor had not reached
                # yet, a monitor restart): its output is read once, what was already recorded skipped.
                watcher.follow(str(server.pk), container)
                watcher.running.pop(str(server.pk), None)
            if server.status == S.STOPPING or code is None:
                set_status(server.pk, S.STOPPED, expect={S.RUNNING, S.STARTING, S.STOPPING})
            else:
                server_exited(server_id=server.pk, exit_code=code, oom=oom)


def already_reconciled(watcher: "NodeWatcher", server_id: str, action: str, when: float) -> bool:
    """Was this start or exit already seen by the reconcile? Then replaying it would undo newer state."""
    stamps = watcher.reconciled.get(server_id, {})
    seen = stamps.get(action)
    if seen is None or abs(when - seen) >= SAME_RUN_SECONDS:
        return False
    del stamps[action]  # each transition is replayed at most once
    return True


def follow_events(watcher: "NodeWatcher", events) -> None:
    for event in events:
        if watcher.stopping.is_set():
            return
        close_old_connections()
        container_id = event.container_id
        server_id = watcher.owners([container_id]).get(container_id)  # the label is the node's word: unused
        when = event.time_ns / 1e9
        if not server_id or already_reconciled(watcher, server_id, event.action, when):
            continue
        if event.action in ("start", "die"):
            watcher.drop_stdin(server_id)
        if event.action == "start":
            set_status(server_id, S.STARTING, expect={S.STOPPED, S.CRASHED})
            # From the end of the previous run, read from the container itself: the game writes before
            # the engine records StartedAt and sends this event (by a few ms, measured), so reading from
            # either would lose a "ready" line written at once, and the server would stay starting.
            state = watcher.client.container_state(container_id)
            if state is not None:
                watcher.follow(server_id, state)
        elif event.action == "oom":
            watcher.oom.add(server_id)
        elif event.action == "die":
            watcher.running.pop(server_id, None)
            watcher.exits[container_id] = event.time_ns
            server_exited(server_id=server_id, exit_code=event.exit_code, oom=server_id in watcher.oom)
            watcher.oom.discard(server_id)
