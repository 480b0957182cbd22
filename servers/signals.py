"""Signals through which apps that stand on servers (backups) take part in what servers do, without
servers importing them (tests/test_layering.py).

`files_changing(server=, action=)`: sent in the request's transaction, the server's row locked, before
an operation that rewrites or moves the server's files is queued (install, reinstall, transfer). A
receiver raises a DomainError to refuse it (a backup being made reads those files; a restore writes
them).
"""

from django.dispatch import Signal

files_changing = Signal()
