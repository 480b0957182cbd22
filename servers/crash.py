"""What happens when a game container exits: a stop we asked for, or a crash and maybe a restart."""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from servers import console, signals
from servers.lifecycle.power import server_start_after_crash
from servers.models import Server
from servers.states import set_status

S = Server.Status


def server_exited(*, server_id, exit_code: int | None, oom: bool = False) -> str | None:
    """Record an exit the node reported. Returns the new status, or None when nothing changed."""
    with transaction.atomic():
        server = Server.objects.select_for_update().filter(pk=server_id).first()
        if server is None or server.status in (
            S.STOPPED,
            S.CRASHED,
            S.INSTALLING,
            S.INSTALL_FAILED,
            S.SUSPENDED,
            S.TRANSFERRING,
            S.RESTORING,
        ):
            return None
        if server.status == S.STOPPING:  # we asked for it
            set_status(server_id, S.STOPPED)
            console.write_on_commit(server_id, f"Server stopped (exit code {exit_code}).")
            return S.STOPPED
        now = timezone.now()
        recent = server.last_crash_at and now - server.last_crash_at < timedelta(
            seconds=settings.CRASH_WINDOW_SECONDS
        )
        count = server.crash_count + 1
        set_status(
            server_id,
            S.CRASHED,
            crash_count=count,
            last_crash_at=now,
            status_reason=f"Exited with code {exit_code}{' (out of memory)' if oom else ''}",
        )
        why = f"Server crashed: exit code {exit_code}{', killed for using too much memory' if oom else ''}."
        restart, reason = _should_restart(
            server, exit_code=exit_code, oom=oom, count=count, recent=bool(recent)
        )
        console.write_on_commit(server_id, f"{why} {reason}")
        signals.server_crashed.send(
            Server,
            server=server,
            exit_code=exit_code,
            oom=oom,
            crash_count=count,
            restarting=restart,
            reason=reason,
        )
        if restart:
            server_start_after_crash(server_id=server_id)
            return S.STARTING
        return S.CRASHED


def _should_restart(server: Server, *, exit_code, oom: bool, count: int, recent: bool) -> tuple[bool, str]:
    policy = server.restart_policy
    if policy == Server.RestartPolicy.NEVER:
        return False, "Restart policy is 'never': not restarting."
    if policy == Server.RestartPolicy.ON_FAILURE and exit_code == 0 and not oom:
        return False, "It exited cleanly and the policy is 'on-failure': not restarting."
    if count >= server.max_crash_count:
        return (
            False,
            f"It crashed {count} times (limit {server.max_crash_count}): not restarting. Reset the crash count to re-enable.",
        )
    if recent:
        return (
            False,
            f"It crashed again within {settings.CRASH_WINDOW_SECONDS} s: not restarting automatically.",
        )
    return True, f"Restarting (crash {count} of {server.max_crash_count})."
