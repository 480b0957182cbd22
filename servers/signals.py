"""Signals through which apps that stand on servers (backups, alerts) take part in what servers do,
without servers importing them (tests/test_layering.py).

`files_changing(server=, action=)`: sent in the request's transaction, the server's row locked, before
an operation that rewrites or moves the server's files is queued (install, reinstall, transfer). A
receiver raises a DomainError to refuse it (a backup being made reads those files; a restore writes
them).

`server_crashed(server=, exit_code=, oom=, crash_count=, restarting=, reason=)`: sent in the crash's
transaction (servers/crash.py), the server's row locked, once the crash and the restart decision are
recorded. `server_running(server_id=)`: sent in set_status's transaction when the server moves to
running (the monitor saw it run). Alerts open and resolve their crash alerts on them.

`server_expiring(server=, days_left=)`: sent in the expiry pass's transaction (servers/expiry.py), the
server's row locked, once per reminder threshold. `server_expiry_ended(server=, resolution=)`: the
server was extended or has expired, so its reminders are over. Alerts send and resolve the reminders.
"""

from django.dispatch import Signal

files_changing = Signal()
server_crashed = Signal()
server_running = Signal()
server_expiring = Signal()
server_expiry_ended = Signal()
