"""The query path from a column file against the same data read from the GeoJSON (A/B).

Run:  .venv/bin/python benchmarks/bench_columns_query.py [--n 186000] [--queries 2000] [--rounds 5]

Both catalogs are loaded in one process; the same 2,000 random points near stations (k=5, the
riders' default filters) are answered as the bytes `/api/nearest` sends
(`query.find_nearest(...).encode()`), alternating A and B round after round
so both meet the same load from the machine's other tenants. First a warm-up round each (the
column catalog makes its records then); the answers must be identical. The HTTP path is
measured by `bench_api.py`.
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
        _, want = run(plain, points)
        _, got = run(mapped, points)
        assert got == want, "answers differ"
        a, b = [], []
        for _ in range(args.rounds):
            a.append(run(plain, points)[0])
            b.append(run(mapped, points)[0])
        ratios = [y / x for x, y in zip(a, b, strict=True)]
        print(
            f"n={args.n}: nearest k=5 from GeoJSON {statistics.median(a):.1f} µs, "
            f"from the column file {statistics.median(b):.1f} µs per query "
            f"(ratio {statistics.median(ratios):.3f}, {min(ratios):.3f}-{max(ratios):.3f})"
        )


if __name__ == "__main__":
    main()
