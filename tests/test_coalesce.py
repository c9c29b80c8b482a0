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


def _data_segments_in(sock: socket.socket) -> int:
    """The client socket's count of data segments received (Linux ``tcp_info``)."""
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    if len(info) < 160:
        pytest.fail("this kernel's tcp_info has no data_segs_in")
    return int(struct.unpack_from("I", info, 152)[0])


def _read_answer(sock: socket.socket) -> bytes:
    """One whole answer (head and Content-Length body); fails if the server closes first."""
    sock.settimeout(10)
    data = b""

    def more() -> bytes:
        chunk = sock.recv(65536)
        assert chunk, f"the connection closed before a whole answer: {data[:80]!r}"
        return chunk

    while b"\r\n\r\n" not in data:
        data += more()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = [line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")]
    length = int(lines[0].split(b":")[1])
    while len(body) < length:
        data += more()
        body = data.partition(b"\r\n\r\n")[2]
    return head + b"\r\n\r\n" + body


@pytest.fixture(scope="module")
def server() -> Any:
    with serve() as base:
        host, port = base.removeprefix("http://").split(":")
        yield host, int(port)


def test_a_real_server_sends_each_answer_in_one_segment(server):
    """Head and body in one TCP segment: the client counts the segments it received.

    Small answers only: one far under the client's window is always sent whole.
    """
    host, port = server
    with socket.create_connection(server) as sock:
        paths = ["/api/nearest?lon=107.2&lat=28.95&k=1", "/healthz", "/api/convert?lon=107&lat=29"]
        for path in paths:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            answer = _read_answer(sock)
            assert answer.startswith(b"HTTP/1.1 200 ") and len(answer) > 100
        assert _data_segments_in(sock) == len(paths)


def test_a_client_that_ends_its_side_after_asking_still_gets_the_answer(server):
    """A request then end-of-file (``shutdown``): the answer kept for the turn goes out first."""
    host, _ = server
    for path in ["/healthz", "/api/nearest?lon=107.2&lat=28.95&k=5", "/api/nearest?lon=x"]:
        with socket.create_connection(server) as sock:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            sock.shutdown(socket.SHUT_WR)
            answer = _read_answer(sock)
            assert answer.split(b" ")[1] in (b"200", b"400"), answer[:80]
