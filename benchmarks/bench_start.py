"""Start-up cost of a replica: first answer, memory per worker, one CLI `nearest`.

Run:  .venv/bin/python benchmarks/bench_start.py [--sizes 186000 1000000] [--rounds 3]

For each size a synthetic national file is written (`bench_api.write_stations`' positions, with
realistic properties: amenities, opening hours, a town, an address). Each round measures, on
127.0.0.1 and in the same run:

- a bare ``json.load`` of the file (the baseline the acceptance figures are ratios of);
- `stations serve --workers 2` from launch to its first 200 on ``/api/nearest``, then the RSS
  and USS of each worker (``/proc/PID/smaps_rollup``; USS = private clean + private dirty);
- one `stations nearest` from the command line: wall time and peak RSS (``ru_maxrss``).

A first round starts from the GeoJSON alone (``cold``: no column file beside it yet); the later
ones find the column file the first wrote (``warm``). The machine is shared: quote the ratios.

With ``--fold-writes W``, after the rounds of a size: W patches through the store, then
`stations compact` (wall time) with the column file beside the data (carried forward,
`storage.folding`), and again with it removed first (written from memory), each followed by
one `stations nearest` (which maps the column file if the fold left it current).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from bench_api import free_port, serve, stop  # noqa: E402
from bench_nearest import synthetic  # noqa: E402
from stations.settings import Settings  # noqa: E402
from stations.storage import columns as column_file  # noqa: E402
from stations.storage.store import open_store  # noqa: E402

AMENITIES = ["drinking_water", "hot_water", "microwave", "phone_charging", "toilet", "seating"]
HOURS = ["Mo-Fr 08:00-18:00", "24/7", "Mo-Su 09:00-21:00", None]


def write_stations(n: int, path: Path) -> None:
    """``n`` synthetic stations with properties like the real data's."""
    lon, lat = synthetic(n)
    feats = []
    for i, (x, y) in enumerate(zip(lon.tolist(), lat.tolist(), strict=True)):
        props = {
            "id": f"s{i}",
            "name": f"工会驿站 {i}",
            "name_en": f"Union rest station {i}",
            "kind": "union_station" if i % 5 else "cold_drink_fridge",
            "town": f"镇 {i % 997}",
            "address": f"人民路 {i % 400} 号",
            "amenities": AMENITIES[: i % 7],
            "opening_hours": HOURS[i % 4],
            "status": "open" if i % 11 else "closed",
            "position_accuracy": "approximate",
            "source": "synthetic benchmark data",
        }
        geometry = {"type": "Point", "coordinates": [round(x, 6), round(y, 6)]}
        feats.append({"type": "Feature", "id": f"s{i}", "geometry": geometry, "properties": props})
    path.write_bytes(orjson.dumps({"type": "FeatureCollection", "features": feats}))


def bare_load(path: Path) -> float:
    """Seconds a fresh interpreter takes to ``json.load`` the file (start-up included)."""
    code = f"import json; json.load(open({str(path)!r}))"
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    return time.perf_counter() - t0


def memory(pid: int) -> tuple[float, float]:
    """RSS and USS of a process, MiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value = line.split(":", 1)
        fields[name] = int(value.split()[0])
    uss = fields["Private_Clean"] + fields["Private_Dirty"]
    return fields["Rss"] / 1024, uss / 1024


def workers_of(supervisor: int) -> list[int]:
    """The worker processes of a `stations serve` supervisor (its children running Python)."""
    out = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(supervisor)], capture_output=True, text=True
    ).stdout
    pids = [int(p) for p in out.split()]
    # The supervisor's multiprocessing helper (resource tracker) is a child too: workers are
    # the ones that listen, i.e. that have loaded the app; they are the large ones.
    return sorted(pids, key=lambda p: -memory(p)[0])[:2]


def first_answer(path: Path, env: dict[str, str], timeout: float) -> dict[str, float]:
    """Launch `serve --workers 2`; seconds to the first /api/nearest answer, then memory."""
    port = free_port()
    cmd = [sys.executable, "-m", "stations", "serve", "--workers", "2", "--port", str(port)]
    cmd += ["--no-access-log", "--log-level", "warning", "--stations", str(path)]
    url = f"http://127.0.0.1:{port}/api/nearest?lon=116.4&lat=39.9&k=3"
    t0 = time.perf_counter()
    proc = serve(cmd, env)
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(Path(proc.log_path).read_text()[-2000:])  # type: ignore[attr-defined]
            if time.perf_counter() - t0 > timeout:
                raise RuntimeError(f"no answer after {timeout} s")
            try:
                if httpx.get(url, timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        first = time.perf_counter() - t0
        # Both workers must have loaded before memory is read: ask until both answered.
        deadline = time.perf_counter() + timeout
        pids: set[int] = set()
        while len(pids) < 2 and time.perf_counter() < deadline:
            with httpx.Client() as client:
                for _ in range(20):
                    client.get(url, headers={"connection": "close"})
            pids = set(workers_of(proc.pid))
            time.sleep(0.5)
        mem = [memory(p) for p in workers_of(proc.pid)]
        return {
            "first_s": first,
            "rss_max": max(r for r, _ in mem),
            "uss_sum": sum(u for _, u in mem),
        }
    finally:
        stop(proc)


PEAK = (
    "import resource, subprocess, sys; "
    "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
    "r = resource.getrusage(resource.RUSAGE_CHILDREN); "
    "print(r.ru_utime + r.ru_stime, r.ru_maxrss)"
)


def cli_nearest(path: Path, env: dict[str, str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and peak RSS (MiB) of one `stations nearest`."""
    cmd = [sys.executable, "-m", "stations", "nearest", "--lon", "116.4", "--lat", "39.9"]
    cmd += ["--stations", str(path)]
    # A fresh wrapper whose only child is the command: its children's ru_maxrss is the command's.
    wrapper = [sys.executable, "-c", PEAK]
    t0 = time.perf_counter()
    out = subprocess.run([*wrapper, *cmd], env=env, check=True, capture_output=True, text=True)
    took = time.perf_counter() - t0
    cpu, peak = out.stdout.split()[-2:]
    return took, float(cpu), int(peak) / 1024


def fold_figures(path: Path, env: dict[str, str], writes: int) -> dict[str, float]:
    """`stations compact` after ``writes`` patches: column file carried, then from memory."""
    out: dict[str, float] = {}
    for label in ("carried", "from_memory"):
        store = open_store(Settings(_env_file=None, stations_path=path))
        for i in range(writes):
            store.patch(f"s{i * 7}", {"properties": {"phone": f"023-{i:07d}"}}, "bench")
        if label == "from_memory":
            column_file.columns_path(path).unlink(missing_ok=True)
        t0 = time.perf_counter()
        cmd = [sys.executable, "-m", "stations", "compact", "--stations", str(path)]
        subprocess.run(cmd, env=env, check=True, capture_output=True)
        out[f"compact_{label}_s"] = time.perf_counter() - t0
        out[f"current_after_{label}"] = float(column_file.load(path, 1) is not None)
        out[f"cli_after_{label}_s"] = cli_nearest(path, env)[0]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[186_000, 1_000_000])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--fold-writes", type=int, default=0, help="See the docstring.")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATIONS_")}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            path = Path(tmp) / f"stations-{n}.geojson"
            write_stations(n, path)
            for r in range(args.rounds):
                bare = bare_load(path)
                serve_figures = first_answer(path, env, args.timeout)
                cli_s, cli_cpu_s, cli_mib = cli_nearest(path, env)
                row = {"n": n, "round": r, "bare_json_s": bare, **serve_figures}
                row |= {
                    "ratio": serve_figures["first_s"] / bare,
                    "cli_s": cli_s,
                    "cli_cpu_s": cli_cpu_s,
                    "cli_mib": cli_mib,
                }
                rows.append(row)
                print(
                    json.dumps(
                        {k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}
                    ),
                    flush=True,
                )
            if args.fold_writes:
                folds = fold_figures(path, env, args.fold_writes)
                print(json.dumps({"n": n, **{k: round(v, 3) for k, v in folds.items()}}))
    for n in args.sizes:
        mine = [r for r in rows if r["n"] == n]
        print(
            f"n={n}: first answer median {statistics.median(r['first_s'] for r in mine):.2f} s "
            f"(ratio to json.load {statistics.median(r['ratio'] for r in mine):.2f}), "
            f"worker RSS max {max(r['rss_max'] for r in mine):.0f} MiB, "
            f"USS of both {max(r['uss_sum'] for r in mine):.0f} MiB, "
            f"CLI nearest median {statistics.median(r['cli_s'] for r in mine):.2f} s "
            f"({statistics.median(r['cli_cpu_s'] for r in mine):.2f} s CPU)"
        )


if __name__ == "__main__":
    main()
