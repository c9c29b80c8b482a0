"""Nearest-station benchmark at national scale: this project's index against three baselines.

Run:  .venv/bin/python benchmarks/bench_nearest.py [--sizes 186000 1000000] [--queries 2000]

Synthetic stations over mainland China (70% clustered around random "towns", 30% uniform), so
that near-ties occur as they do in real data. For each size it measures, in one run:
index build time, single-query latency (median, p99) for k=1 and k=5, memory of the index, and
wrong answers against ellipsoidal ground truth (pyproj geodesics to every station), for
  ours       stations.index.GeoIndex (KD-tree on unit vectors + exact ellipsoidal re-ranking),
             also with 10% of the stations closed (the riders' default "open" mask)
  (a)        brute-force numpy haversine scan
  (b)        naive geopandas: reproject everything to a UTM zone, shapely distance to all rows
  (c)        raw scipy cKDTree on unit vectors, pyproj distances for its k results (no re-rank)
"""

from __future__ import annotations

import argparse
import platform
import time
import tracemalloc
from pathlib import Path

import numpy as np
from pyproj import Geod
from scipy.spatial import cKDTree

from stations.geodesy import unit_vectors
from stations.index import GeoIndex

GEOD = Geod(ellps="WGS84")
R = 6_371_008.8


def synthetic(n: int, seed: int = 42) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n_cluster = int(n * 0.7)
    towns_lon = rng.uniform(98, 122, 3000)
    towns_lat = rng.uniform(21, 45, 3000)
    pick = rng.integers(0, 3000, n_cluster)
    lon = np.concatenate(
        [towns_lon[pick] + rng.normal(0, 0.05, n_cluster), rng.uniform(75, 134, n - n_cluster)]
    )
    lat = np.concatenate(
        [towns_lat[pick] + rng.normal(0, 0.05, n_cluster), rng.uniform(19, 52, n - n_cluster)]
    )
    return lon, lat


def queries(lon: np.ndarray, lat: np.ndarray, m: int, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, lon.size, m)
    near = np.column_stack([lon[idx] + rng.normal(0, 0.02, m), lat[idx] + rng.normal(0, 0.02, m)])
    return near


def truth(lon, lat, q, k):
    _, _, d = GEOD.inv(np.full(lon.size, q[0]), np.full(lon.size, q[1]), lon, lat)
    order = np.lexsort((np.arange(d.size), d))[:k]
    return d[order]


def timed(fn, qs, k):
    times, answers = [], []
    for q in qs:
        t = time.perf_counter()
        answers.append(fn(q, k))
        times.append(time.perf_counter() - t)
    t = np.array(times) * 1e6
    return float(np.median(t)), float(np.percentile(t, 99)), answers


def timed_pair(f1, f2, qs, k):
    times = ([], []), ([], [])
    for q in qs:
        for fn, (t_list, a_list) in zip((f1, f2), times, strict=True):
            t = time.perf_counter()
            a_list.append(fn(q, k))
            t_list.append(time.perf_counter() - t)
    out = []
    for t_list, a_list in times:
        t = np.array(t_list) * 1e6
        out.append((float(np.median(t)), float(np.percentile(t, 99)), a_list))
    return out


def wrong(answers, truths):
    # An answer is wrong if its k distances (ellipsoidal) differ from the ground truth's by > 1 mm.
    return sum(not np.allclose(a, t, atol=1e-3) for a, t in zip(answers, truths, strict=True))


def run(n: int, m: int, m_truth: int, m_naive: int) -> list[dict]:
    lon, lat = synthetic(n)
    qs = queries(lon, lat, m)
    rows = []

    tracemalloc.start()
    t = time.perf_counter()
    ours = GeoIndex(lon, lat)
    build_ours = time.perf_counter() - t
    mem_ours = tracemalloc.get_traced_memory()[0] / 2**20
    tracemalloc.stop()

    tracemalloc.start()
    t = time.perf_counter()
    xyz = unit_vectors(lon, lat)
    tree = cKDTree(xyz)
    build_c = time.perf_counter() - t
    mem_c = tracemalloc.get_traced_memory()[0] / 2**20
    tracemalloc.stop()

    def f_ours(q, k):
        return np.array([h.distance_m for h in ours.nearest(q[0], q[1], k)])

    # Real data has closed stations: riders' default query ("open stations") then carries a mask.
    is_open = np.random.default_rng(11).random(n) >= 0.1

    def f_ours_masked(q, k):
        return np.array([h.distance_m for h in ours.nearest(q[0], q[1], k, mask=is_open)])

    def f_c(q, k):
        _, idx = tree.query(unit_vectors([q[0]], [q[1]])[0], k=k)
        idx = np.atleast_1d(idx)
        _, _, d = GEOD.inv(np.full(idx.size, q[0]), np.full(idx.size, q[1]), lon[idx], lat[idx])
        return np.asarray(d)

    rl, pl = np.radians(lon), np.radians(lat)

    def f_a(q, k):
        ql, qp = np.radians(q[0]), np.radians(q[1])
        h = np.sin((pl - qp) / 2) ** 2 + np.cos(qp) * np.cos(pl) * np.sin((rl - ql) / 2) ** 2
        idx = np.argpartition(h, k)[:k]
        idx = idx[np.argsort(h[idx])]
        _, _, d = GEOD.inv(np.full(k, q[0]), np.full(k, q[1]), lon[idx], lat[idx])
        return np.asarray(d)

    import geopandas as gpd
    from shapely.geometry import Point

    gdf = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")

    def f_b(q, k):
        zone = int((q[0] + 180) // 6) + 1
        crs = f"EPSG:{32600 + zone}"
        projected = gdf.geometry.to_crs(crs)
        p = gpd.GeoSeries([Point(q)], crs="EPSG:4326").to_crs(crs).iloc[0]
        idx = np.argsort(projected.distance(p).to_numpy())[:k]
        _, _, d = GEOD.inv(np.full(k, q[0]), np.full(k, q[1]), lon[idx], lat[idx])
        return np.asarray(d)

    truths = {k: [truth(lon, lat, q, k) for q in qs[:m_truth]] for k in (1, 5)}
    open_truths = {
        k: [truth(lon[is_open], lat[is_open], q, k) for q in qs[:m_truth]] for k in (1, 5)
    }
    # ours and (c) are timed interleaved, query by query, so machine noise hits both alike.
    paired = {k: timed_pair(f_ours, f_c, qs, k) for k in (1, 5)}
    for name, fn, build, mem, count in (
        ("ours: GeoIndex (exact)", f_ours, build_ours, mem_ours, m),
        ("ours, 10 % closed (mask)", f_ours_masked, build_ours, mem_ours, m),
        ("(c) cKDTree + pyproj", f_c, build_c, mem_c, m),
        ("(a) numpy haversine scan", f_a, 0.0, 0.0, min(m, 300)),
        ("(b) naive geopandas", f_b, 0.0, 0.0, m_naive),
    ):
        row = {"n": n, "method": name, "build_s": build, "mem_mib": mem}
        for k in (1, 5):
            if fn is f_ours or fn is f_c:
                med, p99, answers = paired[k][0 if fn is f_ours else 1]
            else:
                med, p99, answers = timed(fn, qs[:count], k)
            checked = min(count, m_truth)
            row[f"k{k}_med_us"], row[f"k{k}_p99_us"] = med, p99
            expected = open_truths[k] if fn is f_ours_masked else truths[k]
            row[f"k{k}_wrong"] = f"{wrong(answers[:checked], expected[:checked])}/{checked}"
        rows.append(row)
        print(row, flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[186_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--truth", type=int, default=400, help="queries checked by brute force")
    parser.add_argument("--naive", type=int, default=5, help="queries for the geopandas baseline")
    default_out = Path(__file__).parent / "results" / "nearest.md"
    parser.add_argument("--out", type=Path, default=default_out)
    args = parser.parse_args()
    rows = []
    for n in args.sizes:
        rows += run(n, args.queries, args.truth, args.naive)
    lines = [
        f"Machine: {platform.processor() or platform.machine()}, {platform.python_version()}, "
        f"numpy {np.__version__}; {time.strftime('%Y-%m-%d')}",
        "",
        "| stations | method | build (s) | index MiB | k=1 median µs | k=1 p99 µs | k=1 wrong "
        "| k=5 median µs | k=5 p99 µs | k=5 wrong |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['n']:,} | {r['method']} | {r['build_s']:.2f} | {r['mem_mib']:.0f} "
            f"| {r['k1_med_us']:.0f} | {r['k1_p99_us']:.0f} | {r['k1_wrong']} "
            f"| {r['k5_med_us']:.0f} | {r['k5_p99_us']:.0f} | {r['k5_wrong']} |"
        )
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
