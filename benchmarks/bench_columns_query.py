"""The query paths from a column file against the same data read from the GeoJSON (A/B).

Run:  .venv/bin/python benchmarks/bench_columns_query.py [--n 186000] [--queries 2000] [--rounds 5]

Both catalogs are loaded in one process; the same 2,000 random points near stations (k=5, the
riders' default filters) are answered as the bytes `/api/nearest` sends
(`query.find_nearest(...).encode()`), alternating A and B round after round
so both meet the same load from the machine's other tenants. First a warm-up round each (the
column catalog makes its records then); the answers must be identical. The HTTP path is
measured by `bench_api.py`. Then the same for a page of 100 stations in a box (what OGC items
and `/api/stations?bbox=` do) and for one station by id (an OGC item): a station the column
catalog has not made yet is made from its JSON there.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from bench_api import query_points  # noqa: E402
from bench_nearest import synthetic  # noqa: E402
from bench_start import write_stations  # noqa: E402
from stations import query  # noqa: E402
from stations.catalog import Catalog  # noqa: E402
from stations.settings import Settings  # noqa: E402
from stations.storage.loading import load_stations  # noqa: E402


def run(catalog: Catalog, points: list[tuple[float, float]]) -> tuple[float, list[bytes]]:
    ctx = query.QueryContext()
    t0 = time.perf_counter()
    out = [query.find_nearest(catalog, lon, lat, k=5, ctx=ctx).encode() for lon, lat in points]
    return (time.perf_counter() - t0) / len(points) * 1e6, out


def run_listing(catalog: Catalog, points: list[tuple[float, float]]) -> tuple[float, list[object]]:
    """A page of 100 stations in a 0.2-degree box around each point, as OGC items pages them."""
    ctx = query.QueryContext()
    t0 = time.perf_counter()
    out: list[object] = []
    for lon, lat in points[:200]:
        box = (lon - 0.1, lat - 0.1, lon + 0.1, lat + 0.1)
        out.append(query.list_stations(catalog, query.Filters(), bbox=box, limit=100, ctx=ctx))
    return (time.perf_counter() - t0) / 200 * 1e6, out


def run_items(catalog: Catalog, ids: list[str]) -> tuple[float, list[object]]:
    """One station by id (an OGC item, `/api/stations/{id}`)."""
    ctx = query.QueryContext()
    t0 = time.perf_counter()
    out = [query.station_by_id(catalog, sid, ctx=ctx) for sid in ids]
    return (time.perf_counter() - t0) / len(ids) * 1e6, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=186_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "stations.geojson"
        write_stations(args.n, path)
        settings = Settings(_env_file=None, stations_path=path)  # type: ignore[call-arg]
        parsed = load_stations(path)
        plain = Catalog(parsed.stations, Catalog.from_settings(settings).loop)  # writes columns
        mapped = Catalog.from_settings(settings)
        assert type(mapped._rows.at).__name__ == "Records"
        del parsed
        lon, lat = synthetic(args.n)
        points = [tuple(p) for p in query_points(lon, lat).tolist()]
        ids = [f"s{i}" for i in range(0, args.n, max(1, args.n // 2000))]
        tasks = {
            "nearest k=5": lambda c: run(c, points),
            "bbox page of 100": lambda c: run_listing(c, points),
            "item by id": lambda c: run_items(c, ids),
        }
        for name, task in tasks.items():
            assert task(plain)[1] == task(mapped)[1], f"{name}: answers differ"
            a, b = [], []
            for _ in range(args.rounds):
                a.append(task(plain)[0])
                b.append(task(mapped)[0])
            ratios = [y / x for x, y in zip(a, b, strict=True)]
            print(
                f"n={args.n}: {name}: from GeoJSON {statistics.median(a):.1f} µs, "
                f"from the column file {statistics.median(b):.1f} µs per request "
                f"(ratio {statistics.median(ratios):.3f}, {min(ratios):.3f}-{max(ratios):.3f})",
                flush=True,
            )


if __name__ == "__main__":
    main()
