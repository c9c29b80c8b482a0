"""The PostgreSQL store against the GeoJSON store, on N synthetic stations, in one run.

Run:  .venv/bin/python benchmarks/bench_postgres.py [--sizes 186000] [--seconds 10] [--rounds 3]
      [--only import cold creates lag nearest]
Needs PostgreSQL with PostGIS (a throwaway cluster is started as the tests do, but with fsync
on, as the GeoJSON store fsyncs its journal) and `wrk`.

For each size:

- ``stations db import`` of the stations file (a fresh database, schema upgraded first);
- a replica's cold start: `Catalog.from_settings` in a fresh process, from PostgreSQL and
  from the GeoJSON file, taking turns (--rounds each; medians). From the file, two starts
  each round: the first full read (the column file removed first; the read writes it again)
  and the start that maps that column file (`storage.columns`), which is what every start
  after the first one is;
- ``stations serve --workers 2`` to its first ``/api/nearest`` answer, and its workers' memory:
  from the database (no replica cache), the first start with a replica cache (it loads the
  database and writes the cache) and the later ones (they map it and catch up), taking turns;
- creates per second through the store (`open_store(...).create`), 1 and 4 writer processes,
  for --seconds each, on each store (the GeoJSON store on a copy of the same file);
- propagation lag at 20 writes/s: a writer process creates stations on PostgreSQL; a
  `ReplicaHolder` in this process (its thread following the change log) is watched for each
  one; lag = seen - acknowledged (wall clocks of one machine), p50 and p99;
- `/api/nearest` (k=5) throughput under wrk on `stations serve --workers 2` backed by
  PostgreSQL, backed by the file, and on the bare endpoint (`bare_app.py`), taking turns
  (--rounds each): the ratio to the bare endpoint, as in `bench_api.py`.

The machine is shared (2 cores): quote the ratios, measured in the same run.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
import pgcluster  # noqa: E402
from bench_api import (  # noqa: E402
    free_port,
    lua_for,
    run_wrk,
    serve,
    stop,
    wait_ready,
    write_stations,
)
from bench_start import first_answer  # noqa: E402
from stations.catalog import Catalog  # noqa: E402
from stations.replica import ReplicaHolder  # noqa: E402
from stations.settings import DEFAULT_GEODATA, Settings  # noqa: E402
from stations.storage.columns import columns_path  # noqa: E402
from stations.storage.loading import FeatureCache  # noqa: E402
from stations.storage.store import open_store  # noqa: E402

LOOP = DEFAULT_GEODATA / "loop178.geojson"
TOKEN = "bench-token"


def settings_for(path: Path | None = None, url: str | None = None) -> Settings:
    kwargs: dict[str, Any] = {"_env_file": None, "loop_path": LOOP}
    if path is not None:
        kwargs["stations_path"] = path
    if url is not None:
        kwargs["database_url"] = url
    return Settings(**kwargs)


def feature(sid: str, i: int) -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [107.2 + (i % 1000) * 1e-4, 28.95]},
        "properties": {
            "id": sid,
            "name": f"基准 {i}",
            "kind": "union_station",
            "position_accuracy": "approximate",
            "source": "benchmark",
        },
    }


def cli(*args: str, env: dict[str, str]) -> float:
    """Run a `stations` command; its wall time in seconds."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "stations", *args], env=env, check=True,
                   capture_output=True)  # fmt: skip
    return time.perf_counter() - started


def _load(settings: Settings) -> float:
    started = time.perf_counter()
    Catalog.from_settings(settings)
    return time.perf_counter() - started


def cold_start(settings: Settings) -> float:
    """`Catalog.from_settings` in a fresh process (nothing cached); seconds."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        return float(pool.apply(_load, (settings,)))


def _creates(settings: Settings, prefix: str, seconds: float, start_at: float) -> int:
    store = open_store(settings)
    store.create(feature(f"{prefix}-warm", 0), "bench")  # the GeoJSON store reads the file once
    if time.time() > start_at:
        print(f"{prefix}: warm-up ended after the start, the writers overlap less", flush=True)
    while time.time() < start_at:
        time.sleep(0.001)
    done, end = 0, time.time() + seconds
    while time.time() < end:
        store.create(feature(f"{prefix}-{done}", done), "bench")
        done += 1
    return done


def creates_per_s(settings: Settings, writers: int, seconds: float, tag: str) -> float:
    """Creates per second through the store by ``writers`` processes at once."""
    context = multiprocessing.get_context("spawn")
    start_at = time.time() + 5 + writers  # every writer warmed up before the clock starts
    with context.Pool(writers) as pool:
        counts = pool.starmap(
            _creates, [(settings, f"{tag}-{w}", seconds, start_at) for w in range(writers)]
        )
    return sum(counts) / seconds


def _paced_writer(url: str, n: int, rate: float, out: Any, prefix: str) -> None:
    store = open_store(settings_for(url=url))
    start = time.time()
    for i in range(n):
        time.sleep(max(0.0, start + i / rate - time.time()))
        store.create(feature(f"{prefix}-{i}", i), "bench")
        out[i] = time.time()


def propagation_lag(
    url: str, rate: float, seconds: float, frozen: bool = True
) -> tuple[float, float]:
    """p50 and p99 (ms) of acknowledged-to-visible on a following replica, at ``rate``/s.

    The replica freezes its catalog out of the collector's scans, as a served one does;
    ``frozen=False`` undoes that (how it was measured before: full collections of ~0.5 s).
    """
    settings = settings_for(url=url).model_copy(update={"database_poll_s": 1.0})
    cache = FeatureCache()
    holder = ReplicaHolder(Catalog.from_settings(settings, cache), settings, cache)
    if not frozen:
        gc.unfreeze()
    prefix = f"lag{int(frozen)}"
    n = int(rate * seconds)
    context = multiprocessing.get_context("spawn")
    acked = context.Array("d", n, lock=False)
    seen = [0.0] * n
    writer = context.Process(target=_paced_writer, args=(url, n, rate, acked, prefix))
    writer.start()

    def watch() -> None:
        for i in range(n):
            sid = f"{prefix}-{i}"
            while sid not in holder.catalog.by_id:
                time.sleep(0.0005)
            seen[i] = time.time()

    watcher = threading.Thread(target=watch)
    watcher.start()
    writer.join()
    watcher.join(timeout=60)
    holder.close()
    lags = np.array(seen) - np.array(acked[:])
    return float(np.percentile(lags, 50) * 1e3), float(np.percentile(lags, 99) * 1e3)


def serve_cmd(port: int, workers: int) -> list[str]:
    return [sys.executable, "-m", "stations", "serve", "--port", str(port), "--workers",
            str(workers), "--no-access-log"]  # fmt: skip


def nearest_throughput(
    path: Path, url: str, lon: np.ndarray, lat: np.ndarray, seconds: int, rounds: int
) -> dict[str, list[dict[str, float]]]:
    """wrk on the PostgreSQL-backed service, the file-backed one and the bare endpoint."""
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("STATIONS_")}
    ports = {name: free_port() for name in ("postgres", "file", "bare")}
    cache = path.parent / "replica-cache"  # the bench's own: never the user's ~/.cache
    envs = {
        "postgres": {
            **base_env,
            "STATIONS_DATABASE_URL": url,
            "STATIONS_REPLICA_CACHE_DIR": str(cache),
        },
        "file": {**base_env, "STATIONS_STATIONS_PATH": str(path)},
    }
    procs = {name: serve(serve_cmd(ports[name], 2), envs[name]) for name in envs}
    procs["bare"] = serve(
        [sys.executable, "-m", "uvicorn", "bare_app:app", "--app-dir", str(HERE), "--port",
         str(ports["bare"]), "--workers", "2", "--log-level", "warning", "--no-access-log"],
        base_env,
    )  # fmt: skip
    paths = {"postgres": "/api/nearest", "file": "/api/nearest", "bare": "/bare"}
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in procs}
    try:
        for name, proc in procs.items():
            probe = "/bare" if name == "bare" else "/healthz"
            wait_ready(f"http://127.0.0.1:{ports[name]}{probe}", proc, timeout=900)
        scripts = {name: lua_for(lon, lat, paths[name]) for name in procs}
        for name in procs:  # warm-up
            run_wrk(f"http://127.0.0.1:{ports[name]}{paths[name]}", scripts[name], 3)
        for _ in range(rounds):
            for name, proc in procs.items():
                target = f"http://127.0.0.1:{ports[name]}{paths[name]}"
                runs[name].append(run_wrk(target, scripts[name], seconds, proc))
    finally:
        for proc in procs.values():
            stop(proc)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[186_000])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "postgres.md")
    parser.add_argument(
        "--only", nargs="+", choices=PARTS, default=list(PARTS),
        help="Measure only these parts (the stations are always imported).",
    )  # fmt: skip
    args = parser.parse_args()
    cluster = pgcluster.Cluster(durable=True).init()  # fsync on: the file store fsyncs too
    cluster.start()
    lines = [
        f"bench_postgres.py, {time.strftime('%Y-%m-%d')}, 2 shared cores; PostgreSQL 15 + "
        "PostGIS 3 on the same machine (a throwaway cluster with fsync on, default settings).",
        "",
    ]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for n in args.sizes:
                lines += measure(n, Path(tmp), cluster, args)
                print("\n".join(lines), flush=True)
    finally:
        cluster.destroy()
    args.out.write_text("\n".join(lines) + "\n", "utf-8")


PARTS = ("import", "cold", "serve", "creates", "lag", "nearest")


def measure(n: int, tmp: Path, cluster: pgcluster.Cluster, args: argparse.Namespace) -> list[str]:
    """The parts of ``args.only`` at ``n`` stations; the report's lines.

    The stations are always written and imported (every other part needs the database).
    """
    path = tmp / f"stations-{n}.geojson"
    lon, lat = write_stations(n, path)
    url = cluster.new_database()
    env = {**os.environ, "STATIONS_DATABASE_URL": url}
    cli("db", "upgrade", env=env)
    imported = cli("db", "import", str(path), env=env)
    print(f"{n:,}: db import {imported:.1f} s", flush=True)
    rows = [f"| `stations db import` | {imported:.1f} s | | |"]
    if "cold" in args.only:
        rows += cold_rows(path, url, args.rounds)
    if "serve" in args.only:
        rows += serve_rows(path, url, tmp, args.rounds)
    if "creates" in args.only:
        rows += creates_rows(path, url, tmp, args.seconds)
    if "lag" in args.only:
        lag50, lag99 = propagation_lag(url, 20.0, 15.0)
        old50, old99 = propagation_lag(url, 20.0, 15.0, frozen=False)
        print(f"lag p50 {lag50:.1f} ms p99 {lag99:.1f} ms; unfrozen {old50:.1f} / {old99:.1f}",
              flush=True)  # fmt: skip
        rows += [
            f"| propagation lag at 20 writes/s, p50 / p99 | {lag50:.1f} / {lag99:.1f} ms | | |",
            f"| the same, catalog left to the collector (as measured before) "
            f"| {old50:.1f} / {old99:.1f} ms | | |",
        ]
    if "nearest" in args.only:
        rows += nearest_rows(path, url, lon, lat, args.seconds, args.rounds)
    return [
        f"### {n:,} synthetic stations",
        "",
        "| measure | PostgreSQL | GeoJSON file | ratio |",
        "|---|---:|---:|---:|",
        *rows,
        "",
    ]


def cold_rows(path: Path, url: str, rounds: int) -> list[str]:
    """`Catalog.from_settings` from the database, the file's first read, its column file."""
    cold = {"postgres": [], "file": [], "mapped": []}  # type: dict[str, list[float]]
    for _ in range(rounds):
        cold["postgres"].append(cold_start(settings_for(url=url)))
        columns_path(path).unlink(missing_ok=True)
        cold["file"].append(cold_start(settings_for(path=path)))
        cold["mapped"].append(cold_start(settings_for(path=path)))
    pg_cold, file_cold, mapped = (statistics.median(cold[k]) for k in cold)
    print(f"cold start: postgres {pg_cold:.1f} s, file {file_cold:.1f} s, mapped {mapped:.1f} s",
          flush=True)  # fmt: skip
    return [
        f"| cold start (`Catalog.from_settings`, fresh process; median of {rounds}), "
        f"file: first full read | {pg_cold:.1f} s | {file_cold:.1f} s "
        f"| {pg_cold / file_cold:.2f} |",
        f"| cold start, file: mapping its column file (every later start) "
        f"| {pg_cold:.1f} s | {mapped:.2f} s | {pg_cold / mapped:.1f} |",
    ]


def creates_rows(path: Path, url: str, tmp: Path, seconds: int) -> list[str]:
    """Creates per second with 1 and 4 writer processes, on each store."""
    rates = {}
    for writers in (1, 4):
        copy = tmp / f"copy-{writers}.geojson"
        shutil.copy(path, copy)
        rates[("postgres", writers)] = creates_per_s(
            settings_for(url=url), writers, seconds, f"pg{writers}"
        )
        rates[("file", writers)] = creates_per_s(
            settings_for(path=copy), writers, seconds, f"f{writers}"
        )
        print(rates, flush=True)
    return [
        f"| creates/s, {w} writer{'s' if w > 1 else ''} | {rates[('postgres', w)]:.0f} "
        f"| {rates[('file', w)]:.0f} | {rates[('postgres', w)] / rates[('file', w)]:.2f} |"
        for w in (1, 4)
    ]


def serve_rows(path: Path, url: str, tmp: Path, rounds: int) -> list[str]:
    """`stations serve --workers 2` to its first /api/nearest: from the database, from the
    replica cache (the start that writes it, and the later ones that map it); then memory."""
    cache = tmp / "replica-cache"
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("STATIONS_")}
    env = {**base_env, "STATIONS_DATABASE_URL": url}
    runs: dict[str, list[dict[str, float]]] = {"database": [], "writes": [], "cache": []}
    for _ in range(rounds):
        shutil.rmtree(cache, ignore_errors=True)
        for name, folder in (("database", ""), ("writes", str(cache)), ("cache", str(cache))):
            start_env = {**env, "STATIONS_REPLICA_CACHE_DIR": folder}
            runs[name].append(first_answer(path, start_env, timeout=900))
            print(name, runs[name][-1], flush=True)

    def med(name: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[name])

    db, cached = med("database", "first_s"), med("cache", "first_s")
    return [
        f"| `serve --workers 2` to the first /api/nearest (median of {rounds}): from the "
        f"database | {db:.1f} s | | |",
        f"| the same, writing the replica cache (first start) | {med('writes', 'first_s'):.1f} s "
        f"| | {med('writes', 'first_s') / db:.2f} |",
        f"| the same, from the replica cache (every later start) | {cached:.2f} s | "
        f"| {db / cached:.1f}x faster |",
        f"| worker RSS max / USS of both, from the database | {med('database', 'rss_max'):.0f} / "
        f"{med('database', 'uss_sum'):.0f} MiB | | |",
        f"| worker RSS max / USS of both, from the replica cache | {med('cache', 'rss_max'):.0f} "
        f"/ {med('cache', 'uss_sum'):.0f} MiB | | |",
    ]


def nearest_rows(
    path: Path, url: str, lon: np.ndarray, lat: np.ndarray, seconds: int, rounds: int
) -> list[str]:
    """/api/nearest req/s on each service and their ratios to the bare endpoint."""
    runs = nearest_throughput(path, url, lon, lat, seconds, rounds)

    def rps(name: str) -> float:
        return statistics.median(r["rps"] for r in runs[name])

    def ratio(name: str) -> str:
        rs = [r["rps"] / b["rps"] for r, b in zip(runs[name], runs["bare"], strict=True)]
        return f"{statistics.median(rs):.2f} ({min(rs):.2f}–{max(rs):.2f})"

    errors = sum(r["errors"] for name in ("postgres", "file") for r in runs[name])
    return [
        f"| /api/nearest k=5 req/s (--workers 2, wrk 1x32; median of {rounds}) "
        f"| {rps('postgres'):,.0f} | {rps('file'):,.0f} | |",
        f"| ratio to the bare endpoint ({rps('bare'):,.0f} req/s), same rounds "
        f"| {ratio('postgres')} | {ratio('file')} | |",
        f"| non-2xx answers under wrk | {errors} | | |",
    ]


if __name__ == "__main__":
    main()
