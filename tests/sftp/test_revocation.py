"""Each request is checked against the permission it needs when it arrives, and an open session is
closed within seconds of its login no longer holding (the watcher re-checks every 2 s)."""

import io
import os

import pytest

from accounts.apikeys import apikey_create, apikey_revoke
from accounts.models import LoginSession, SSHKey
from accounts.sshkeys import ssh_key_add
from servers import runtime
from servers.files.helper import remove_helper
from servers.lifecycle.suspension import server_suspend
from servers.models import Server, ServerMember
from tests.fixtures import tokens_for
from tests.polling import wait_for
from tests.sftp.conftest import sftp_name
from tests.sftp.test_logins import keypair

pytestmark = pytest.mark.django_db(transaction=True)

REVOKED_WITHIN = 5.0


def denied(call, *args) -> bool:
    try:
        call(*args)
    except PermissionError:
        return True
    return False


def test_a_reader_can_get_but_not_change(gateway, files_server, customer, make_user):
    server = files_server()
    owner = gateway.sftp(sftp_name(customer, server))
    owner.putfo(io.BytesIO(b"keep me"), "/keep.txt")
    owner.mkdir("/dir")
    reader = make_user()
    ServerMember.objects.create(server=server, user=reader, permissions=["file.read"])
    sftp = gateway.sftp(sftp_name(reader, server))
    out = io.BytesIO()
    sftp.getfo("/keep.txt", out)
    assert out.getvalue() == b"keep me"
    assert denied(sftp.putfo, io.BytesIO(b"new"), "/new.txt")
    assert denied(sftp.open, "/keep.txt", "a")
    assert denied(sftp.open, "/keep.txt", "r+")
    assert denied(sftp.remove, "/keep.txt")
    assert denied(sftp.rmdir, "/dir")
    assert denied(sftp.mkdir, "/other")
    assert denied(sftp.rename, "/keep.txt", "/moved.txt")
    assert denied(sftp.posix_rename, "/keep.txt", "/moved.txt")
    assert denied(sftp.chmod, "/keep.txt", 0o777)
    assert denied(sftp.symlink, "/keep.txt", "/link")
    assert sorted(sftp.listdir("/")) == ["dir", "keep.txt"]  # the session goes on after refusals
    directory = runtime.server_dir(server)
    assert sorted(os.listdir(directory)) == ["dir", "keep.txt"]
    with open(os.path.join(directory, "keep.txt"), "rb") as handle:
        assert handle.read() == b"keep me"


def test_a_writer_without_delete_cannot_remove(gateway, files_server, customer, make_user):
    server = files_server()
    writer = make_user()
    ServerMember.objects.create(server=server, user=writer, permissions=["file.read", "file.write"])
    sftp = gateway.sftp(sftp_name(writer, server))
    sftp.putfo(io.BytesIO(b"mine"), "/mine.txt")
    assert denied(sftp.remove, "/mine.txt")
    ServerMember.objects.filter(user=writer).update(permissions=["file.read"])  # loses file.write
    wait_for(lambda: denied(sftp.open, "/mine.txt", "a"), REVOKED_WITHIN)
    assert denied(sftp.putfo, io.BytesIO(b"more"), "/more.txt")
    assert sftp.listdir("/") == ["mine.txt"]  # read-only now, the session still open


def _member_removed(ctx):
    ServerMember.objects.filter(user=ctx["member"]).delete()


def _read_lost(ctx):
    ServerMember.objects.filter(user=ctx["member"]).update(permissions=["server.read"])


def _password_changed(ctx):
    ctx["member"].set_password("a-new-password-1")
    ctx["member"].save()


def _deactivated(ctx):
    ctx["member"].is_active = False
    ctx["member"].save()


def _suspended(ctx):
    server_suspend(server=ctx["server"], actor=ctx["owner"])


def _transferring(ctx):
    Server.objects.filter(pk=ctx["server"].pk).update(status=Server.Status.TRANSFERRING)


def _deleted(ctx):
    Server.objects.filter(pk=ctx["server"].pk).delete()


def _api_key_revoked(ctx):
    apikey_revoke(key=ctx["api_key"])


def _ssh_key_removed(ctx):
    SSHKey.objects.filter(user=ctx["member"]).delete()


def _logged_out(ctx):
    LoginSession.objects.filter(user=ctx["member"]).update(revoked_at="2026-01-01T00:00:00Z")


@pytest.mark.parametrize(
    ("login", "revoke"),
    [
        ("password", _member_removed),
        ("password", _read_lost),
        ("password", _password_changed),
        ("password", _deactivated),
        ("password", _suspended),
        ("password", _transferring),
        ("password", _deleted),
        ("apikey", _api_key_revoked),
        ("publickey", _ssh_key_removed),
        ("jwt", _logged_out),
    ],
)
def test_an_open_session_is_closed_within_seconds(gateway, files_server, customer, make_user, login, revoke):
    server = files_server()
    member = make_user()
    ServerMember.objects.create(server=server, user=member, permissions=["file.read", "file.write"])
    ctx = {"server": server, "member": member, "owner": customer}
    name = sftp_name(member, server)
    if login == "apikey":
        ctx["api_key"], secret = apikey_create(user=member, name="sftp")
        sftp = gateway.sftp(name, password=secret)
    elif login == "publickey":
        private, line = keypair()
        ssh_key_add(user=member, name="laptop", public_key=line)
        sftp = gateway.sftp(name, pkey=private)
    elif login == "jwt":
        sftp = gateway.sftp(str(server.pk), password=tokens_for(member)["token"])
    else:
        sftp = gateway.sftp(name)
    sftp.putfo(io.BytesIO(b"before"), "/before.txt")
    transport = sftp.get_channel().get_transport()
    revoke(ctx)
    wait_for(lambda: not transport.is_active(), REVOKED_WITHIN, "the session stayed open")
    if revoke is _deleted:
        remove_helper(server)  # what deleting a server does; the leftover sweep no longer knows it
