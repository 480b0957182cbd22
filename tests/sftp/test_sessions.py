"""A session through the gateway: browse, read and change files, with `/` the server's root, every
change in the audit log (in batches), on the local and the SSH node."""

import io
import os

import paramiko
import pytest

from accounts.models import AuditLog
from servers import runtime
from servers.models import Server
from tests.fixtures import PASSWORD
from tests.polling import wait_for
from tests.sftp.conftest import sftp_name

pytestmark = pytest.mark.django_db(transaction=True)

ENGINES = [(1, "unix"), (2, "ssh")]


@pytest.mark.parametrize(("engine", "via"), ENGINES)
def test_list_get_put_rename_mkdir_remove(gateway, files_server, customer, engine, via):
    server = files_server(engine, via)
    sftp = gateway.sftp(sftp_name(customer, server))
    assert sftp.normalize(".") == "/"
    sftp.mkdir("/world")
    sftp.putfo(io.BytesIO(b"motd=hello\n"), "/server.properties")
    sftp.putfo(io.BytesIO(os.urandom(3 * 1024 * 1024)), "world/level.dat")
    assert sorted(sftp.listdir("/")) == ["server.properties", "world"]
    assert sftp.stat("/world/level.dat").st_size == 3 * 1024 * 1024
    sftp.rename("/server.properties", "/world/server.properties")
    out = io.BytesIO()
    sftp.getfo("/world/server.properties", out)
    assert out.getvalue() == b"motd=hello\n"
    sftp.chmod("/world/server.properties", 0o600)
    sftp.remove("/world/level.dat")
    sftp.chdir("/world")
    assert sftp.getcwd() == "/world"
    assert sftp.listdir(".") == ["server.properties"]
    on_node = os.path.join(runtime.server_dir(server), "world", "server.properties")
    with open(on_node, "rb") as handle:
        assert handle.read() == b"motd=hello\n"
    sftp.close()

    def audited():
        return set(AuditLog.objects.filter(action__startswith="sftp.").values_list("action", flat=True))

    wait_for(
        lambda: audited() >= {"sftp.write", "sftp.rename", "sftp.mkdir", "sftp.chmod", "sftp.delete"}, 10
    )
    # a periodic flush between the two writes makes two rows of one path each
    writes = AuditLog.objects.filter(action="sftp.write")
    assert {(row.user, row.resource_id) for row in writes} == {(customer, str(server.pk))}
    assert sorted(path for row in writes for path in row.metadata["paths"]) == [
        "/server.properties",
        "/world/level.dat",
    ]
    assert AuditLog.objects.get(action="sftp.rename").metadata["paths"] == [
        "/server.properties -> /world/server.properties"
    ]


def test_many_small_files_make_one_audit_row(gateway, files_server, customer):
    server = files_server()
    sftp = gateway.sftp(sftp_name(customer, server))
    for n in range(50):
        sftp.putfo(io.BytesIO(b"x"), f"/f{n}.txt", confirm=False)
    sftp.close()
    rows = AuditLog.objects.filter(action="sftp.write")
    # A periodic flush may land between the writes: the rows add up to every write once the last is in.
    wait_for(lambda: sum(row.metadata["count"] for row in rows.all()) >= 50, 10)
    assert sum(row.metadata["count"] for row in rows.all()) == 50
    assert rows.count() <= 3


def test_only_the_sftp_subsystem(gateway, files_server, customer):
    server = files_server()
    name = sftp_name(customer, server)
    asks = [
        lambda channel: channel.exec_command("id"),
        lambda channel: channel.invoke_shell(),
        lambda channel: channel.get_pty(),
        lambda channel: channel.invoke_subsystem("netconf"),
    ]
    for ask in asks:
        channel = gateway.transport(name, password=PASSWORD).open_session()
        with pytest.raises(paramiko.SSHException):
            ask(channel)
    transport = gateway.transport(name, password=PASSWORD)
    with pytest.raises(paramiko.ChannelException):
        transport.open_channel("direct-tcpip", ("127.0.0.1", 22), ("127.0.0.1", 1234))
    with pytest.raises(paramiko.SSHException):
        transport.request_port_forward("127.0.0.1", 0)
    transport.open_session()
    with pytest.raises(paramiko.ChannelException):  # one session per connection
        transport.open_session()


def test_writes_stop_at_the_disk_limit(gateway, files_server, customer, settings):
    settings.SFTP_DISK_RECHECK_SECONDS = 60
    server = files_server()
    Server.objects.filter(pk=server.pk).update(allocated_disk_mb=1)
    sftp = gateway.sftp(sftp_name(customer, server))
    with pytest.raises(OSError, match=r"disk limit of 1 MB|size mismatch"):  # pipelined: seen at the end
        sftp.putfo(io.BytesIO(os.urandom(3 * 1024 * 1024)), "/big.bin")
    written = os.path.getsize(os.path.join(runtime.server_dir(server), "big.bin"))
    assert written <= 1024 * 1024  # SFTP writes in place: what fit stays, nothing past the limit
    with sftp.open("/more.txt", "w", bufsize=0) as handle, pytest.raises(OSError, match="disk limit of 1 MB"):
        handle.write(b"m" * 32768)  # what is left is less than one full write
    sftp.remove("/big.bin")
    settings.SFTP_DISK_RECHECK_SECONDS = 0.5  # the next re-measure finds the room the delete made
    wait_for(lambda: _fits(sftp), 10, "room again once the file was deleted")


def _fits(sftp) -> bool:
    try:
        sftp.putfo(io.BytesIO(b"fits"), "/small.txt")
    except OSError:
        return False
    return True
