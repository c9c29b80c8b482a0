"""Ring planning algorithms against brute force on small random rings (many seeds)."""

import itertools
import math

import numpy as np
import pytest

from stations.errors import InvalidInput
from stations.planning.covering import covered_weight, mclp
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

L = 1000.0
SEEDS = range(40)


def random_ring(seed: int, n_sites: int | None = None) -> Ring:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 5)) if n_sites is None else n_sites
    sites = [
        Site(float(rng.uniform(-L, 2 * L)), float(rng.choice([0.0, rng.uniform(0, 80)])))
        for _ in range(n)
    ]
    if n >= 2 and seed % 4 == 0:
        sites[1] = Site(sites[0].u, sites[0].offroute)  # two stations at the same point
    return Ring(L, tuple(sites))


def sampled_max(ring: Ring, step: float = 0.25) -> float:
    xs = np.arange(0, ring.length, step)
    return float(distances_at(ring, xs).max())


@pytest.mark.parametrize("seed", SEEDS)
def test_max_distance_matches_dense_sampling(seed):
    ring = random_ring(seed, n_sites=1 + seed % 5)
    exact = max_distance(ring)
    assert exact >= sampled_max(ring) - 1e-9
    assert exact - sampled_max(ring) <= 0.25


def test_max_distance_edge_cases():
    assert max_distance(Ring(L)) == math.inf
    assert max_distance(Ring(L, (Site(10.0, 5.0),))) == pytest.approx(505.0)
    assert max_distance(Ring(L, (Site(0.0), Site(500.0)))) == pytest.approx(250.0)
    # a far-off station never nearest is dominated
    assert max_distance(Ring(L, (Site(0.0), Site(500.0), Site(250.0, 400.0)))) == 250.0


@pytest.mark.parametrize("seed", SEEDS)
def test_coverage_matches_sampling(seed):
    ring = random_ring(seed)
    radius = float(np.random.default_rng(seed).uniform(20, 400))
    cov = coverage(ring, radius)
    xs = np.arange(0.05, L, 0.1)
    within = distances_at(ring, xs) <= radius
    assert cov.covered_fraction == pytest.approx(within.mean(), abs=0.002 * (1 + len(ring.sites)))
    assert 0 <= cov.max_gap_m <= L


def covers_all(ring: Ring, radius: float) -> bool:
    return sampled_max(ring, 0.5) <= radius + 1e-6


def grid(step: float) -> list[float]:
    return list(np.arange(0.0, L, step))


@pytest.mark.parametrize("seed", SEEDS)
def test_min_cover_is_minimal(seed):
    rng = np.random.default_rng(seed)
    ring = random_ring(seed)
    radius = float(rng.uniform(150, 600))
    new = min_cover(ring, radius)
    assert covers_all(ring.with_sites(new), radius)
    # No smaller set of sites on a grid covers the loop (the grid can only need more). One fewer
    # is enough to check: if k - 1 could not, fewer could not either.
    step = 10.0 if len(new) <= 2 else 25.0
    for k in range(max(0, len(new) - 1), len(new)):
        for combo in itertools.combinations(grid(step), k):
            assert not covers_all(ring.with_sites(Site(u) for u in combo), radius)


def test_min_cover_edge_cases():
    assert len(min_cover(Ring(L), 600.0)) == 1  # R larger than the loop
    assert len(min_cover(Ring(L), 100.0)) == 5
    assert min_cover(Ring(L, (Site(0.0),)), 600.0) == []
    wrap = min_cover(Ring(L, (Site(500.0),)), 200.0)  # the gap runs across km 0
    assert len(wrap) == 2 and covers_all(Ring(L, (Site(500.0), *wrap)), 200.0)
    with pytest.raises(InvalidInput):
        min_cover(Ring(L), 0.0)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("count", [0, 1, 2])
def test_p_center_matches_brute_force(seed, count):
    ring = random_ring(seed)
    ours = max_distance(ring.with_sites(p_center(ring, count)))
    assert len(p_center(ring, count)) == count
    step = 10.0
    brute = min(
        max_distance(ring.with_sites(Site(u) for u in combo))
        for combo in itertools.combinations(grid(step), count)
    )
    # ours is optimal to 1 cm; the grid optimum is at most step/2 above the true optimum.
    assert ours <= brute + 0.02
    assert ours >= brute - step / 2 - 0.02


def test_p_center_without_stations_spaces_evenly():
    sites = p_center(Ring(L), 4)
    assert sorted(s.u for s in sites) == pytest.approx([125.0, 375.0, 625.0, 875.0])
    assert max_distance(Ring(L, tuple(sites))) == pytest.approx(125.0)


def random_demand(seed: int, n: int = 7) -> list[Demand]:
    rng = np.random.default_rng(seed + 1000)
    return [
        Demand(
            float(rng.uniform(0, L)),
            float(rng.choice([0.0, rng.uniform(0, 60)])),
            float(rng.integers(1, 10)),
        )
        for _ in range(n)
    ]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("count", [0, 1, 2, 3])
def test_mclp_matches_enumeration(seed, count):
    ring = random_ring(seed, n_sites=seed % 3)
    demand = random_demand(seed)
    radius = float(np.random.default_rng(seed).uniform(40, 300))
    sites, gained = mclp(ring, demand, radius, count)
    base = covered_weight(ring, demand, radius)
    if count:
        assert covered_weight(ring.with_sites(sites), demand, radius) == pytest.approx(
            base + gained
        )
    else:
        assert sites == [] and gained == 0
    # Every optimum can be moved to right ends of demand arcs: enumerate all those subsets,
    # plus a 2 m grid as an independent check.
    ends = {(d.u + radius - d.offroute) % L for d in demand if d.offroute <= radius}
    cands = sorted(ends) + grid(2.0) if count <= 1 else sorted(ends)
    best = base
    for combo in itertools.combinations(cands, min(count, len(cands))):
        best = max(best, covered_weight(ring.with_sites(Site(u) for u in combo), demand, radius))
    assert base + gained == pytest.approx(best)


def test_mclp_wrap_and_large_radius():
    demand = [Demand(990.0, 0.0, 5.0), Demand(10.0, 0.0, 5.0), Demand(500.0, 0.0, 1.0)]
    sites, gained = mclp(Ring(L), demand, 15.0, 1)  # one site across km 0 serves both
    assert gained == 10.0 and (sites[0].u >= 995.0 or sites[0].u <= 5.0)
    assert mclp(Ring(L), demand, 5000.0, 1)[1] == 11.0
    every_point_covered = [Demand(float(u), 0.0, 1.0) for u in range(0, 1000, 100)]
    sites, gained = mclp(Ring(L), every_point_covered, 100.0, 2)
    assert gained == covered_weight(Ring(L, tuple(sites)), every_point_covered, 100.0)
