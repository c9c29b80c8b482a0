"""OGC API - Features: our service against tipg on PostGIS, bbox pages and single items, under wrk.

Run:  .venv/bin/python benchmarks/bench_ogc_tipg.py [--size 186000] [--seconds 8] [--rounds 3]

Needs PostgreSQL with PostGIS (a throwaway cluster is started as `tests/pgcluster.py` does),
`wrk`, and tipg, which is installed into a venv of its own (``benchmarks/tipg/requirements.txt``,
in ``~/.cache/stations-bench/tipg-<hash>``; made on the first run with pip): tipg pins its own
FastAPI and pydantic, so it never goes into the project's environment. Where any of these is
missing the benchmark says which and exits without figures (status 0).

The same N synthetic stations (`bench_start.write_stations`: positions of `bench_nearest.py`,
properties like the real data's) are written as the GeoJSON our service reads and loaded into a
PostGIS table (``public.stations``: the properties as columns, ``geom geometry(Point, 4326)``
with a GiST index, ``id`` the primary key) that tipg serves as the collection
``public.stations``. Both run with 2 workers (`stations serve --workers 2`; tipg under uvicorn
``--workers 2``) on 127.0.0.1, both stay up, and take turns under wrk (1 thread, 32
connections), round after round, on two targets:

- ``bbox``: ``/collections/{id}/items?bbox=...&limit=10`` over 2,000 random boxes of 0.2 degrees
  around random stations (the same boxes for both, drawn by the same Lua script);
- ``item``: ``/collections/{id}/items/{feature id}`` for 2,000 random stations.

With ``--baseline SRC`` (the ``src`` folder of another version, e.g. from ``git archive <commit>
src geodata``, the compiled extension copied in), that version's `stations serve --workers 2`
on the same file takes its turns too (``before``), so a change can be shown not to slow the
OGC routes.

Reported: req/s and p99 of each (medians over the rounds), ratio ours / tipg per round (median,
range), the launch-to-first-answer time and each server's worker memory (RSS, USS), and a sanity
check: for a sample of boxes, both servers are asked for every station inside (numberMatched
and the ids, paged) and the sets compared. The machine is shared (2 cores): quote the ratios.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import psycopg

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
import pgcluster  # noqa: E402
from bench_api import free_port, run_wrk, serve, stop  # noqa: E402
from bench_start import memory, workers_of, write_stations  # noqa: E402

REQUIREMENTS = HERE / "tipg" / "requirements.txt"
TIPG_ID = "public.stations"
LIMIT = 10
BOX_DEG = 0.2
COLUMNS = ["id", "name", "name_en", "kind", "town", "address", "amenities", "opening_hours"]
COLUMNS += ["status", "position_accuracy", "source"]
LUA = """
math.randomseed(7)
local args = {%(args)s}
request = function()
  return wrk.format("GET", "%(path)s" .. args[math.random(1, #args)])
end
"""


class Skip(Exception):
    """Something the benchmark needs is missing (the message says what)."""


def tipg_python() -> Path:
    """The tipg venv's python, made from ``requirements.txt`` if it is not there yet."""
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:12]
    venv = Path.home() / ".cache" / "stations-bench" / f"tipg-{digest}"
    python = venv / "bin" / "python"
    if not (venv / "ok").exists():
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        done = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise Skip(f"cannot install tipg into {venv}: {done.stderr.strip()[-500:]}")
        (venv / "ok").touch()
    return python


def start_postgis(stations: Path) -> tuple[Any, str]:
    """A throwaway cluster holding ``stations`` in ``public.stations``; (cluster, URL)."""
    try:
        cluster = pgcluster.Cluster().init()
        cluster.start()
    except RuntimeError as exc:
        raise Skip(f"PostgreSQL is not available: {exc}") from None
    url = cluster.new_database()
    features = orjson.loads(stations.read_bytes())["features"]
    with psycopg.connect(url, autocommit=True) as conn:
        try:
            conn.execute("CREATE EXTENSION postgis")
        except psycopg.Error as exc:
            cluster.destroy()
            raise Skip(f"PostGIS is not installed: {exc}") from None
        columns = ", ".join(f"{c} text" for c in COLUMNS if c not in ("id", "amenities"))
        conn.execute(
            f"CREATE TABLE stations (id text PRIMARY KEY, amenities text[], {columns}, "
            "geom geometry(Point, 4326))"
        )
        names = ", ".join(COLUMNS)
        with conn.cursor().copy(f"COPY stations ({names}, geom) FROM STDIN") as copy:
            for f in features:
                lon, lat = f["geometry"]["coordinates"]
                row = [f["properties"].get(c) for c in COLUMNS]
                copy.write_row([*row, f"SRID=4326;POINT({lon!r} {lat!r})"])
        conn.execute("CREATE INDEX stations_geom ON stations USING gist (geom)")
        conn.execute("ANALYZE stations")
    return cluster, url


def launched(cmd: list[str], env: dict[str, str], url: str, cwd: str) -> tuple[Any, float]:
    """Start a server; (process, seconds from launch to its first 200 on ``url``)."""
    t0 = time.perf_counter()
    proc = serve_in(cmd, env, cwd)
    while time.perf_counter() - t0 < 600:
        if proc.poll() is not None:
            raise RuntimeError(Path(proc.log_path).read_text()[-2000:])
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return proc, time.perf_counter() - t0
        except httpx.TransportError:
            time.sleep(0.05)
    stop(proc)
    raise RuntimeError(f"{cmd[:3]} did not answer {url}")


def serve_in(cmd: list[str], env: dict[str, str], cwd: str) -> Any:
    """`bench_api.serve` from ``cwd`` (tipg reads a ``.env`` there: not the project's)."""
    here = os.getcwd()
    os.chdir(cwd)
    try:
        return serve(cmd, env)
    finally:
        os.chdir(here)


def every_id(client: httpx.Client, url: str, box: str) -> tuple[int, list[str]]:
    """numberMatched and the ids of every feature in ``box``, following the pages."""
    ids: list[str] = []
    matched, offset = -1, 0
    while True:
        page = client.get(url, params={"bbox": box, "limit": 1000, "offset": offset}).json()
        matched = page["numberMatched"] if matched < 0 else matched
        ids += [str(f["id"]) for f in page["features"]]
        offset += 1000
        if not page["features"] or offset >= matched:
            return matched, ids


def compare_answers(ours: str, tipg: str, boxes: list[str]) -> dict[str, int]:
    """For each box: the same numberMatched and the same set of ids from both servers?"""
    same = 0
    matched = 0
    with httpx.Client(timeout=60) as client:
        for box in boxes:
            a_count, a_ids = every_id(client, ours, box)
            b_count, b_ids = every_id(client, tipg, box)
            if a_count == b_count and sorted(a_ids) == sorted(b_ids) == sorted(set(a_ids)):
                same += 1
            matched += a_count
    return {"boxes": len(boxes), "agree": same, "stations": matched}


def workloads(path: Path, n: int) -> dict[str, list[str]]:
    """The request arguments of each target: bbox query strings, feature ids."""
    coords = np.array(
        [f["geometry"]["coordinates"] for f in orjson.loads(path.read_bytes())["features"]]
    )
    rng = np.random.default_rng(11)
    at = coords[rng.integers(0, n, 2000)] + rng.normal(0, 0.05, (2000, 2))
    boxes = [
        f"?limit={LIMIT}&bbox={x - BOX_DEG / 2:.4f},{y - BOX_DEG / 2:.4f},"
        f"{x + BOX_DEG / 2:.4f},{y + BOX_DEG / 2:.4f}"
        for x, y in at.tolist()
    ]
    ids = [f"/s{i}" for i in rng.integers(0, n, 2000).tolist()]
    return {"bbox": boxes, "item": ids}


def lua(path: str, args: list[str]) -> str:
    return LUA % {"path": path, "args": ",".join(f'"{a}"' for a in args)}


def rounds(
    servers: dict[str, tuple[Any, str, str]], work: dict[str, list[str]], args: argparse.Namespace
) -> dict[tuple[str, str], list[dict[str, float]]]:
    """Alternating wrk runs: per round, per target, each server (order swapped each round).

    ``servers``: name -> (process, origin, the collection's path). Round 0 warms up (2 s each).
    """
    out: dict[tuple[str, str], list[dict[str, float]]] = {}
    names = list(servers)
    for r in range(args.rounds + 1):
        for target, items in work.items():
            for name in names if r % 2 else names[::-1]:
                proc, origin, collection = servers[name]
                path = f"{collection}/items"
                run = run_wrk(origin + path, lua(path, items), args.seconds if r else 2, proc)
                if r:
                    out.setdefault((name, target), []).append(run)
                    print(name, target, r, {k: round(v, 2) for k, v in run.items()}, flush=True)
    return out


def memory_of(proc: Any) -> dict[str, float]:
    """The largest worker's RSS and both workers' USS, MiB."""
    mem = [memory(p) for p in workers_of(proc.pid)]
    return {"rss": max(r for r, _ in mem), "uss": sum(u for _, u in mem)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=186_000)
    parser.add_argument("--seconds", type=int, default=8, help="Length of one wrk run.")
    parser.add_argument("--rounds", type=int, default=3, help="Turns per server and target.")
    parser.add_argument("--check-boxes", type=int, default=50)
    parser.add_argument("--baseline", type=Path, help="src folder of a version to compare.")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "ogc_tipg.md")
    args = parser.parse_args()
    try:
        if shutil.which("wrk") is None:
            raise Skip("wrk is not installed (apt-get install wrk)")
        python = tipg_python()
        with tempfile.TemporaryDirectory() as tmp:
            lines = measure(python, Path(tmp), args)
    except Skip as exc:
        print(f"bench_ogc_tipg.py skipped: {exc}")
        return
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


def measure(python: Path, tmp: Path, args: argparse.Namespace) -> list[str]:
    """Set up both servers on the same data, run the rounds; the report's lines."""
    path = tmp / "stations.geojson"
    write_stations(args.size, path)
    cluster, url = start_postgis(path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STATIONS_", "TIPG_"))}
    ours_port, tipg_port = free_port(), free_port()
    ours_cmd = [sys.executable, "-m", "stations", "serve", "--workers", "2", "--port"]
    ours_cmd += [str(ours_port), "--no-access-log", "--log-level", "warning"]
    ours_cmd += ["--stations", str(path)]
    tipg_cmd = [str(python), "-m", "uvicorn", "tipg.main:app", "--workers", "2", "--port"]
    tipg_cmd += [str(tipg_port), "--no-access-log", "--log-level", "warning"]
    tipg_env = {**env, "DATABASE_URL": url, "TIPG_DB_SCHEMAS": '["public"]'}
    ours_origin, tipg_origin = f"http://127.0.0.1:{ours_port}", f"http://127.0.0.1:{tipg_port}"
    collections = {"ours": "/ogc/collections/stations", "tipg": f"/collections/{TIPG_ID}"}
    procs: list[Any] = []
    try:
        first: dict[str, float] = {}
        ours, first["ours"] = launched(ours_cmd, env, ours_origin + collections["ours"], str(tmp))
        procs.append(ours)
        tipg, first["tipg"] = launched(
            tipg_cmd, tipg_env, tipg_origin + collections["tipg"], str(tmp)
        )
        procs.append(tipg)
        servers = {
            "ours": (ours, ours_origin, collections["ours"]),
            "tipg": (tipg, tipg_origin, collections["tipg"]),
        }
        if args.baseline is not None:
            port = free_port()
            cmd = [*ours_cmd[:7], str(port), *ours_cmd[8:]]
            origin = f"http://127.0.0.1:{port}"
            before_env = {**env, "PYTHONPATH": str(args.baseline.resolve())}
            before, first["before"] = launched(
                cmd, before_env, origin + collections["ours"], str(tmp)
            )
            procs.append(before)
            servers["before"] = (before, origin, collections["ours"])
        work = workloads(path, args.size)
        boxes = [b.split("bbox=")[1] for b in work["bbox"][: args.check_boxes]]
        check = compare_answers(
            ours_origin + collections["ours"] + "/items",
            tipg_origin + collections["tipg"] + "/items",
            boxes,
        )
        print("answers", check, flush=True)
        runs = rounds(servers, work, args)
        mem = {name: memory_of(proc) for name, (proc, _, _) in servers.items()}
    finally:
        for proc in procs:
            stop(proc)
        cluster.destroy()
    return report(runs, mem, first, check, args)


def report(
    runs: dict[tuple[str, str], list[dict[str, float]]],
    mem: dict[str, dict[str, float]],
    first: dict[str, float],
    check: dict[str, int],
    args: argparse.Namespace,
) -> list[str]:
    """The Markdown report: one row per target, then memory, start and the answers' check."""
    lines = [
        f"bench_ogc_tipg.py, {time.strftime('%Y-%m-%d %H:%M')}, {args.size:,} synthetic "
        f"stations, 2 workers each, wrk 1 thread, 32 connections, {args.rounds} rounds of "
        f"{args.seconds} s per server and target, taking turns (after a 2 s warm-up each); "
        "tipg 1.6.1 on PostgreSQL 15 + PostGIS 3 (a throwaway cluster, default settings); "
        f"limit={LIMIT}, boxes of {BOX_DEG} degrees. Medians over the rounds; a ratio is the "
        "median of the rounds' ratios (range).",
        "",
        "| target, server | req/s | p99 ms | tipg req/s | tipg p99 ms | ratio to tipg "
        "| non-2xx (it, tipg) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    names = list(mem)
    for target in ("bbox", "item"):
        tipg = runs[("tipg", target)]
        for name in [n for n in names if n != "tipg"]:
            mine = runs[(name, target)]
            rs = [a["rps"] / b["rps"] for a, b in zip(mine, tipg, strict=True)]
            lines.append(
                f"| {target}, {name} | {statistics.median(r['rps'] for r in mine):,.0f} "
                f"| {statistics.median(r['p99'] for r in mine):.1f} "
                f"| {statistics.median(r['rps'] for r in tipg):,.0f} "
                f"| {statistics.median(r['p99'] for r in tipg):.1f} "
                f"| {statistics.median(rs):.2f} ({min(rs):.2f}–{max(rs):.2f}) "
                f"| {sum(r['errors'] for r in mine):.0f}, {sum(r['errors'] for r in tipg):.0f} |"
            )
        if "before" in mem:
            now, before = runs[("ours", target)], runs[("before", target)]
            rs = [a["rps"] / b["rps"] for a, b in zip(now, before, strict=True)]
            lines.append(
                f"| {target}: ours / before | | | | | {statistics.median(rs):.2f} "
                f"({min(rs):.2f}–{max(rs):.2f}) | |"
            )
    lines += [
        "",
        "| | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
        "| largest worker's RSS, MiB (after the runs) | "
        + " | ".join(f"{mem[n]['rss']:.0f}" for n in names)
        + " |",
        "| USS of both workers, MiB | " + " | ".join(f"{mem[n]['uss']:.0f}" for n in names) + " |",
        "| launch to first items answer, s | "
        + " | ".join(f"{first[n]:.1f}" for n in names)
        + " |",
        "",
        f"Answers: for {check['boxes']} of the boxes, every station inside asked of both "
        f"({check['stations']:,} in all): numberMatched and the ids agree for {check['agree']}.",
    ]
    return lines


if __name__ == "__main__":
    main()
