"""Riders' /api/nearest latency at rest and while other clients flood the server.

Run:  .venv/bin/python benchmarks/bench_flood.py [--seconds 15] [--rounds 2] [--src DIR]

`stations serve --workers 2` runs on 127.0.0.1 on the bundled data. A rider asks /api/nearest
at a steady pace (one request every 20 ms, on one keep-alive connection) and the latency of
each answer is recorded, in four phases of ``--seconds`` each, taking turns ``--rounds`` times:

- rest: nothing else runs;
- pages: a client floods uncached pages: /embed with a new random centre every time, on 4
  connections at once (each page costs a build: folium rendering, tens of ms of Python);
- headers: a client sends 64 MB headers on 8 connections at once, again and again (what made
  /healthz take 15 s in issue 15);
- both: the two floods at once.

Each flooder runs in its own process so that the rider's timings are not its own GIL's.
``--src`` runs the server from another source tree (e.g. an export of an older commit, for
before/after figures). The machine's cores are shared by the server, the flooders and the
rider: quote ratios to the rest phase of the same run, not absolute numbers.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from multiprocessing.synchronize import Event
from pathlib import Path

import httpx

HERE = Path(__file__).parent
SRC = HERE.parent / "src"
PHASES = ("rest", "pages", "headers", "both")
RIDER_PERIOD_S = 0.02


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(src: Path, port: int, log: object) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATIONS_")}
    env["PYTHONPATH"] = str(src)
    cmd = [sys.executable, "-m", "stations", "serve", "--workers", "2", "--port", str(port)]
    proc = subprocess.Popen([*cmd, "--no-access-log"], env=env, stdout=log, stderr=log)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("the server exited")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the server did not start")


def flood_pages(base: str, stop: Event, served: multiprocessing.Value) -> None:  # type: ignore[valid-type]
    """Ask /embed with a new centre each time, on 4 connections, until ``stop``."""

    def one_connection(seed: int) -> None:
        rng = random.Random(seed)
        with httpx.Client(base_url=base, timeout=60) as client:
            while not stop.is_set():
                lon, lat = 107.0 + rng.random() * 0.5, 28.7 + rng.random() * 0.5
                try:
                    r = client.get("/embed", params={"lon": lon, "lat": lat, "zoom": 18})
                except httpx.TransportError:
                    continue
                if r.status_code == 200:
                    with served.get_lock():
                        served.value += 1

    threads = [threading.Thread(target=one_connection, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def flood_headers(port: int, stop: Event, sent: multiprocessing.Value) -> None:  # type: ignore[valid-type]
    """Send 64 MB headers on 8 connections, again and again, until ``stop``."""
    payload = memoryview(b"a" * (64 * 1_048_576))

    def one_connection() -> None:
        while not stop.is_set():
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
                    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
                    for start in range(0, len(payload), 1_048_576):
                        if stop.is_set():
                            return
                        sock.sendall(payload[start : start + 1_048_576])
                    sock.sendall(b"\r\n\r\n")
                    sock.recv(1024)
            except OSError:
                pass
            with sent.get_lock():
                sent.value += 1

    threads = [threading.Thread(target=one_connection) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def ride(base: str, seconds: float, seed: int) -> list[float]:
    """Latencies (ms) of /api/nearest asked every `RIDER_PERIOD_S` for ``seconds``.

    A request that fails (the connection reset, a timeout) counts as taking 60 s.
    """
    rng = random.Random(seed)
    out: list[float] = []
    with httpx.Client(base_url=base, timeout=60) as client:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            params = {"lon": 107.0 + rng.random() * 0.5, "lat": 28.7 + rng.random() * 0.5}
            t0 = time.perf_counter()
            try:
                r = client.get("/api/nearest", params=params)
                ok = r.status_code == 200
            except httpx.TransportError:
                ok = False
            took = time.perf_counter() - t0
            out.append(took * 1000 if ok else 60_000.0)
            time.sleep(max(0.0, RIDER_PERIOD_S - took))
    return out


def run_phase(phase: str, port: int, seconds: float, seed: int) -> tuple[list[float], int, int]:
    """The rider's latencies during ``phase``, and how many pages and headers were flooded."""
    base = f"http://127.0.0.1:{port}"
    ctx = multiprocessing.get_context("spawn")
    stop = ctx.Event()
    pages, headers = ctx.Value("i", 0), ctx.Value("i", 0)
    procs = []
    if phase in ("pages", "both"):
        procs.append(ctx.Process(target=flood_pages, args=(base, stop, pages)))
    if phase in ("headers", "both"):
        procs.append(ctx.Process(target=flood_headers, args=(port, stop, headers)))
    for p in procs:
        p.start()
    time.sleep(2 if procs else 0)  # let the floods get going
    latencies = ride(base, seconds, seed)
    stop.set()
    for p in procs:
        p.join(timeout=60)
        if p.is_alive():
            p.kill()
    return latencies, pages.value, headers.value


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) > 1 else max(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--src", type=Path, default=SRC, help="source tree to serve from")
    args = parser.parse_args()
    port = free_port()
    results: dict[str, list[float]] = {p: [] for p in PHASES}
    floods: dict[str, list[int]] = {p: [0, 0] for p in PHASES}
    with tempfile.TemporaryFile() as log:
        server = start_server(args.src, port, log)
        try:
            for r in range(args.rounds):
                for i, phase in enumerate(PHASES):
                    lat, pages, heads = run_phase(phase, port, args.seconds, seed=r * 10 + i)
                    results[phase] += lat
                    floods[phase][0] += pages
                    floods[phase][1] += heads
                    print(f"round {r + 1} {phase:8s} p99 {p99(lat):8.1f} ms", flush=True)
        finally:
            server.terminate()
            server.wait(timeout=30)
    rest = p99(results["rest"])
    print("\n| phase | requests | p50 ms | p99 ms | max ms | p99 / rest | pages/s | 64 MB/s |")
    print("|---|---|---|---|---|---|---|---|")
    span = args.seconds * args.rounds
    for phase in PHASES:
        lat = results[phase]
        pages, heads = floods[phase]
        print(
            f"| {phase} | {len(lat)} | {statistics.median(lat):.1f} | {p99(lat):.1f} "
            f"| {max(lat):.1f} | {p99(lat) / rest:.1f}x | {pages / span:.1f} | {heads / span:.1f} |"
        )


if __name__ == "__main__":
    main()
