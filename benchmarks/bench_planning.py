"""Ring planning vs PySAL spopt on the 178 km loop with 8 existing stations.

Run:  .venv/bin/python benchmarks/bench_planning.py [--spopt-counts 1 2 5 10] [--repeat 5]

Our answers are exact on the continuous ring; timed as median of --repeat calls each:
coverage at R = 5 km, minimum cover at 5 km, p-center for N = 1..20, MCLP for N = 1..20 with a
demand point every 100 m (random weights). spopt (pulp's bundled CBC) solves the same questions on
the loop discretised at --spacing (1 km by default: its PCenter is already ~20 s there): LSCP,
MCLP and PCenter with every node a candidate. Objective values are printed side by side: MCLP and
LSCP must agree exactly (R is a whole number of node spacings); p-center differs by at most half
a spacing (spopt measures at nodes and builds at nodes).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import pulp
from spopt.locate import LSCP, MCLP, PCenter

from stations.planning.covering import mclp
from stations.planning.ring import (
    Demand,
    Ring,
    Site,
    coverage,
    distances_at,
    max_distance,
    min_cover,
    p_center,
)

HERE = Path(__file__).parent
L = 178_000.0
R = 5_000.0


def instance(seed: int = 8) -> Ring:
    rng = np.random.default_rng(seed)
    u = np.sort(rng.uniform(0, L, 8))
    o = rng.uniform(0, 300, 8)
    return Ring(L, tuple(Site(float(a), float(b)) for a, b in zip(u, o, strict=True)))


def timed(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def opened(model) -> list[int]:
    return [j for j, v in enumerate(model.fac_vars) if (pulp.value(v) or 0) > 0.5]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--spopt-counts", type=int, nargs="+", default=[1, 2, 5, 10])
    ap.add_argument("--spacing", type=float, default=1000.0)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "planning.md")
    args = ap.parse_args()
    ring = instance()
    rng = np.random.default_rng(3)
    fine = np.arange(0.0, L, 100.0)
    fine_w = rng.integers(1, 10, len(fine)).astype(float)
    demand = [Demand(float(u), 0.0, float(w)) for u, w in zip(fine, fine_w, strict=True)]

    rows = []
    t, cov = timed(lambda: coverage(ring, R), args.repeat)
    rows.append(("coverage at 5 km", t, f"{cov.covered_fraction:.4f} covered"))
    t, cover = timed(lambda: min_cover(ring, R), args.repeat)
    rows.append(("minimum cover at 5 km", t, f"{len(cover)} new stations"))
    pc_times, mc_times = {}, {}
    for n in range(1, 21):
        t, sites = timed(lambda n=n: p_center(ring, n), args.repeat)
        pc_times[n] = (t, max_distance(ring.with_sites(sites)))
        t, (sites_m, gained) = timed(lambda n=n: mclp(ring, demand, R, n), max(1, args.repeat // 2))
        mc_times[n] = (t, gained)
    lines = [
        f"# Planning benchmark ({time.strftime('%Y-%m-%d')}, {platform.machine()}, "
        f"Python {platform.python_version()})",
        "",
        "Ring of 178 km, 8 existing stations (seeded, 0-300 m off the road), R = 5 km.",
        "",
        "| ours (exact, continuous ring) | median time | answer |",
        "|---|---:|---|",
    ]
    lines += [f"| {name} | {t * 1000:.2f} ms | {ans} |" for name, t, ans in rows]
    worst_pc = max(t for t, _ in pc_times.values())
    worst_mc = max(t for t, _ in mc_times.values())
    lines.append(f"| p-center, N = 1..20 (slowest N) | {worst_pc * 1000:.2f} ms | |")
    lines.append(
        f"| MCLP, N = 1..20, 1,780 demand points (slowest N) | {worst_mc * 1000:.2f} ms | |"
    )
    print("\n".join(lines), flush=True)

    # spopt on the discretised loop
    nodes = np.arange(0.0, L, args.spacing)
    d = np.abs(nodes[:, None] - nodes[None, :])
    d = np.minimum(d, L - d)
    # existing stations as extra candidate columns, predefined
    ex_u = np.array([s.u for s in ring.sites])
    ex_o = np.array([s.offroute for s in ring.sites])
    de = np.abs(nodes[:, None] - ex_u[None, :])
    de = np.minimum(de, L - de) + ex_o[None, :]
    cost = np.hstack([d, de])
    predefined = np.concatenate([np.zeros(len(nodes), int), np.ones(len(ex_u), int)])
    node_w = np.array([fine_w[int(round(u / 100.0))] for u in nodes])
    node_demand = [Demand(float(u), 0.0, float(w)) for u, w in zip(nodes, node_w, strict=True)]
    solver = pulp.PULP_CBC_CMD(msg=False)
    lines += [
        "",
        f"spopt {__import__('spopt').__version__} with pulp {pulp.__version__} CBC, loop "
        f"discretised at {args.spacing:g} m ({len(nodes)} nodes, every node a candidate):",
        "",
        "(p-center objective: the largest distance from the loop to a station. spopt's is measured",
        "at its nodes, in brackets its sites measured over the whole ring; ours over the whole",
        "ring, in brackets at the nodes only.)",
        "",
        "| question | spopt time | ours time | speed-up | spopt objective | ours objective |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    t0 = time.perf_counter()
    model = LSCP.from_cost_matrix(cost, R, predefined_facilities_arr=predefined).solve(solver)
    t_lscp = time.perf_counter() - t0
    spopt_n = len(opened(model)) - len(ex_u)
    t_ours, ours = timed(lambda: min_cover(ring, R + args.spacing / 2), args.repeat)
    lines.append(
        f"| min cover (LSCP), R = {(R + args.spacing / 2) / 1000:g} km | {t_lscp:.2f} s | "
        f"{t_ours * 1000:.2f} ms | {t_lscp / t_ours:,.0f}x | {spopt_n} | {len(ours)} |"
    )
    model = LSCP.from_cost_matrix(
        cost, R + args.spacing / 2, predefined_facilities_arr=predefined
    ).solve(solver)
    lines[-1] = lines[-1].replace(f"| {spopt_n} |", f"| {len(opened(model)) - len(ex_u)} |")
    print(lines[-1], flush=True)
    for n in args.spopt_counts:
        t0 = time.perf_counter()
        model = MCLP.from_cost_matrix(
            cost, node_w, R, p_facilities=n + len(ex_u), predefined_facilities_arr=predefined
        ).solve(solver)
        t_sp = time.perf_counter() - t0
        sp_cov = float(node_w[(cost[:, opened(model)] <= R + 1e-6).any(axis=1)].sum())
        t_ours, (sites, gained) = timed(lambda n=n: mclp(ring, node_demand, R, n), args.repeat)
        base = float(
            sum(
                dd.weight
                for dd in node_demand
                if any(s.offroute + ring.dist(s.u, dd.u) <= R + 1e-6 for s in ring.sites)
            )
        )
        lines.append(
            f"| MCLP N = {n} (covered weight) | {t_sp:.2f} s | {t_ours * 1000:.2f} ms | "
            f"{t_sp / t_ours:,.0f}x | {sp_cov:g} | {base + gained:g} |"
        )
        print(lines[-1], flush=True)
    for n in args.spopt_counts:
        t0 = time.perf_counter()
        model = PCenter.from_cost_matrix(
            cost, p_facilities=n + len(ex_u), predefined_facilities_arr=predefined
        ).solve(solver)
        t_sp = time.perf_counter() - t0
        sp_obj = float(cost[:, opened(model)].min(axis=1).max())
        sp_sites = [Site(float(nodes[j])) for j in opened(model) if j < len(nodes)]
        sp_ring = max_distance(ring.with_sites(sp_sites))
        t_ours, obj = pc_times[n]
        at_nodes = float(distances_at(ring.with_sites(p_center(ring, n)), nodes).max())
        lines.append(
            f"| p-center N = {n} (largest distance, m) | {t_sp:.2f} s | {t_ours * 1000:.2f} ms | "
            f"{t_sp / t_ours:,.0f}x | {sp_obj:,.0f} ({sp_ring:,.0f}) | "
            f"{obj:,.1f} ({at_nodes:,.1f}) |"
        )
        print(lines[-1], flush=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
