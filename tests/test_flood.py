"""Floods: pages per client, and the penalty box, over real HTTP against an in-process server.

The server runs in a thread of the test (uvicorn with `GuardedHttpProtocol`, the app made by
`create_app`), so the test holds the app and sets the penalty box's clock. Clients take
different loopback addresses (127.0.0.x) to be different clients. Nothing here is timed:
"closed without an answer" is a connection that ends before any byte arrives (a boxed
connection is held for the head timeout, 1 s here, then reset).
"""

from __future__ import annotations

import json
import logging
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from conftest import BUNDLED_LOOP, BUNDLED_STATIONS
from helpers import free_port
from stations.api import create_app
from stations.api.app import StationsApp
from stations.api.flood import rider_query
from stations.api.server import GuardedHttpProtocol, ServerLimits
from stations.limits import PenaltyBox
from stations.settings import Settings

DEADLINE_S = 30  # for "the server answered or closed", never a measurement
HEAD_LIMIT = 8192
HEAD_TIMEOUT_S = 1.0  # how long a boxed connection is held before it is reset
NEAREST = b"GET /api/nearest?lon=107.1&lat=28.9 HTTP/1.1\r\nHost: x\r\n\r\n"


class Protocol(GuardedHttpProtocol):
    """The server's protocol with a small head limit (what `stations serve` reads from settings)."""

    limits = ServerLimits(HEAD_LIMIT, 100, HEAD_TIMEOUT_S, 30.0)


class HoldingProtocol(GuardedHttpProtocol):
    """A head timeout far longer than any stall of a loaded test machine: held stays held."""

    limits = ServerLimits(HEAD_LIMIT, 100, DEADLINE_S * 2, 30.0)


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Running:
    """A server in a thread, its app, and its penalty box's clock."""

    def __init__(self, app: StationsApp, port: int, clock: Clock) -> None:
        self.app, self.port, self.clock = app, port, clock

    def connect(self, source: str) -> socket.socket:
        """A connection from ``source`` (a loopback address)."""
        sock = socket.socket()
        sock.settimeout(DEADLINE_S)
        sock.bind((source, 0))
        sock.connect(("127.0.0.1", self.port))
        return sock

    def exchange(self, source: str, request: bytes) -> bytes:
        """Send ``request`` from ``source`` on a new connection; all it gets until closed."""
        with self.connect(source) as sock:
            try:
                sock.sendall(request)
                return read_answer(sock)
            except (ConnectionResetError, BrokenPipeError):
                return b""


def read_answer(sock: socket.socket) -> bytes:
    """One answer (head and Content-Length body), or what arrived before the connection ended."""
    data = b""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk
        head, sep, body = data.partition(b"\r\n\r\n")
        if sep:
            length = [
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            ]
            if length and len(body) >= length[0]:
                return data
    pytest.fail("no answer and no close before the deadline")


def get(path: str, *fields: str) -> bytes:
    extra = "".join(f"{field}\r\n" for field in fields)
    return f"GET {path} HTTP/1.1\r\nHost: x\r\n{extra}\r\n".encode()


def oversized(*fields: str) -> bytes:
    extra = "".join(f"{field}\r\n" for field in fields)
    return f"GET /healthz HTTP/1.1\r\nHost: x\r\n{extra}X-Big: {'a' * 20_000}\r\n\r\n".encode()


def status(answer: bytes) -> int | None:
    """The status of an answer; None when the connection ended without one."""
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else None


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Any]:
    """Start a server with the given settings; stopped when the test ends."""
    servers: list[tuple[uvicorn.Server, threading.Thread]] = []
    shutil.copy(BUNDLED_STATIONS, tmp_path / "stations.geojson")

    def starter(protocol: type[GuardedHttpProtocol] = Protocol, **overrides: Any) -> Running:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            stations_path=tmp_path / "stations.geojson",
            loop_path=BUNDLED_LOOP,
            **overrides,
        )
        app = create_app(settings)
        clock = Clock()
        assert app.flood is not None
        app.flood.penalties.clock = clock
        port = free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, http=protocol, log_level="warning", lifespan="on"
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + DEADLINE_S
        while not server.started:
            assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
            time.sleep(0.02)
        servers.append((server, thread))
        return Running(app, port, clock)

    yield starter
    for server, thread in servers:
        server.should_exit = True
        thread.join(DEADLINE_S)


def test_oversized_heads_put_an_address_in_the_penalty_box(start, caplog):
    run = start(penalty_strikes=3, penalty_s=60)
    caplog.set_level(logging.WARNING, logger="stations.server")
    for _ in range(3):
        assert status(run.exchange("127.0.0.2", oversized())) == 431
    # the next connection from that address is closed at its request line, unanswered ...
    assert run.exchange("127.0.0.2", get("/healthz")) == b""
    assert run.exchange("127.0.0.2", get("/map")) == b""
    assert run.exchange("127.0.0.2", oversized()) == b""
    # ... except riders' queries, which it is still served
    assert status(run.exchange("127.0.0.2", NEAREST)) == 200
    assert (
        status(run.exchange("127.0.0.2", get("/api/within?lon=107.1&lat=28.9&radius_m=5000")))
        == 200
    )
    # another address is served as before
    assert status(run.exchange("127.0.0.3", get("/healthz"))) == 200
    # logged once for the whole window, not per refused connection
    boxed = [r for r in caplog.records if "penalty box" in r.getMessage()]
    assert len(boxed) == 1 and "127.0.0.2" in boxed[0].getMessage()
    # the held connections were reset once their head time was up, and released
    assert run.app.flood.held == 0


def test_the_penalty_expires_by_the_clock(start):
    run = start(penalty_strikes=2, penalty_s=30)
    for _ in range(2):
        assert status(run.exchange("127.0.0.4", oversized())) == 431
    assert run.exchange("127.0.0.4", get("/healthz")) == b""
    run.clock.now += 29
    assert run.exchange("127.0.0.4", get("/healthz")) == b""
    run.clock.now += 2
    assert status(run.exchange("127.0.0.4", get("/healthz"))) == 200


def test_fewer_strikes_than_the_setting_are_no_penalty(start):
    run = start(penalty_strikes=5, penalty_s=60)
    for _ in range(4):
        assert status(run.exchange("127.0.0.5", oversized())) == 431
    assert status(run.exchange("127.0.0.5", get("/healthz"))) == 200
    # strikes older than the window (a minute) are forgotten
    run.clock.now += 61
    assert status(run.exchange("127.0.0.5", oversized())) == 431
    assert status(run.exchange("127.0.0.5", get("/healthz"))) == 200


def test_no_penalty_box_when_its_time_is_zero(start):
    run = start(penalty_strikes=1, penalty_s=0)
    for _ in range(3):
        assert status(run.exchange("127.0.0.6", oversized())) == 431
    assert status(run.exchange("127.0.0.6", get("/healthz"))) == 200


def test_pages_past_the_limit_are_429_then_the_address_is_cut_off(start):
    run = start(page_requests_per_minute=2, penalty_strikes=3, penalty_s=60)
    with run.connect("127.0.0.7") as sock:  # one keep-alive connection, as a browser keeps
        for _ in range(2):
            sock.sendall(get("/embed"))
            assert status(read_answer(sock)) == 200
        for n in range(3):
            sock.sendall(get("/embed"))
            answer = read_answer(sock)
            assert status(answer) == 429, n
            head, _, body = answer.partition(b"\r\n\r\n")
            assert b"\r\nretry-after: " in head.lower()
            detail = json.loads(body)["detail"]
            assert "too many page requests" in detail and "秒后再试" in detail
        # the third 429 put the address in the box: the same connection's next page is cut
        sock.sendall(get("/"))
        assert read_answer(sock) == b""
    assert run.exchange("127.0.0.7", get("/map")) == b""
    assert status(run.exchange("127.0.0.7", NEAREST)) == 200
    assert status(run.exchange("127.0.0.8", get("/embed"))) == 200


def test_behind_a_trusted_proxy_the_forwarded_client_is_boxed_not_the_proxy(start):
    run = start(trusted_proxies=["127.0.0.9"], penalty_strikes=2, penalty_s=60)
    flooder, rider = "X-Forwarded-For: 203.0.113.7", "X-Forwarded-For: 203.0.113.8"
    # an oversized head without X-Forwarded-For before the limit names no client: no strike
    for _ in range(3):
        assert status(run.exchange("127.0.0.9", oversized())) == 431
    assert status(run.exchange("127.0.0.9", get("/healthz", rider))) == 200
    for _ in range(2):
        assert status(run.exchange("127.0.0.9", oversized(flooder))) == 431
    # through the proxy, the boxed client gets a 429 (the proxy's connection is shared) ...
    answer = run.exchange("127.0.0.9", get("/healthz", flooder))
    assert (
        status(answer) == 429
        and "请稍后再试" in json.loads(answer.partition(b"\r\n\r\n")[2])["detail"]
    )
    assert status(run.exchange("127.0.0.9", get("/api/nearest?lon=107.1&lat=28.9", flooder))) == 200
    # ... while the proxy's other clients, and the proxy itself, are served
    assert status(run.exchange("127.0.0.9", get("/healthz", rider))) == 200
    assert status(run.exchange("127.0.0.9", get("/healthz"))) == 200
    # a peer that is not a trusted proxy cannot name the boxed client to get it refused,
    # nor escape its own box by naming another
    assert status(run.exchange("127.0.0.10", get("/healthz", flooder))) == 200


def wait_for(condition: Any) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, "the server did not get there"
        time.sleep(0.01)


def still_open(sock: socket.socket) -> bool:
    """Whether the server has neither answered nor closed ``sock`` (a read would wait)."""
    sock.setblocking(False)
    try:
        return not sock.recv(1)
    except BlockingIOError:
        return True
    except ConnectionResetError:
        return False
    finally:
        sock.setblocking(True)


def test_boxed_connections_are_held_unanswered_up_to_a_bound(start):
    run = start(HoldingProtocol, penalty_strikes=1, penalty_s=60)
    guard = run.app.flood
    guard.max_held = 1
    assert status(run.exchange("127.0.0.11", oversized())) == 431
    with run.connect("127.0.0.11") as first, run.connect("127.0.0.11") as second:
        first.sendall(get("/map"))
        wait_for(lambda: guard.held == 1)
        assert still_open(first)  # held: no answer, no reset, the flooder waits
        second.sendall(get("/map"))  # past the bound: reset at once, not held
        assert read_answer(second) == b""
        assert guard.held == 1 and still_open(first)
    assert status(run.exchange("127.0.0.11", NEAREST)) == 200


def test_a_penalty_box_forgets_its_oldest_addresses():
    clock = Clock()
    box = PenaltyBox(strikes=1, window_s=60, penalty_s=60, clock=clock, max_keys=3)
    for n in range(5):
        assert box.strike(f"10.0.0.{n}")
    assert len(box) == 3
    assert not box.penalised("10.0.0.0") and box.penalised("10.0.0.4")
    assert not box.strike("10.0.0.4")  # already in the box: no new penalty, nothing logged


@pytest.mark.parametrize(
    ("target", "complete", "rider"),
    [
        (b"/api/nearest?lon=1&lat=2", True, True),
        (b"/api/within", True, True),
        (b"/api/nea", False, True),
        (b"/api/nea", True, False),
        (b"/api/nearestx?lon=1", False, False),
        (b"/healthz", False, False),
        (b"/", False, True),  # not yet known: the target may go on
        (b"/", True, False),
        (b"/map?coverage_km=3", True, False),
    ],
)
def test_what_counts_as_a_riders_query(target, complete, rider):
    assert rider_query(target, complete) is rider
