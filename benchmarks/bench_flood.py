"""Riders' /api/nearest latency at rest and while other clients flood the server.

Run:  .venv/bin/python benchmarks/bench_flood.py [--seconds 15] [--rounds 2] [--src DIR]
          [--builds-per-minute N] [--set NAME=VALUE ...]

`stations serve --workers 2` runs on 127.0.0.1 on the bundled data. A rider asks /api/nearest
at a steady pace (one request every 20 ms, on one keep-alive connection) and the latency of
each answer is recorded, in four phases of ``--seconds`` each, taking turns ``--rounds`` times:

- rest: nothing else runs;
- pages: a client floods pages on 4 connections at once: /embed with a new random centre
  every time (since /embed is built once per view and each centre filled in, these cost a
  fill, not a build) and, every other request, /map with a new ``coverage_km`` (each a real
  build: folium rendering and a coverage computation, tens of ms of Python). Past
  STATIONS_PAGE_BUILDS_PER_MINUTE builds a minute a worker answers the flooder 429; the
  table counts pages served (200) and refused (429) apart. ``--builds-per-minute`` sets that
  limit for the server (a large value: a flood spread over many client addresses, where
  every /map request is a build). A request whose connection the server cuts (an address in
  the penalty box, `stations.api.flood`) counts as cut, and the flooder tries again at once;
- headers: a client sends 64 MB headers on 8 connections at once, again and again (what made
  /healthz take 15 s in issue 15);
- both: the two floods at once.

Each flooder runs in its own process so that the rider's timings are not its own GIL's.
``--src`` runs the server from another source tree (e.g. an export of an older commit, for
before/after figures); ``--set STATIONS_PENALTY_S=0`` and the like set server settings (a
baseline without a protection, measured in the same run). The machine's cores are shared by
the server, the flooders and the rider: quote ratios to the rest phase of the same run, not
absolute numbers.
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
from collections.abc import Callable
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


def start_server(
    src: Path, port: int, log: object, settings: dict[str, str]
) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATIONS_")}
    env["PYTHONPATH"] = str(src)
    env.update(settings)
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


def flood_pages(
    base: str,
    stop: Event,
    served: multiprocessing.Value,  # type: ignore[valid-type]
    refused: multiprocessing.Value,  # type: ignore[valid-type]
    cut: multiprocessing.Value,  # type: ignore[valid-type]
) -> None:
    """Ask /embed with a new centre and /map with a new coverage, in turn, until ``stop``."""

    def one_connection(seed: int) -> None:
        rng = random.Random(seed)
        turn = 0
        with httpx.Client(base_url=base, timeout=60) as client:
            while not stop.is_set():
                turn += 1
                if turn % 2:
                    lon, lat = 107.0 + rng.random() * 0.5, 28.7 + rng.random() * 0.5
                    path, params = "/embed", {"lon": lon, "lat": lat, "zoom": 18}
                else:
                    # a new float every time: a new cache key, a real build
                    path, params = "/map", {"coverage_km": round(1 + rng.random() * 50, 6)}
                try:
                    r = client.get(path, params=params)
                except httpx.TransportError:
                    with cut.get_lock():
                        cut.value += 1
                    continue
                counter = served if r.status_code == 200 else refused
                with counter.get_lock():
                    counter.value += 1

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


def niced(niceness: int, target: Callable[..., None], *args: object) -> None:
    """Run ``target`` at a lower CPU priority (a flooder standing for a client elsewhere)."""
    os.nice(niceness)
    target(*args)


def run_phase(
    phase: str, port: int, seconds: float, seed: int, niceness: int = 0
) -> tuple[list[float], list[int]]:
    """The rider's latencies during ``phase``; pages served, refused and cut, heads flooded."""
    base = f"http://127.0.0.1:{port}"
    ctx = multiprocessing.get_context("spawn")
    stop = ctx.Event()
    pages, refused, cut, headers = (ctx.Value("i", 0) for _ in range(4))
    procs = []
    if phase in ("pages", "both"):
        flood = (flood_pages, base, stop, pages, refused, cut)
        procs.append(ctx.Process(target=niced, args=(niceness, *flood)))
    if phase in ("headers", "both"):
        flood = (flood_headers, port, stop, headers)
        procs.append(ctx.Process(target=niced, args=(niceness, *flood)))
    for p in procs:
        p.start()
    time.sleep(2 if procs else 0)  # let the floods get going
    latencies = ride(base, seconds, seed)
    stop.set()
    for p in procs:
        p.join(timeout=60)
        if p.is_alive():
            p.kill()
    return latencies, [pages.value, refused.value, cut.value, headers.value]


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) > 1 else max(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--flooders-nice",
        type=int,
        default=0,
        help="run the flooders at this niceness (19: their own CPU, which a remote flooder "
        "would not take from the server's cores, competes less with the server and the rider)",
    )
    parser.add_argument("--src", type=Path, default=SRC, help="source tree to serve from")
    parser.add_argument(
        "--builds-per-minute",
        type=int,
        default=None,
        help="STATIONS_PAGE_BUILDS_PER_MINUTE for the server (default: the server's own)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a server setting, e.g. STATIONS_PENALTY_S=0 (repeatable)",
    )
    args = parser.parse_args()
    settings = dict(item.split("=", 1) for item in args.set)
    if args.builds_per_minute is not None:
        settings["STATIONS_PAGE_BUILDS_PER_MINUTE"] = str(args.builds_per_minute)
    port = free_port()
    results: dict[str, list[float]] = {p: [] for p in PHASES}
    floods: dict[str, list[int]] = {p: [0, 0, 0, 0] for p in PHASES}
    print(f"server settings: {settings or 'defaults'}; flooders' niceness {args.flooders_nice}")
    print(f"load average at start: {os.getloadavg()}", flush=True)
    with tempfile.TemporaryFile() as log:
        server = start_server(args.src, port, log, settings)
        try:
            for r in range(args.rounds):
                for i, phase in enumerate(PHASES):
                    lat, counts = run_phase(
                        phase, port, args.seconds, r * 10 + i, args.flooders_nice
                    )
                    results[phase] += lat
                    floods[phase] = [a + b for a, b in zip(floods[phase], counts, strict=True)]
                    print(
                        f"round {r + 1} {phase:8s} p99 {p99(lat):8.1f} ms "
                        f"(load {os.getloadavg()[0]:.1f})",
                        flush=True,
                    )
        finally:
            server.terminate()
            server.wait(timeout=30)
    rest = p99(results["rest"])
    print(f"load average at end: {os.getloadavg()}")
    print(
        "\n| phase | requests | p50 ms | p99 ms | max ms | p99 / rest "
        "| pages/s served | pages/s 429 | pages/s cut | 64 MB heads tried/s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    span = args.seconds * args.rounds
    for phase in PHASES:
        lat = results[phase]
        pages, refused, cut, heads = floods[phase]
        print(
            f"| {phase} | {len(lat)} | {statistics.median(lat):.1f} | {p99(lat):.1f} "
            f"| {max(lat):.1f} | {p99(lat) / rest:.1f}x | {pages / span:.1f} "
            f"| {refused / span:.1f} | {cut / span:.1f} | {heads / span:.1f} |"
        )


if __name__ == "__main__":
    main()
