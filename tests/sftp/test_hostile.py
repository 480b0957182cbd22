"""Hostile clients drop their own connection, never the gateway: garbage instead of SSH, a client that
connects and says nothing, one that stops halfway through the key exchange, a flood of connections,
broken SFTP framing after login. The gateway serves a real client afterwards every time."""

import io
import os
import socket
import struct
import threading
import time

import pytest

from accounts.models import AuditLog
from servers import runtime
from tests.polling import wait_for
from tests.sftp.conftest import sftp_name

pytestmark = pytest.mark.django_db(transaction=True)


def closed_by_gateway(sock: socket.socket, within: float) -> bool:
    sock.settimeout(within)
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return True


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def still_serving(gateway, customer, server) -> None:
    assert gateway.sftp(sftp_name(customer, server)).listdir("/") == []


def serves_again(gateway, customer, server, what: str) -> None:
    """A login gets through within a few seconds: the per-address cap may still be full of connections
    the gateway has not yet seen close."""

    def logs_in():
        try:
            still_serving(gateway, customer, server)
        except Exception:
            return False
        return True

    wait_for(logs_in, timeout=5, what=what, interval=0.2)


def test_garbage_silence_and_a_half_kex_each_drop_their_connection(gateway, files_server, customer):
    server = files_server()
    garbage = connect(gateway.port)
    garbage.sendall(os.urandom(256 * 1024))
    assert closed_by_gateway(garbage, 5)
    silent = connect(gateway.port)
    half = connect(gateway.port)
    half.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
    half.recv(256)  # the gateway's banner; then its KEXINIT arrives and we never answer
    oversized = connect(gateway.port)
    oversized.sendall(b"SSH-2.0-x\r\n" + struct.pack(">I", 0x7FFFFFFF) + os.urandom(64))
    assert closed_by_gateway(oversized, 5)
    still_serving(gateway, customer, server)  # while the silent ones wait
    for waiting in (silent, half):
        assert closed_by_gateway(waiting, 3 + 2)  # the login deadline (3 s in the tests)
    still_serving(gateway, customer, server)


def test_a_flood_of_connections(gateway, files_server, customer):
    server = files_server()
    flood = [connect(gateway.port) for _ in range(300)]
    for sock in flood:
        sock.sendall(b"SSH-2.0-flood\r\n")
    time.sleep(0.5)
    answered = sum(1 for sock in flood if not closed_by_gateway(sock, 0.05))
    assert answered <= 16  # unauthenticated connections from one address; the rest closed on accept
    for sock in flood:
        sock.close()
    serves_again(gateway, customer, server, "a login once the flood closed")

    stop = threading.Event()

    def churn():
        while not stop.is_set():
            with socket.create_connection(("127.0.0.1", gateway.port)) as sock:
                sock.sendall(os.urandom(512))

    churners = [threading.Thread(target=churn, daemon=True) for _ in range(4)]
    for thread in churners:
        thread.start()
    try:
        serves_again(gateway, customer, server, "a login while others were hammering the gateway")
    finally:
        stop.set()
        for thread in churners:
            thread.join(5)
    still_serving(gateway, customer, server)


def test_broken_sftp_framing_after_login_ends_only_that_session(gateway, files_server, customer):
    server = files_server()
    transport = gateway.transport(sftp_name(customer, server), password="correct-horse-battery")
    channel = transport.open_session()
    channel.invoke_subsystem("sftp")
    channel.sendall(struct.pack(">IBI", 5, 1, 3))  # INIT
    assert channel.recv(4096)[4] == 2  # VERSION
    unknown_type = struct.pack(">IBI", 5, 99, 7)  # no such request, id 7
    unknown_extension = struct.pack(">IBII", 25, 200, 8, 16) + b"evil@example.com"  # id 8
    for request_id, request in ((7, unknown_type), (8, unknown_extension)):
        channel.sendall(request)
        answer = channel.recv(4096)
        assert answer[4] == 101  # STATUS, PERMISSION_DENIED, for that id: never forwarded
        assert answer[5:13] == struct.pack(">II", request_id, 3)
    channel.sendall(struct.pack(">IBII", 23, 200, 9, 14) + b"home-directory" + struct.pack(">I", 0))
    answer = channel.recv(4096)
    assert answer[4] == 104 and answer[13:18] == struct.pack(">I", 1) + b"/"
    channel.sendall(struct.pack(">I", 10_000_000) + b"\x03" + os.urandom(1000))  # a 10 MB "packet"
    deadline = time.monotonic() + 5
    while transport.is_active() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not transport.is_active()
    still_serving(gateway, customer, server)


def test_copy_data_is_refused_and_a_reused_id_cannot_hide_a_delete(gateway, files_server, customer):
    """copy-data would write bytes the disk limit never sees; a failed READ's answer under the id of
    a REMOVE (sent before the REMOVE's own answer) must not take the REMOVE's audit with it."""
    server = files_server()
    sftp = gateway.sftp(sftp_name(customer, server))
    sftp.putfo(io.BytesIO(b"doomed"), "/doomed.txt")
    sftp.close()
    transport = gateway.transport(sftp_name(customer, server), password="correct-horse-battery")
    channel = transport.open_session()
    channel.invoke_subsystem("sftp")
    channel.sendall(struct.pack(">IBI", 5, 1, 3))  # INIT
    assert channel.recv(4096)[4] == 2
    copy = struct.pack(">IBII", 1 + 4 + 4 + 9, 200, 5, 9) + b"copy-data"
    channel.sendall(copy)
    assert channel.recv(4096)[5:13] == struct.pack(">II", 5, 3)  # PERMISSION_DENIED for id 5
    bogus_read = struct.pack(">IBI", 1 + 4 + 4 + 4 + 8 + 4, 5, 9) + struct.pack(">I", 4) + b"nope"
    bogus_read += struct.pack(">QI", 0, 1024)
    path = b"/doomed.txt"
    remove = struct.pack(">IBI", 1 + 4 + 4 + len(path), 13, 9) + struct.pack(">I", len(path)) + path
    channel.sendall(bogus_read + remove)
    answers, packets = b"", []
    while len(packets) < 2:
        answers += channel.recv(4096)
        while len(answers) >= 4 and len(answers) >= 4 + int.from_bytes(answers[:4], "big"):
            size = 4 + int.from_bytes(answers[:4], "big")
            packets.append(answers[:size])
            answers = answers[size:]
    failed, removed = ((p[4], p[5:9], int.from_bytes(p[9:13], "big")) for p in packets)
    assert failed[:2] == removed[:2] == (101, struct.pack(">I", 9))  # two STATUS answers, both id 9
    assert failed[2] != 0 and removed[2] == 0  # the READ failed, the REMOVE succeeded
    transport.close()
    assert not os.path.exists(os.path.join(runtime.server_dir(server), "doomed.txt"))
    wait_for(lambda: AuditLog.objects.filter(action="sftp.delete").exists(), 10)
    assert AuditLog.objects.get(action="sftp.delete").metadata["paths"] == ["/doomed.txt"]
