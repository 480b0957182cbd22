"""The permission matrix: every operation of the OpenAPI schema, called by every kind of caller.

The tables below are the contract, written out: for each operation (method, path as /api/schema/ spells it)
the status each caller gets. A new endpoint without a row fails `test_every_operation_of_the_schema_has_a_row`,
which names it. How each operation is called (the rows it acts on, its body) is in tests/matrix.py.

Callers on a server's operations: anonymous; a stranger (another user: the server is not theirs, 404);
a member without the row's permission (403); a member with it; the owner; an administrator; and the
administrator again on the same server suspended (423 for what a suspension blocks). On other operations:
anonymous; a user without the row's permission; a user whose only extra role grants exactly it; an
administrator. Public operations (no login needed) list the answer an anonymous caller gets.
"""

import itertools
import json

import pytest
from drf_spectacular.generators import SchemaGenerator

from servers.models import Server
from tests.fixtures import PASSWORD, tokens_for
from tests.matrix import CALLS, Call, a_server

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _marketplace_unreachable(settings):
    """Every marketplace source at an address the panel refuses: answered at once, never the internet."""
    for name in ("MODRINTH_URL", "HANGAR_URL", "SPIGET_URL", "CURSEFORGE_URL"):
        setattr(settings, name, "http://127.0.0.1:9")


SENT = 200  # a test alert, sent by alerts.delivery.send_test (email here: Django's test outbox)
_counter = itertools.count()

# fmt: off
# Server operations: the stranger's 404 hides that the server exists; the suspended column is the
# administrator on the same server, suspended. server.resources, server.transfer and server.suspend are
# staff's (global), so no owner or member holds them.
#  (method, path):                                          (permission,          anon, stranger, without, with, owner, admin, suspended)
SERVER_OPERATIONS = {
    ("GET",    "/api/servers/{id}"):                            (None,               401, 404, 200, 200, 200, 200, 200),
    ("PUT",    "/api/servers/{id}"):                            ("server.update",    401, 404, 403, 200, 200, 200, 423),
    ("PATCH",  "/api/servers/{id}"):                            ("server.resources", 401, 404, 403, 403, 403, 200, 423),
    ("DELETE", "/api/servers/{id}"):                            ("server.delete",    401, 404, 403, 200, 200, 200, 423),
    ("POST",   "/api/servers/{id}/install"):                    ("server.install",   401, 404, 403, 200, 200, 200, 423),
    ("POST",   "/api/servers/{id}/reinstall"):                  ("server.install",   401, 404, 403, 200, 200, 200, 423),
    ("POST",   "/api/servers/{id}/start"):                      ("server.start",     401, 404, 403, 200, 200, 200, 423),
    ("POST",   "/api/servers/{id}/stop"):                       ("server.stop",      401, 404, 403, 200, 200, 200, 423),
    ("POST",   "/api/servers/{id}/restart"):                    ("server.restart",   401, 404, 403, 200, 200, 200, 423),
    ("POST",   "/api/servers/{id}/kill"):                       ("server.kill",      401, 404, 403, 200, 200, 200, 423),
    ("POST",   "/api/servers/{id}/command"):                    ("server.console",   401, 404, 403, 200, 200, 200, 423),
    ("GET",    "/api/servers/{id}/logs"):                       ("server.logs.read", 401, 404, 403, 200, 200, 200, 200),
    ("GET",    "/api/servers/{id}/metrics"):                    ("server.read",      401, 404, 403, 200, 200, 200, 200),
    ("GET",    "/api/servers/{id}/jobs"):                       ("server.read",      401, 404, 403, 200, 200, 200, 200),
    ("POST",   "/api/servers/{id}/suspend"):                    ("server.suspend",   401, 404, 403, 403, 403, 200, 409),
    ("POST",   "/api/servers/{id}/unsuspend"):                  ("server.suspend",   401, 404, 403, 403, 403, 200, 200),
    ("POST",   "/api/servers/{id}/transfer"):                   ("server.transfer",  401, 404, 403, 403, 403, 200, 423),
    # The EULA accept writes eula.txt and starts: the member "with" holds file.write and server.start;
    # 503 is the unreachable node of tests/matrix.py (the 200 is in tests/servers/test_features.py).
    ("POST",   "/api/servers/{id}/eula"):                       ("file.write",       401, 404, 403, 503, 503, 503, 423),
    ("POST",   "/api/servers/{id}/reset-crash-count"):          ("server.update",    401, 404, 403, 200, 200, 200, 423),
    ("PATCH",  "/api/servers/{id}/restart-policy"):             ("server.update",    401, 404, 403, 200, 200, 200, 423),
    ("GET",    "/api/servers/{id}/allocations"):                ("server.read",      401, 404, 403, 200, 200, 200, 200),
    ("POST",   "/api/servers/{id}/allocations"):                ("server.update",    401, 404, 403, 200, 200, 200, 423),
    ("POST",   "/api/servers/{id}/allocations/primary"):        ("server.update",    401, 404, 403, 200, 200, 200, 423),
    ("DELETE", "/api/servers/{id}/allocations/{container_port}"): ("server.update",  401, 404, 403, 200, 200, 200, 423),
    ("GET",    "/api/servers/{id}/members"):                    ("server.read",      401, 404, 403, 200, 200, 200, 200),
    # Sharing is not blocked by a suspension (the contract's 423 is for actions on the server itself).
    ("POST",   "/api/servers/{id}/members"):                    ("server.update",    401, 404, 403, 201, 201, 201, 201),
    ("PUT",    "/api/servers/{id}/members/{member_id}"):        ("server.update",    401, 404, 403, 200, 200, 200, 200),
    ("DELETE", "/api/servers/{id}/members/{member_id}"):        ("server.update",    401, 404, 403, 200, 200, 200, 200),
    # Files: 503 is the unreachable node of tests/matrix.py (every check passed); 200s in tests/servers/files/.
    ("GET",    "/api/servers/{server_id}/files"):               ("file.read",        401, 404, 403, 503, 503, 503, 423),
    ("DELETE", "/api/servers/{server_id}/files"):               ("file.delete",      401, 404, 403, 503, 503, 503, 423),
    ("POST",   "/api/servers/{server_id}/files/create"):        ("file.write",       401, 404, 403, 503, 503, 503, 423),
    ("GET",    "/api/servers/{server_id}/files/content"):       ("file.read",        401, 404, 403, 503, 503, 503, 423),
    ("PUT",    "/api/servers/{server_id}/files/content"):       ("file.write",       401, 404, 403, 503, 503, 503, 423),
    ("POST",   "/api/servers/{server_id}/files/rename"):        ("file.write",       401, 404, 403, 503, 503, 503, 423),
    ("POST",   "/api/servers/{server_id}/files/copy"):          ("file.write",       401, 404, 403, 503, 503, 503, 423),
    ("POST",   "/api/servers/{server_id}/files/chmod"):         ("file.write",       401, 404, 403, 503, 503, 503, 423),
    # Archives check their body before the node: an empty one is a 400 once every check has passed.
    # Compress needs file.write, not the contract's file.read: it writes a file.
    ("POST",   "/api/servers/{server_id}/files/compress"):      ("file.write",       401, 404, 403, 400, 400, 400, 423),
    ("POST",   "/api/servers/{server_id}/files/decompress"):    ("file.write",       401, 404, 403, 400, 400, 400, 423),
    # Files (the matrix's server is on no real node): an allowed caller gets past the permission and
    # suspension checks to the request's own 400 (a JSON body is no upload, no path, no url).
    ("POST",   "/api/servers/{server_id}/files/upload"):        ("file.write",       401, 404, 403, 400, 400, 400, 423),
    ("GET",    "/api/servers/{server_id}/files/download"):      ("file.read",        401, 404, 403, 400, 400, 400, 423),
    ("POST",   "/api/servers/{server_id}/files/pull"):          ("file.write",       401, 404, 403, 400, 400, 400, 423),
    # Backups: reading the list is allowed while suspended; the download's 503 is the matrix's unreachable
    # node (every check passed); lock and unlock need backup.delete (a lock decides deletion).
    ("GET",    "/api/servers/{server_id}/backups"):             ("backup.read",      401, 404, 403, 200, 200, 200, 200),
    ("POST",   "/api/servers/{server_id}/backups"):             ("backup.create",    401, 404, 403, 200, 200, 200, 423),
    ("GET",    "/api/servers/{server_id}/backups/{backup_id}"): ("backup.read",      401, 404, 403, 200, 200, 200, 200),
    ("DELETE", "/api/servers/{server_id}/backups/{backup_id}"): ("backup.delete",    401, 404, 403, 200, 200, 200, 423),
    ("POST",   "/api/servers/{server_id}/backups/{backup_id}/restore"):  ("backup.restore",  401, 404, 403, 200, 200, 200, 423),
    ("GET",    "/api/servers/{server_id}/backups/{backup_id}/download"): ("backup.download", 401, 404, 403, 503, 503, 503, 423),
    ("POST",   "/api/servers/{server_id}/backups/{backup_id}/lock"):     ("backup.delete",   401, 404, 403, 200, 200, 200, 423),
    ("POST",   "/api/servers/{server_id}/backups/{backup_id}/unlock"):   ("backup.delete",   401, 404, 403, 200, 200, 200, 423),
    # A server's plan-side changes are staff's or a billing integration's (server.resources); extending a
    # suspended server is how an expired one comes back.
    ("POST",   "/api/servers/{server_id}/extend"):              ("server.resources", 401, 404, 403, 403, 403, 200, 200),
    ("POST",   "/api/servers/{server_id}/upgrade"):             ("server.resources", 401, 404, 403, 403, 403, 200, 423),
    # Databases on a host that is down (tests/matrix.py): what needs the host is 503 once allowed (the
    # 201s and 200s against the real MariaDB are in tests/databases/).
    # Marketplace: the sources are an address the panel refuses (the matrix's autouse fixture), so a search
    # answers 200 with every source's error and what needs a project is 503; what reads the server's files
    # is 503 from the unreachable node; an update with nothing to update is 409 (200s in tests/marketplace/).
    ("GET",    "/api/servers/{server_id}/marketplace/search"):  ("file.read",        401, 404, 403, 200, 200, 200, 423),
    ("GET",    "/api/servers/{server_id}/marketplace/projects/{source}/{project_id}"): ("file.read", 401, 404, 403, 503, 503, 503, 423),
    ("POST",   "/api/servers/{server_id}/marketplace/plan"):    ("file.write",       401, 404, 403, 503, 503, 503, 423),
    ("POST",   "/api/servers/{server_id}/marketplace/install"): ("file.write",       401, 404, 403, 503, 503, 503, 423),
    ("GET",    "/api/servers/{server_id}/plugins"):             ("file.read",        401, 404, 403, 503, 503, 503, 423),
    ("POST",   "/api/servers/{server_id}/plugins/check-updates"): ("file.read",      401, 404, 403, 503, 503, 503, 423),
    ("POST",   "/api/servers/{server_id}/plugins/update"):      ("file.write",       401, 404, 403, 409, 409, 409, 423),
    ("POST",   "/api/servers/{server_id}/plugins/enable"):      ("file.write",       401, 404, 403, 503, 503, 503, 423),
    ("POST",   "/api/servers/{server_id}/plugins/disable"):     ("file.write",       401, 404, 403, 503, 503, 503, 423),
    ("POST",   "/api/servers/{server_id}/plugins/uninstall"):   ("file.delete",      401, 404, 403, 503, 503, 503, 423),
    ("GET",    "/api/servers/{server_id}/databases"):           ("database.read",    401, 404, 403, 200, 200, 200, 200),
    ("POST",   "/api/servers/{server_id}/databases"):           ("database.create",  401, 404, 403, 503, 503, 503, 423),
    ("GET",    "/api/servers/{server_id}/databases/hosts"):     ("database.create",  401, 404, 403, 200, 200, 200, 423),
    ("POST",   "/api/servers/{server_id}/databases/{database_id}/rotate"): ("database.rotate", 401, 404, 403, 503, 503, 503, 423),
    ("DELETE", "/api/servers/{server_id}/databases/{database_id}"):        ("database.delete", 401, 404, 403, 503, 503, 503, 423),
    # Scheduled tasks: a server's, though under /api/tasks (the list filtered by serverId). Reading them
    # is not blocked by a suspension; changing or running them is.
    ("GET",    "/api/tasks"):                                   ("task.read",        401, 404, 403, 200, 200, 200, 200),
    ("POST",   "/api/tasks"):                                   ("task.create",      401, 404, 403, 201, 201, 201, 423),
    ("GET",    "/api/tasks/{task_id}"):                         ("task.read",        401, 404, 403, 200, 200, 200, 200),
    ("PUT",    "/api/tasks/{task_id}"):                         ("task.update",      401, 404, 403, 200, 200, 200, 423),
    ("DELETE", "/api/tasks/{task_id}"):                         ("task.delete",      401, 404, 403, 200, 200, 200, 423),
    ("POST",   "/api/tasks/{task_id}/execute"):                 ("task.execute",     401, 404, 403, 200, 200, 200, 423),
    ("GET",    "/api/tasks/{task_id}/runs"):                    ("task.read",        401, 404, 403, 200, 200, 200, 200),
    # Alerts: a server's, though under /api/alerts. One the caller may not read is not there (404, also
    # for the member without alert.read); resolving is not blocked by a suspension.
    ("GET",    "/api/alerts/{alert_id}"):                       ("alert.read",       401, 404, 404, 200, 200, 200, 200),
    ("POST",   "/api/alerts/{alert_id}/resolve"):               ("alert.resolve",    401, 404, 404, 200, 200, 200, 200),
    # A server's own notification subscriptions: reading allowed while suspended, changes not.
    ("GET",    "/api/servers/{server_id}/notifications"):       ("alert.subscribe",  401, 404, 403, 200, 200, 200, 200),
    ("POST",   "/api/servers/{server_id}/notifications"):       ("alert.subscribe",  401, 404, 403, 201, 201, 201, 423),
    ("GET",    "/api/servers/{server_id}/notifications/{notification_id}"):   ("alert.subscribe", 401, 404, 403, 200, 200, 200, 200),
    ("PATCH",  "/api/servers/{server_id}/notifications/{notification_id}"):   ("alert.subscribe", 401, 404, 403, 200, 200, 200, 423),
    ("DELETE", "/api/servers/{server_id}/notifications/{notification_id}"):   ("alert.subscribe", 401, 404, 403, 200, 200, 200, 423),
    ("POST",   "/api/servers/{server_id}/notifications/{notification_id}/test"): ("alert.subscribe", 401, 404, 403, SENT, SENT, SENT, 423),
}

# Operations not on one server: None as permission means any signed-in user.
#  (method, path):                                         (permission,        anon, without, holder, admin)
GLOBAL_OPERATIONS = {
    ("GET",    "/api/servers"):                                (None,               401, 200, 200, 200),
    ("POST",   "/api/servers"):                                ("server.resources", 401, 403, 201, 201),
    ("GET",    "/api/admin/stats"):                            ("admin.read",       401, 403, 200, 200),
    ("GET",    "/api/admin/servers"):                          ("admin.read",       401, 403, 200, 200),
    ("GET",    "/api/admin/health"):                           ("admin.read",       401, 403, 200, 200),
    ("GET",    "/api/admin/audit-logs"):                       ("admin.read",       401, 403, 200, 200),
    ("GET",    "/api/admin/users"):                            ("admin.read",       401, 403, 200, 200),
    ("POST",   "/api/admin/users"):                            ("admin.write",      401, 403, 201, 201),
    ("GET",    "/api/admin/users/{id}"):                       ("admin.read",       401, 403, 200, 200),
    ("PUT",    "/api/admin/users/{id}"):                       ("admin.write",      401, 403, 200, 200),
    ("PATCH",  "/api/admin/users/{id}"):                       ("admin.write",      401, 403, 200, 200),
    ("DELETE", "/api/admin/users/{id}"):                       ("admin.write",      401, 403, 200, 200),
    ("GET",    "/api/roles"):                                  ("admin.read",       401, 403, 200, 200),
    ("POST",   "/api/roles"):                                  ("admin.write",      401, 403, 201, 201),
    ("GET",    "/api/roles/{id}"):                             ("admin.read",       401, 403, 200, 200),
    ("PUT",    "/api/roles/{id}"):                             ("admin.write",      401, 403, 200, 200),
    ("PATCH",  "/api/roles/{id}"):                             ("admin.write",      401, 403, 200, 200),
    ("DELETE", "/api/roles/{id}"):                             ("admin.write",      401, 403, 200, 200),
    ("GET",    "/api/nodes"):                                  ("admin.read",       401, 403, 200, 200),
    ("POST",   "/api/nodes"):                                  ("admin.write",      401, 403, 201, 201),
    ("GET",    "/api/nodes/{id}"):                             ("admin.read",       401, 403, 200, 200),
    ("PUT",    "/api/nodes/{id}"):                             ("admin.write",      401, 403, 200, 200),
    ("PATCH",  "/api/nodes/{id}"):                             ("admin.write",      401, 403, 200, 200),
    ("DELETE", "/api/nodes/{id}"):                             ("admin.write",      401, 403, 200, 200),
    ("GET",    "/api/nodes/{id}/allocations"):                 ("admin.read",       401, 403, 200, 200),
    ("POST",   "/api/nodes/{id}/allocations"):                 ("admin.write",      401, 403, 201, 201),
    ("DELETE", "/api/nodes/{id}/allocations/{allocation_id}"): ("admin.write",      401, 403, 200, 200),
    ("POST",   "/api/nodes/{id}/deployment-token"):            ("admin.write",      401, 403, 200, 200),
    ("POST",   "/api/nodes/{id}/repoint"):                     ("admin.write",      401, 403, 200, 200),
    ("POST",   "/api/nodes/{id}/host-key"):                    ("admin.write",      401, 403, 200, 200),
    ("DELETE", "/api/nodes/{id}/host-key"):                    ("admin.write",      401, 403, 200, 200),
    ("POST",   "/api/nodes/{id}/test"):                        ("admin.write",      401, 403, 200, 200),
    ("GET",    "/api/locations"):                              (None,               401, 200, 200, 200),
    ("POST",   "/api/locations"):                              ("admin.write",      401, 403, 201, 201),
    ("GET",    "/api/locations/{id}"):                         (None,               401, 200, 200, 200),
    ("PUT",    "/api/locations/{id}"):                         ("admin.write",      401, 403, 200, 200),
    ("PATCH",  "/api/locations/{id}"):                         ("admin.write",      401, 403, 200, 200),
    ("DELETE", "/api/locations/{id}"):                         ("admin.write",      401, 403, 204, 204),
    ("GET",    "/api/templates"):                              (None,               401, 200, 200, 200),
    ("POST",   "/api/templates"):                              ("admin.write",      401, 403, 201, 201),
    ("GET",    "/api/templates/{id}"):                         (None,               401, 200, 200, 200),
    ("PUT",    "/api/templates/{id}"):                         ("admin.write",      401, 403, 200, 200),
    ("PATCH",  "/api/templates/{id}"):                         ("admin.write",      401, 403, 200, 200),
    ("DELETE", "/api/templates/{id}"):                         ("admin.write",      401, 403, 200, 200),
    ("GET",    "/api/templates/{id}/export"):                  ("admin.read",       401, 403, 200, 200),
    ("POST",   "/api/templates/import"):                       ("admin.write",      401, 403, 201, 201),
    ("GET",    "/api/api-keys"):                               (None,               401, 200, 200, 200),
    ("POST",   "/api/api-keys"):                               (None,               401, 201, 201, 201),
    ("GET",    "/api/api-keys/{id}"):                          (None,               401, 200, 200, 200),
    ("DELETE", "/api/api-keys/{id}"):                          (None,               401, 200, 200, 200),
    ("GET",    "/api/account/ssh-keys"):                       (None,               401, 200, 200, 200),
    ("POST",   "/api/account/ssh-keys"):                       (None,               401, 201, 201, 201),
    ("GET",    "/api/account/ssh-keys/{id}"):                  (None,               401, 200, 200, 200),
    ("DELETE", "/api/account/ssh-keys/{id}"):                  (None,               401, 200, 200, 200),
    ("GET",    "/api/auth/me"):                                (None,               401, 200, 200, 200),
    ("GET",    "/api/tasks/preview"):                          (None,               401, 200, 200, 200),
    ("POST",   "/api/auth/logout"):                            (None,               401, 200, 200, 200),
    ("POST",   "/api/auth/password"):                          (None,               401, 200, 200, 200),
    ("POST",   "/api/auth/2fa/setup"):                         (None,               401, 200, 200, 200),
    ("POST",   "/api/auth/2fa/enable"):                        (None,               401, 200, 200, 200),
    ("POST",   "/api/auth/2fa/disable"):                       (None,               401, 200, 200, 200),
    ("POST",   "/api/auth/2fa/recovery-codes"):                (None,               401, 200, 200, 200),
    # Alerts: each caller sees (and resolves) what they may, so the list answers everyone.
    ("GET",    "/api/alerts"):                                 (None,               401, 200, 200, 200),
    ("GET",    "/api/alerts/stats"):                           (None,               401, 200, 200, 200),
    ("POST",   "/api/alerts/bulk-resolve"):                    (None,               401, 200, 200, 200),
    ("GET",    "/api/alert-rules"):                            ("admin.read",       401, 403, 200, 200),
    ("POST",   "/api/alert-rules"):                            ("admin.write",      401, 403, 201, 201),
    ("GET",    "/api/alert-rules/{rule_id}"):                  ("admin.read",       401, 403, 200, 200),
    ("PUT",    "/api/alert-rules/{rule_id}"):                  ("admin.write",      401, 403, 200, 200),
    ("PATCH",  "/api/alert-rules/{rule_id}"):                  ("admin.write",      401, 403, 200, 200),
    ("DELETE", "/api/alert-rules/{rule_id}"):                  ("admin.write",      401, 403, 200, 200),
    ("POST",   "/api/alert-rules/{rule_id}/test"):             ("admin.write",      401, 403, SENT, SENT),
    ("POST",   "/api/alert-rules/{rule_id}/rotate-secret"):    ("admin.write",      401, 403, 200, 200),
    # Plans and upgrade bundles: everyone signed in sees what is offered; staff change them.
    ("GET",    "/api/plans"):                                  (None,               401, 200, 200, 200),
    ("POST",   "/api/plans"):                                  ("admin.write",      401, 403, 201, 201),
    ("GET",    "/api/plans/{id}"):                             (None,               401, 200, 200, 200),
    ("PUT",    "/api/plans/{id}"):                             ("admin.write",      401, 403, 200, 200),
    ("PATCH",  "/api/plans/{id}"):                             ("admin.write",      401, 403, 200, 200),
    ("DELETE", "/api/plans/{id}"):                             ("admin.write",      401, 403, 200, 200),
    ("GET",    "/api/upgrades"):                               (None,               401, 200, 200, 200),
    ("POST",   "/api/upgrades"):                               ("admin.write",      401, 403, 201, 201),
    ("GET",    "/api/upgrades/{id}"):                          (None,               401, 200, 200, 200),
    ("PUT",    "/api/upgrades/{id}"):                          ("admin.write",      401, 403, 200, 200),
    ("PATCH",  "/api/upgrades/{id}"):                          ("admin.write",      401, 403, 200, 200),
    ("DELETE", "/api/upgrades/{id}"):                          ("admin.write",      401, 403, 200, 200),
    # Database hosts on the real MariaDB: the panel logs in before it saves or tests one.
    ("GET",    "/api/admin/database-hosts"):                   ("admin.read",       401, 403, 200, 200),
    ("POST",   "/api/admin/database-hosts"):                   ("admin.write",      401, 403, 201, 201),
    ("GET",    "/api/admin/database-hosts/{id}"):              ("admin.read",       401, 403, 200, 200),
    ("PUT",    "/api/admin/database-hosts/{id}"):              ("admin.write",      401, 403, 200, 200),
    ("PATCH",  "/api/admin/database-hosts/{id}"):              ("admin.write",      401, 403, 200, 200),
    ("DELETE", "/api/admin/database-hosts/{id}"):              ("admin.write",      401, 403, 200, 200),
    ("POST",   "/api/admin/database-hosts/{id}/test"):         ("admin.write",      401, 403, 200, 200),
}

# Public operations (the body, or the token in the path, is the credential): what an anonymous caller gets.
PUBLIC_OPERATIONS = {
    ("GET",  "/api/health"):                        200,
    ("POST", "/api/auth/login"):                    200,
    ("POST", "/api/auth/login/2fa"):                200,
    ("POST", "/api/auth/refresh"):                  200,
    ("POST", "/api/auth/register"):                 200,
    ("POST", "/api/auth/password-reset"):           200,  # the same answer whether the address exists or not
    ("POST", "/api/auth/password-reset/confirm"):   400,  # a made-up reset token
    ("GET",  "/api/deploy/{token}"):                200,
    ("POST", "/api/deploy/{token}/complete"):       200,
}
# fmt: on

SERVER_CALLERS = ("anonymous", "stranger", "member_without", "member_with", "owner", "admin", "suspended")
GLOBAL_CALLERS = ("anonymous", "without", "holder", "admin")


def schema_operations() -> set[tuple[str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return {(method.upper(), path) for path, operations in schema["paths"].items() for method in operations}


def call(api, operation, caller, users: dict, *, permission=None, state=None):
    """Make the rows `operation` acts on, then call it as `caller` (None: anonymous)."""
    method, path = operation
    spec = CALLS.get(operation, Call())
    someone = caller or users["owner"]
    ctx = {"n": next(_counter), "email": someone.email, "password": PASSWORD}
    if (
        path.startswith(("/api/servers/{id}", "/api/servers/{server_id}", "/api/tasks/{task_id}"))
        or spec.on_server
    ):
        ctx.update(a_server(users, permission=permission, state=state or spec.state))
        ctx["server_id"] = ctx["id"]  # the files routes' name for it
        if spec.setup:
            ctx = spec.setup(ctx)
    elif spec.setup:
        ctx.update(spec.setup({**users, "caller": someone}))
    body = spec.body(ctx) if callable(spec.body) else spec.body
    if caller is not None:
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_for(caller)['token']}")
    return api.generic(
        method,
        path.format(**ctx) + (spec.query(ctx) if callable(spec.query) else spec.query),
        data=json.dumps(body or {}),
        content_type="application/json",
    )


def server_users(make_user) -> dict:
    users = {name: make_user() for name in ("owner", "stranger", "member_with", "member_without")}
    users["admin"] = make_user(role="Administrator")
    return users


SERVER_CASES = [(op, who) for op in SERVER_OPERATIONS for who in SERVER_CALLERS]
GLOBAL_CASES = [(op, who) for op in GLOBAL_OPERATIONS for who in GLOBAL_CALLERS]


def named(cases) -> list[str]:
    return [f"{method} {path} as {who}" for (method, path), who in cases]


def test_every_operation_of_the_schema_has_a_row():
    """A new endpoint fails here until its row says who may call it; a row for a removed one, too."""
    tables = [*SERVER_OPERATIONS, *GLOBAL_OPERATIONS, *PUBLIC_OPERATIONS]
    assert len(tables) == len(set(tables)), "an operation has rows in two tables"
    operations = schema_operations()
    missing = sorted(operations - set(tables))
    assert not missing, "operations without a row in the permission matrix: " + ", ".join(
        f"{m} {p}" for m, p in missing
    )
    stale = sorted(set(tables) - operations)
    assert not stale, "rows for operations the schema does not have: " + ", ".join(
        f"{m} {p}" for m, p in stale
    )
    assert not set(CALLS) - operations, "tests/matrix.py describes calls the schema does not have"


@pytest.mark.parametrize(("operation", "who"), SERVER_CASES, ids=named(SERVER_CASES))
def test_server_operation(api, make_user, operation, who):
    permission, *expected = SERVER_OPERATIONS[operation]
    expected = dict(zip(SERVER_CALLERS, expected, strict=True))[who]
    users = server_users(make_user)
    caller = {"anonymous": None, "suspended": users["admin"]}.get(who, users.get(who))
    state = Server.Status.SUSPENDED if who == "suspended" else None
    response = call(api, operation, caller, users, permission=permission, state=state)
    assert response.status_code == expected, response.content


@pytest.mark.parametrize(("operation", "who"), GLOBAL_CASES, ids=named(GLOBAL_CASES))
def test_global_operation(api, make_user, operation, who):
    permission, *expected = GLOBAL_OPERATIONS[operation]
    expected = dict(zip(GLOBAL_CALLERS, expected, strict=True))[who]
    users = server_users(make_user)
    users["without"] = make_user()
    users["holder"] = make_user(permissions=[permission] if permission else [])
    caller = None if who == "anonymous" else users[who]
    response = call(api, operation, caller, users, permission=permission)
    assert response.status_code == expected, response.content


@pytest.mark.parametrize("operation", PUBLIC_OPERATIONS, ids=[f"{m} {p}" for m, p in PUBLIC_OPERATIONS])
def test_public_operation(api, make_user, operation):
    response = call(api, operation, None, server_users(make_user))
    assert response.status_code == PUBLIC_OPERATIONS[operation], response.content
