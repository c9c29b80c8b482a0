"""The server protects itself, over real HTTP against `stations serve --workers 2`.

Oversized or too many headers are answered 431, a client trickling its head or body is cut
off, and X-Forwarded-For is believed from configured proxies only. Time bounds here are
generous deadlines for "the connection was closed", never measurements of speed.
"""

import contextlib
import shutil
import socket
import time
from urllib.parse import urlsplit

import httpx
import pytest

from conftest import BUNDLED_LOOP, BUNDLED_STATIONS
from helpers import serve

SID = "delong-yinxing-union-station"
LIMITS = {
    "STATIONS_MAX_HEADER_BYTES": "8192",
    "STATIONS_MAX_HEADERS": "20",
    "STATIONS_HEADER_TIMEOUT_S": "1",
    "STATIONS_BODY_TIMEOUT_S": "1",
    "STATIONS_REPORT_RATE_PER_HOUR": "2",
}
CLOSED_WITHIN_S = 30  # a deadline for the test, far above the 1 s timeouts


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("data")
    shutil.copy(BUNDLED_STATIONS, data / "stations.geojson")
    env = {
        **LIMITS,
        "STATIONS_STATIONS_PATH": str(data / "stations.geojson"),
        "STATIONS_LOOP_PATH": str(BUNDLED_LOOP),
    }
    with serve(env, args=("--workers", "2")) as base:
        yield base


def connect(base: str) -> socket.socket:
    url = urlsplit(base)
    sock = socket.create_connection((url.hostname, url.port), timeout=CLOSED_WITHIN_S)
    return sock


def read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    chunks = []
    deadline = time.monotonic() + CLOSED_WITHIN_S
    while time.monotonic() < deadline:
        chunk = sock.recv(65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
    pytest.fail("the server did not close the connection")


def head(*fields: bytes) -> bytes:
    return b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(f + b"\r\n" for f in fields) + b"\r\n"


def test_a_small_request_passes(server):
    with connect(server) as sock:
        sock.sendall(head(b"X-Fine: " + b"a" * 4000, b"Connection: close"))
        assert read_all(sock).startswith(b"HTTP/1.1 200 ")


@pytest.mark.parametrize("size", [9000, 200_000])
def test_an_oversized_header_is_answered_431(server, size):
    with connect(server) as sock:
        sock.sendall(head(b"X-Big: " + b"a" * size))
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert b"connection: close" in answer
    assert answer.endswith(b'{"detail":"request head larger than 8192 bytes"}')
    assert httpx.get(f"{server}/healthz").status_code == 200


def test_a_flood_of_header_is_cut_off(server):
    chunk = b"a" * 1_048_576
    sent = 0
    with connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Flood: ")
        with contextlib.suppress(OSError):  # the server closes: sending fails
            while sent < 256 * len(chunk):
                sock.sendall(chunk)
                sent += len(chunk)
    assert sent < 256 * len(chunk)  # cut off long before 256 MB
    assert httpx.get(f"{server}/healthz").status_code == 200


def test_too_many_headers_are_answered_431(server):
    with connect(server) as sock:
        sock.sendall(head(*[b"X-F%d: 1" % i for i in range(20)]))  # 21 with Host
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert answer.endswith(b'{"detail":"more than 20 header fields"}')
    with connect(server) as sock:
        sock.sendall(head(*[b"X-F%d: 1" % i for i in range(18)], b"Connection: close"))
        assert read_all(sock).startswith(b"HTTP/1.1 200 ")


def test_a_slowloris_client_is_cut_off(server):
    answer = b""
    with connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        sock.settimeout(0.2)
        deadline = time.monotonic() + CLOSED_WITHIN_S
        while True:
            if time.monotonic() > deadline:
                pytest.fail("a client trickling its head was never cut off")
            try:
                sock.sendall(b"X-Trickle: 1\r\n")  # a head that never ends, always sending
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if not chunk:
                break
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 408 ")


def test_an_idle_connection_is_closed(server):
    with connect(server) as sock:
        assert read_all(sock) == b""  # closed without a word


def test_a_body_that_never_comes_is_cut_off(server):
    with connect(server) as sock:
        sock.sendall(
            b"POST /api/stations/" + SID.encode() + b"/reports HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
        )
        assert b" 201 " not in read_all(sock)


def test_forwarded_for_is_not_believed_without_trusted_proxies(server):
    url = f"{server}/api/stations/{SID}/reports"
    codes = [
        httpx.post(url, json={"category": "dirty"}, headers={"X-Forwarded-For": f"6.6.6.{i}"})
        for i in range(3)
    ]
    assert [r.status_code for r in codes] == [201, 201, 429]
