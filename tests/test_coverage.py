"""Coverage along the ring, checked against brute-force sampling."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stations.loop import Loop
from stations.planning.intervals import complement_on_ring, merge_on_ring
from stations.planning.places import ring_of
from stations.planning.ring import Ring, Site, coverage

L = 1000.0


def covered_by_sampling(intervals, length, n=4000):
    xs = (np.arange(n) + 0.5) * length / n
    hit = np.zeros(n, bool)
    for a, b in intervals:
        if b - a >= length:
            hit[:] = True
        else:
            hit |= ((xs - a) % length) <= (b - a)
    return xs, hit


intervals_st = st.lists(
    st.tuples(st.floats(-2 * L, 2 * L), st.floats(0, 1.2 * L)).map(lambda t: (t[0], t[0] + t[1])),
    max_size=8,
)


@settings(max_examples=300, deadline=None)
@given(intervals_st)
def test_merge_on_ring_matches_sampling(intervals):
    merged = merge_on_ring(intervals, L)
    xs, expected = covered_by_sampling(intervals, L)
    _, got = covered_by_sampling(merged, L)
    # Disagreement only within a sampling step of an interval end.
    assert (got != expected).sum() <= 2 * len(intervals) + 1
    total = sum(b - a for a, b in merged)
    assert 0 <= total <= L + 1e-9
    # Merged intervals are disjoint and apart, also across the ring's end.
    ordered = sorted(merged)
    for (_, b1), (a2, _) in zip(ordered, ordered[1:], strict=False):
        assert b1 < a2
    if len(ordered) > 1:
        assert ordered[-1][1] - L < ordered[0][0]
    gaps = complement_on_ring(merged, L)
    assert total + sum(b - a for a, b in gaps) == pytest.approx(L)


def test_wrap_around_joins_across_zero():
    assert merge_on_ring([(-50, 50), (900, 960)], L) == [(900, 1050)]
    assert merge_on_ring([(-50, 50), (800, 900)], L) == [(800, 900), (950, 1050)]
    assert merge_on_ring([(1950, 2050)], L) == [(950, 1050)]
    assert merge_on_ring([(0, 2000)], L) == [(0.0, L)]
    assert merge_on_ring([(10, 10)], L) == []
    assert complement_on_ring([], L) == [(0.0, L)]
    assert complement_on_ring([(0.0, L)], L) == []
    assert complement_on_ring([(900, 1050)], L) == [(50, 900)]
    assert complement_on_ring([(800, 900), (950, 1050)], L) == [(50, 800), (900, 950)]


def square_loop(official=None):
    coords = [(107.0, 29.0), (107.1, 29.0), (107.1, 29.1), (107.0, 29.1), (107.0, 29.0)]
    props = {"official_length_m": official} if official else {}
    return Loop(coords, props)


def coverage_of(loop, stations, radius):
    """Coverage by stations at (geometric chainage, off-route), on the loop's reported ring."""
    ring = Ring(loop.length_m * loop.scale, tuple(Site(c * loop.scale, o) for c, o in stations))
    return coverage(ring, radius)


def loop_coverage(catalog, radius):
    return coverage(ring_of(catalog), radius)


def test_coverage_of_stations_uses_offroute_and_calibration():
    loop = square_loop()
    cov = coverage_of(loop, [(0.0, 1000.0)], 3000.0)
    assert cov.covered_fraction == pytest.approx(4000.0 / loop.length_m)
    assert coverage_of(loop, [(0.0, 3500.0)], 3000.0).covered_fraction == 0.0
    calibrated = square_loop(official=2 * loop.length_m)
    cov2 = coverage_of(calibrated, [(0.0, 1000.0)], 3000.0)
    assert cov2.covered_fraction == pytest.approx(2000.0 / loop.length_m)
    assert coverage_of(loop, [(10.0, 0.0)], 1e9).gaps == []


def test_bundled_loop_coverage(bundled):
    small = loop_coverage(bundled, 1000.0)
    big = loop_coverage(bundled, 50_000.0)
    assert 0 < small.covered_fraction < big.covered_fraction <= 1.0
    assert big.gaps == [] or big.covered_fraction < 1.0


def test_point_at_and_slice_follow_the_ring():
    loop = square_loop()
    assert loop.point_at(0.0) == pytest.approx((107.0, 29.0))
    assert loop.point_at(loop.length_m) == pytest.approx((107.0, 29.0))
    side = loop.cum_m[np.argmin(np.abs(loop.lons - 107.1) + np.abs(loop.lats - 29.0))]
    assert loop.point_at(side) == pytest.approx((107.1, 29.0), abs=1e-9)
    piece = loop.slice(loop.length_m - 500.0, loop.length_m + 500.0)  # across km 0
    assert piece[0][0] == pytest.approx(107.0, abs=1e-9) and piece[-1][1] == pytest.approx(29.0)
    assert any(p == pytest.approx((107.0, 29.0)) for p in piece)
    assert loop.snap(*piece[0]).chainage_m == pytest.approx(loop.length_m - 500.0, abs=1.0)
    assert loop.snap(*piece[-1]).chainage_m == pytest.approx(500.0, abs=1.0)
    assert loop.chainage_at_km(loop.km_mark(1234.0)) == pytest.approx(1234.0)
