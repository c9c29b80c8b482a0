"""Write throughput, and read latency at rest and during a stream of writes.

Run:  .venv/bin/python benchmarks/bench_writes.py [--sizes 10 10000 186000] [--rate 20]

`stations serve --workers 2` on N synthetic stations (size 10: the bundled data). One client reads
`/api/nearest` (k=5, random points near stations) back to back, in windows of --seconds that
alternate (--rounds times) between rest and a second client, in its own process, creating
stations through the API (back to back, or paced at --rate a second).
Reported: reads' p50/p99 at rest and during writes, and creates per second.

A create appends one fsynced line to the stations file's journal, and every worker applies the
new lines to its catalog on its next request. The journal is folded into the file once writes
pause, or every --compact-every writes (default: the service's 10,000, so not within a run; a
smaller value measures folds under load).
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from bench_api import free_port, serve, stop, wait_ready, write_stations  # noqa: E402
from stations.settings import DEFAULT_GEODATA  # noqa: E402

TOKEN = "bench-token"


def reads(base: str, lon: np.ndarray, lat: np.ndarray, seconds: float) -> list[float]:
    rng = np.random.default_rng(5)
    out = []
    with httpx.Client(base_url=base, timeout=60) as h:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            i = int(rng.integers(0, lon.size))
            t0 = time.perf_counter()
            r = h.get("/api/nearest", params={"lon": lon[i] + 0.01, "lat": lat[i], "k": 5})
            out.append(time.perf_counter() - t0)
            assert r.status_code == 200, r.text
    return out


def writes(base: str, seconds: float, done: Any, rate: float = 0.0, prefix: str = "bench") -> None:
    """Create stations back to back for ``seconds``; ``done`` counts them (a shared value).

    Runs in its own process, so the writer's work never delays the reader's clock (two client
    threads in one process would share the GIL, and the reads would be timed slow).
    """
    start = time.perf_counter()
    stop_at = start + seconds
    i = 0
    with httpx.Client(
        base_url=base, timeout=120, headers={"Authorization": f"Bearer {TOKEN}"}
    ) as h:
        while time.perf_counter() < stop_at:
            feature = {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [107.2 + i * 1e-5, 28.95]},
                "properties": {
                    "id": f"{prefix}-{i}",
                    "name": f"基准 {i}",
                    "kind": "union_station",
                    "position_accuracy": "approximate",
                    "source": "benchmark",
                },
            }
            r = h.post("/api/stations", json=feature)
            assert r.status_code == 201, r.text
            with done.get_lock():
                done.value += 1
            i += 1
            if rate:  # paced: the i-th write is due at start + i / rate
                time.sleep(max(0.0, start + i / rate - time.perf_counter()))


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs) * 1000, q))


def run(
    n: int, seconds: float, compact_every: int | None, rate: float, rounds: int
) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "stations.geojson"
        if n <= 10:
            shutil.copy(DEFAULT_GEODATA / "stations.geojson", path)
            lon, lat = np.array([107.2618, 107.18, 107.35]), np.array([28.912, 28.94, 28.95])
        else:
            lon, lat = write_stations(n, path)
        port = free_port()
        env = {
            "STATIONS_STATIONS_PATH": str(path),
            "STATIONS_ADMIN_TOKEN": TOKEN,
            "PATH": "/usr/bin",
        }
        if compact_every:
            env["STATIONS_COMPACT_EVERY"] = str(compact_every)
        cmd = [
            sys.executable,
            "-m",
            "stations",
            "serve",
            "--port",
            str(port),
            "--workers",
            "2",
            "--no-access-log",
            "--log-level",
            "warning",
        ]
        proc = serve(cmd, env)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_ready(f"{base}/healthz", proc, 900)
            reads(base, lon, lat, 2)  # warm-up
            # Rest and write windows alternate, so both see the shared machine alike; windows
            # are shorter than the 5 s pause after which the journal is folded into the file.
            rest: list[float] = []
            busy: list[float] = []
            created = 0
            ctx = multiprocessing.get_context("spawn")
            for r in range(rounds):
                rest += reads(base, lon, lat, seconds)
                done = ctx.Value("i", 0)
                writer = ctx.Process(target=writes, args=(base, seconds + 0.5, done, rate, f"r{r}"))
                writer.start()
                time.sleep(0.5)  # the writer process starts up
                busy += reads(base, lon, lat, seconds)
                writer.join()
                if writer.exitcode != 0:
                    raise RuntimeError("the writer process failed")
                created += done.value
        finally:
            stop(proc)
    return {
        "rest_p50": pct(rest, 50),
        "rest_p99": pct(rest, 99),
        "busy_p50": pct(busy, 50),
        "busy_p99": pct(busy, 99),
        "creates": created / (rounds * (seconds + 0.5)),
        "n_writes": created,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10, 10_000, 186_000])
    ap.add_argument("--seconds", type=float, default=4, help="length of each window")
    ap.add_argument("--rounds", type=int, default=4, help="rest/write window pairs")
    ap.add_argument("--compact-every", type=int, default=None)
    ap.add_argument("--rate", type=float, default=0.0, help="writes/s; 0: back to back")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "writes.md")
    args = ap.parse_args()
    lines = [
        f"# Write benchmark ({time.strftime('%Y-%m-%d')}), `--workers 2`, {args.rounds} x "
        f"({args.seconds:g} s at rest, {args.seconds:g} s writing)"
        + (f", STATIONS_COMPACT_EVERY={args.compact_every}" if args.compact_every else "")
        + (f", writes paced at {args.rate:g}/s" if args.rate else ", writes back to back"),
        "",
        "| stations | reads p50 / p99 at rest | reads p50 / p99 during writes | p99 ratio "
        "| creates/s |",
        "|---:|---|---|---:|---:|",
    ]
    for n in args.sizes:
        r = run(n, args.seconds, args.compact_every, args.rate, args.rounds)
        lines.append(
            f"| {n:,} | {r['rest_p50']:.1f} / {r['rest_p99']:.1f} ms | {r['busy_p50']:.1f} / "
            f"{r['busy_p99']:.1f} ms | {r['busy_p99'] / r['rest_p99']:.1f}x | {r['creates']:.1f} "
            f"({r['n_writes']}) |"
        )
        print(lines[-1], flush=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
