"""One send per answer (`stations.api.coalesce`): the transport alone, and a real server."""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import Any

import pytest

from helpers import serve
from stations.api.coalesce import SEND_AT, CoalescingTransport


class Recording(asyncio.Transport):
    """A socket transport's stand-in that records what reaches it."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[bytes] = []
        self.events: list[str] = []
        self.closing = False

    def write(self, data: Any) -> None:
        assert not self.closing, "written after the end"
        self.sent.append(bytes(data))
        self.events.append("write")

    def close(self) -> None:
        self.closing = True
        self.events.append("close")

    def abort(self) -> None:
        self.closing = True
        self.events.append("abort")

    def write_eof(self) -> None:
        self.events.append("eof")

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return 0


def run(steps: Any) -> Recording:
    async def main() -> Recording:
        inner = Recording()
        await steps(CoalescingTransport(inner, asyncio.get_running_loop()), inner)
        await asyncio.sleep(0)
        return inner

    return asyncio.run(main())


def test_writes_of_one_turn_go_out_together_in_order():
    async def steps(t: CoalescingTransport, inner: Recording) -> None:
        t.write(b"HTTP/1.1 200 OK\r\n\r\n")
        t.write(bytearray(b"body"))
        t.writelines([b"-", memoryview(b"more")])
        assert inner.sent == [] and t.get_write_buffer_size() == 28
        await asyncio.sleep(0)  # the turn ends
        assert inner.sent == [b"HTTP/1.1 200 OK\r\n\r\nbody-more"]
        t.write(b"next turn")

    assert run(steps).sent == [b"HTTP/1.1 200 OK\r\n\r\nbody-more", b"next turn"]


def test_a_large_body_goes_out_at_once_to_meet_flow_control():
    async def steps(t: CoalescingTransport, inner: Recording) -> None:
        t.write(b"head")
        t.write(b"x" * SEND_AT)
        assert inner.sent == [b"head" + b"x" * SEND_AT]  # not held until the turn ends
        assert t.get_write_buffer_size() == 0
        t.write(b"tail")

    assert run(steps).sent[1:] == [b"tail"]


def test_ending_sends_what_was_kept_first_and_abort_drops_it():
    async def close(t: CoalescingTransport, inner: Recording) -> None:
        t.write(b"answer")
        t.close()

    async def eof(t: CoalescingTransport, inner: Recording) -> None:
        t.write(b"refusal")
        t.write_eof()

    async def abort(t: CoalescingTransport, inner: Recording) -> None:
        t.write(b"lost")
        t.abort()

    closed = run(close)
    assert closed.sent == [b"answer"] and closed.events == ["write", "close"]
    assert run(eof).events == ["write", "eof"]
    aborted = run(abort)
    assert aborted.sent == [] and aborted.events == ["abort"]


def test_nothing_is_written_to_a_connection_closed_meanwhile():
    async def steps(t: CoalescingTransport, inner: Recording) -> None:
        t.write(b"too late")
        inner.closing = True  # the peer went away before the turn ended

    assert run(steps).sent == []


def _data_segments_in(sock: socket.socket) -> int:
    """The client socket's count of data segments received (Linux ``tcp_info``)."""
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    if len(info) < 160:
        pytest.fail("this kernel's tcp_info has no data_segs_in")
    return int(struct.unpack_from("I", info, 152)[0])


def _read_answer(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next(line for line in head.split(b"\r\n") if line.lower().startswith(
        b"content-length:")).split(b":")[1])  # fmt: skip
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def test_a_real_server_sends_each_answer_in_one_segment():
    """Head and body in one TCP segment: the client counts the segments it received."""
    with serve() as base:
        host, port = base.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as sock:
            paths = ["/api/nearest?lon=107.2&lat=28.95&k=5", "/api/stations", "/healthz"]
            for path in paths:
                sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
                answer = _read_answer(sock)
                assert answer.startswith(b"HTTP/1.1 200 ") and len(answer) > 100
            assert _data_segments_in(sock) == len(paths)
