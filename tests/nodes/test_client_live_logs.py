"""Live logs read without blocking (nodes.client.LiveLog, what the monitor's one reader per node
selects on), over the local socket and over SSH; and the frame cutter under them, on what a hostile
or broken node could send instead of Docker's framing."""

import selectors
import threading
import time

import pytest

from nodes.client import client_for
from nodes.client.streams import MAX_FRAME_BYTES, FrameCutter
from tests.nodes.test_client_containers import ENGINES, create, made  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db

COUNT = (
    'i=0; while [ $i -lt 40 ]; do echo "line $i"; echo "err $i" >&2; i=$((i+1)); sleep 0.02; done; sleep 30'
)


def read_until(log, done, timeout: float = 15) -> list:
    selector = selectors.DefaultSelector()
    selector.register(log, selectors.EVENT_READ)
    frames, deadline = list(log.read()) if log.pending else [], time.monotonic() + timeout
    try:
        while not done(frames) and not log.ended:
            assert time.monotonic() < deadline, f"only {len(frames)} frames in {timeout} s"
            if selector.select(timeout=1):
                frames += log.read()
    finally:
        selector.close()
    return frames


@pytest.mark.parametrize(("engine", "via"), ENGINES)
def test_a_live_log_is_read_through_a_selector_and_ends_when_closed(make_node, made, engine, via):  # noqa: F811
    client = client_for(make_node(engine=engine, via=via))
    container_id, _, _ = create(client, made, command=["/bin/sh", "-c", COUNT])
    client.start_container(container_id)
    log = client.live_logs(container_id, "0")
    try:
        frames = read_until(log, lambda frames: len(frames) >= 80)
        texts = [(kind, payload.partition(b" ")[2]) for kind, payload in frames]
        assert [text for kind, text in texts if kind == 1] == [f"line {i}\n".encode() for i in range(40)]
        assert [text for kind, text in texts if kind == 2] == [f"err {i}\n".encode() for i in range(40)]
        assert all(payload[:2] == b"20" for _, payload in frames)  # each with Docker's time first
        assert not log.ended and log.read() == []  # nothing waiting: no block, no end

        threading.Timer(0.2, log.close).start()  # another thread cuts it, as a node drop does
        started = time.monotonic()
        read_until(log, lambda frames: False, timeout=5)
        assert log.ended and time.monotonic() - started < 5
    finally:
        log.release()


@pytest.mark.parametrize(("engine", "via"), ENGINES)
def test_the_live_log_of_a_container_that_exits_ends(make_node, made, engine, via):  # noqa: F811
    client = client_for(make_node(engine=engine, via=via))
    container_id, _, _ = create(client, made, command=["/bin/sh", "-c", "echo one; echo two"])
    client.start_container(container_id)
    log = client.live_logs(container_id, "0")
    try:
        frames = read_until(log, lambda frames: False)
    finally:
        log.release()
    assert log.ended
    assert [payload.partition(b" ")[2] for _, payload in frames] == [b"one\n", b"two\n"]


def chunked(*frames: tuple[int, bytes]) -> bytes:
    body = b""
    for kind, payload in frames:
        frame = bytes([kind, 0, 0, 0]) + len(payload).to_bytes(4, "big") + payload
        body += f"{len(frame):x}\r\n".encode() + frame + b"\r\n"
    return body


def test_frames_come_out_whole_however_the_bytes_are_cut():
    frames = [(1, b"first line\n"), (2, b"an error\n"), (1, b"x" * 20_000)]
    data = chunked(*frames) + b"0\r\n\r\n"
    for size in (1, 3, 7, 64, len(data)):
        cutter, out = FrameCutter(), []
        for at in range(0, len(data), size):
            out += cutter.feed(data[at : at + size])
        assert out == frames and cutter.ended, size


def test_a_frame_split_over_chunks_is_joined():
    frame = bytes([1, 0, 0, 0]) + (12).to_bytes(4, "big") + b"hello world\n"
    data = (
        f"{5:x}\r\n".encode() + frame[:5] + b"\r\n" + f"{len(frame) - 5:x}\r\n".encode() + frame[5:] + b"\r\n"
    )
    assert FrameCutter().feed(data) == [(1, b"hello world\n")]
    assert FrameCutter(chunked=False).feed(frame) == [(1, b"hello world\n")]  # a body without chunks


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"zz\r\n" + b"x" * 10, "not a number"),
        (b"1" * 100, "no chunk size in 64 bytes"),
        (f"{MAX_FRAME_BYTES + 1:x}\r\n".encode(), "more than Docker"),
        (b"-5\r\n", "more than Docker"),
    ],
)
def test_what_is_not_chunked_framing_is_refused_not_buffered(data, message):
    with pytest.raises(ValueError, match=message):
        FrameCutter().feed(data)


def test_a_frame_claiming_more_than_a_log_line_takes_is_refused():
    header = bytes([1, 0, 0, 0]) + (MAX_FRAME_BYTES + 1).to_bytes(4, "big")
    with pytest.raises(ValueError, match="log frame of"):
        FrameCutter(chunked=False).feed(header)
    data = f"{len(header):x}\r\n".encode() + header + b"\r\n"
    with pytest.raises(ValueError, match="log frame of"):
        FrameCutter().feed(data)
