"""moved to servers.lifecycle (one module per topic) — kept only for callers not yet switched over:
servers/admin.py, servers/admin_pages.py and bench/ (the lead removes this module after the merge)."""

from servers.lifecycle.command import server_command  # noqa: F401 - moved to servers.lifecycle.command
from servers.lifecycle.create import server_create  # noqa: F401 - moved to servers.lifecycle.create
from servers.lifecycle.delete import server_delete  # noqa: F401 - moved to servers.lifecycle.delete
from servers.lifecycle.install import server_install  # noqa: F401 - moved to servers.lifecycle.install
from servers.lifecycle.power import (  # noqa: F401 - moved to servers.lifecycle.power
    server_kill,
    server_restart,
    server_start,
    server_stop,
)
from servers.lifecycle.suspension import server_suspend, server_unsuspend  # noqa: F401 - moved to servers.lifecycle.suspension
from servers.lifecycle.update import (  # noqa: F401 - moved to servers.lifecycle.update
    server_reset_crash_count,
    server_set_restart_policy,
    server_update,
)
