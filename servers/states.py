"""The server state machine: which action may run from which state, applied under a row lock."""

from django.db import transaction
from django.utils import timezone

from config.errors import IllegalTransition, Suspended
from servers.models import Server
from servers.signals import server_running

S = Server.Status

# action → states it may start from
ALLOWED_FROM: dict[str, frozenset[str]] = {
    "install": frozenset({S.STOPPED, S.INSTALL_FAILED, S.CRASHED}),
    "start": frozenset({S.STOPPED, S.CRASHED}),
    "stop": frozenset({S.STARTING, S.RUNNING}),
    "restart": frozenset({S.STARTING, S.RUNNING, S.STOPPED, S.CRASHED}),
    "kill": frozenset({S.STARTING, S.RUNNING, S.STOPPING}),
    "update": frozenset({S.STOPPED, S.INSTALL_FAILED, S.CRASHED}),
    "delete": frozenset({S.STOPPED, S.INSTALL_FAILED, S.CRASHED}),
    "transfer": frozenset({S.STOPPED, S.CRASHED}),
    "allocations": frozenset({S.STOPPED, S.INSTALL_FAILED, S.CRASHED}),
    "restore": frozenset({S.STOPPED, S.CRASHED}),
    "suspend": frozenset(set(S.values) - {S.SUSPENDED, S.TRANSFERRING, S.RESTORING}),
    "unsuspend": frozenset({S.SUSPENDED}),
}


def refuse(server: Server, action: str) -> None:
    """Suspended (423) for a suspended server, else IllegalTransition (409) naming the current state."""
    if server.status == S.SUSPENDED and action not in ("unsuspend", "suspend"):
        raise Suspended(
            f"Server is suspended{': ' + server.suspension_reason if server.suspension_reason else ''}."
        )
    if action == "suspend" and server.status == S.SUSPENDED:
        raise IllegalTransition("Server is already suspended.", current_state=server.status)
    if action == "unsuspend":
        raise IllegalTransition("Server is not suspended.", current_state=server.status)
    raise IllegalTransition(f"Cannot {action} a server that is {server.status}.", current_state=server.status)


def check(server: Server, action: str) -> None:
    """Refuse now (without changing anything) if `action` is not allowed from the current state."""
    if server.status not in ALLOWED_FROM[action]:
        refuse(server, action)


def transition(server: Server, *, action: str, to: str | None, **fields) -> str:
    """Move `server` to `to` if `action` is allowed from its current state; returns the previous state.

    The row is locked, so two concurrent starts cannot both pass. `to=None` checks and locks only.
    Publishes the state change once the transaction commits.
    """
    with transaction.atomic():
        current = Server.objects.select_for_update().get(pk=server.pk)
        if current.status not in ALLOWED_FROM[action]:
            refuse(current, action)
        previous = current.status
        if to is not None:
            Server.objects.filter(pk=server.pk).update(status=to, updated_at=timezone.now(), **fields)
            server.status = to
            for name, value in fields.items():
                setattr(server, name, value)
            if to != previous:
                from servers.console import publish_state

                transaction.on_commit(lambda: publish_state(server.pk, to, previous))
    return previous


def set_status(server_id, to: str, *, expect: set[str] | None = None, **fields) -> str | None:
    """Record a state the node reported (monitor, tasks). Returns the previous state, or None if unchanged.

    With `expect`, only moves from those states (a late event must not undo a newer action).
    """
    with transaction.atomic():
        current = Server.objects.select_for_update().filter(pk=server_id).first()
        if current is None or (expect is not None and current.status not in expect):
            return None
        previous = current.status
        Server.objects.filter(pk=server_id).update(status=to, updated_at=timezone.now(), **fields)
        if previous != to:
            from servers.console import publish_state

            transaction.on_commit(lambda: publish_state(server_id, to, previous))
        if to == S.RUNNING and previous != to:  # the monitor saw it run: its crash alert resolves
            server_running.send(Server, server_id=server_id)
        return previous
