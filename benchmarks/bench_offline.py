"""The offline rider app: snapshot size, and the nearest query computed in the browser's engine.

Run:  .venv/bin/python benchmarks/bench_offline.py [--sizes 10 186000] [--queries 300]

For the bundled data (10 stations) and synthetic national files (bench_nearest's stations over
mainland China, with names, towns, amenities and opening hours as long as real ones), it
measures the `/api/offline` answer, raw and gzip (what goes over the air), for the whole file
and for the region the rider page asks for (the loop's box with a margin), and the time of
one offline nearest query in `offline.js` (Node, the V8 engine of Chrome; skipped without
``node``), against a brute-force baseline in the same run: GeographicLib's inverse to every
station, sorted.
"""

from __future__ import annotations

import argparse
import gzip
import json
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

from stations.catalog import Catalog
from stations.settings import DEFAULT_GEODATA
from stations.web import offline

sys.path.insert(0, str(Path(__file__).parent))
from bench_nearest import synthetic  # noqa: E402

STATIC = Path(offline.__file__).parent / "static"
AMENITIES = ["drinking_water", "toilet", "seating", "phone_charging", "microwave", "heating"]
HOURS = [None, "24/7", "Mo-Su 08:00-18:00", "Mo-Fr 09:00-17:00"]
#: Queries timed for the brute-force baseline (a full scan of 186,000 stations takes a second).
BASELINE_QUERIES = 30

RUNNER = """
const vm = require("vm"), fs = require("fs");
const [snapshotFile, queriesFile, staticDir, baselineQueries] = process.argv.slice(2);
const ctx = { console, Intl, Date, Map, Float64Array, Uint32Array };
ctx.window = ctx.self = ctx.globalThis = ctx;
vm.createContext(ctx);
for (const f of ["geographiclib-geodesic.min.js", "offline.js"])
  vm.runInContext(fs.readFileSync(staticDir + "/" + f, "utf8"), ctx);
const t0 = process.hrtime.bigint();
const snapshot = JSON.parse(fs.readFileSync(snapshotFile, "utf8"));
const prepared = ctx.StationsOffline.prepare(snapshot);
const prepareMs = Number(process.hrtime.bigint() - t0) / 1e6;
const queries = JSON.parse(fs.readFileSync(queriesFile, "utf8"));
const geod = ctx.geodesic.Geodesic.WGS84;
function brute(lon, lat) {
  const d = prepared.stations.map((s, i) => [geod.Inverse(lat, lon, s.lat, s.lon).s12, i]);
  d.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  return d.slice(0, 3).map((x) => prepared.stations[x[1]].id);
}
function time(fn, count) {
  const ms = [];
  let answers = [];
  for (const [x, y] of queries.slice(0, count)) {
    const t = process.hrtime.bigint();
    answers.push(fn(x, y));
    ms.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  ms.sort((a, b) => a - b);
  return { median: ms[Math.floor(ms.length / 2)], p95: ms[Math.floor(ms.length * 0.95)], answers };
}
const offlineNearest = (x, y) =>
  ctx.StationsOffline.nearest(prepared, x, y, { k: 3 }).features.map((f) => f.id);
const ours = time(offlineNearest, queries.length);
const base = time(brute, Number(baselineQueries));
const differ = base.answers.filter((b, i) => b.join() !== ours.answers[i].join()).length;
console.log(JSON.stringify({ prepareMs, differ, ours: { median: ours.median, p95: ours.p95 },
  brute: { median: base.median, p95: base.p95 } }));
"""


def national(n: int, path: Path) -> None:
    """A stations file of ``n`` open stations over mainland China, as long as real ones."""
    lon, lat = synthetic(n)
    rnd = random.Random(n)
    features = []
    for i, (x, y) in enumerate(zip(lon.tolist(), lat.tolist(), strict=True)):
        features.append(
            {
                "type": "Feature",
                "id": f"station-{i}",
                "geometry": {"type": "Point", "coordinates": [round(x, 6), round(y, 6)]},
                "properties": {
                    "id": f"station-{i}",
                    "name": f"某某镇第{i}号工会驿站",
                    "name_en": f"Union rest station no. {i}",
                    "kind": "union_station",
                    "town": "某某镇",
                    "address": f"某某路{i % 500}号",
                    "amenities": rnd.sample(AMENITIES, rnd.randint(0, 4)),
                    "opening_hours": HOURS[i % len(HOURS)],
                    "phone": None,
                    "awards": [],
                    "status": "open",
                    "position_accuracy": "approximate",
                    "source": "synthetic (benchmark)",
                    "notes": None,
                },
            }
        )
    doc = {"type": "FeatureCollection", "features": features}
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")


def measure(catalog: Catalog, label: str, queries: int, work: Path) -> list[str]:
    lines = []
    region = offline.region(catalog)
    for name, box in (("whole file", None), ("loop region", region)):
        doc = offline.snapshot(catalog, "v", box, 10**7, "Asia/Shanghai")
        raw = orjson.dumps(doc)
        packed = gzip.compress(raw, compresslevel=6, mtime=0)
        n = len(doc["stations"])
        line = (
            f"| {label} | {name} | {n:,} | {len(raw) / 1024:,.1f} KiB | "
            f"{len(packed) / 1024:,.1f} KiB |"
        )
        timing = _query_time(raw, doc, queries, work) if n else None
        if timing:
            ours, brute = timing["ours"], timing["brute"]
            line += (
                f" {timing['prepareMs']:,.0f} ms | {ours['median']:.3f} / {ours['p95']:.3f} ms |"
                f" {brute['median']:.2f} ms | {brute['median'] / ours['median']:,.0f}× |"
                f" {timing['differ']} |"
            )
        else:
            line += " – | – | – | – | – |"
        lines.append(line)
        print(line, flush=True)
    return lines


def _query_time(raw: bytes, doc: dict, count: int, work: Path) -> dict | None:
    node = shutil.which("node")
    if node is None:
        return None
    rnd = random.Random(7)
    rows = doc["stations"]
    lon_i, lat_i = doc["fields"].index("lon"), doc["fields"].index("lat")
    points = []
    for _ in range(count):  # riders near stations, a few km off
        row = rows[rnd.randrange(len(rows))]
        points.append(
            (row[lon_i] + rnd.uniform(-0.05, 0.05), row[lat_i] + rnd.uniform(-0.05, 0.05))
        )
    (work / "snapshot.json").write_bytes(raw)
    (work / "queries.json").write_text(json.dumps(points))
    (work / "runner.js").write_text(RUNNER)
    out = subprocess.run(
        [
            node,
            str(work / "runner.js"),
            str(work / "snapshot.json"),
            str(work / "queries.json"),
            str(STATIC),
            str(min(count, BASELINE_QUERIES)),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 186_000])
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    print(
        f"# offline snapshot and query ({platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}, node {node or 'absent'})"
    )
    print(
        "| stations in file | snapshot | stations in it | JSON | gzip | parse + prepare |"
        " offline nearest k=3 (median / p95) | brute force (median) | speed-up |"
        " answers differing (of the baseline's) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    loop = DEFAULT_GEODATA / "loop178.geojson"
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for n in args.sizes:
            if n == 10:
                catalog = Catalog.from_paths(DEFAULT_GEODATA / "stations.geojson", loop)
            else:
                started = time.perf_counter()
                national(n, work / "stations.geojson")
                catalog = Catalog.from_paths(work / "stations.geojson", loop)
                print(f"(built {n:,} stations in {time.perf_counter() - started:.0f} s)")
            measure(catalog, f"{catalog.count:,}", args.queries, work)


if __name__ == "__main__":
    main()
