import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod

from stations.geodesy import SPHERE_LOWER_BOUND, SPHERE_R, inverse, unit_vectors
from stations.index import GeoIndex, brute_force_nearest

GEOD = Geod(ellps="WGS84")


def china_points(n, seed):
    rng = np.random.default_rng(seed)
    return rng.uniform(73, 135, n), rng.uniform(18, 54, n)


def test_inverse_matches_pyproj():
    lons, lats = china_points(200, 1)
    d, b = inverse(107.26, 28.91, lons, lats)
    az, _, ref = GEOD.inv(np.full(200, 107.26), np.full(200, 28.91), lons, lats)
    assert np.max(np.abs(d - ref)) < 0.5
    assert np.allclose(b, np.mod(az, 360))


def test_sphere_lower_bound_holds_worldwide():
    rng = np.random.default_rng(7)
    lon1, lat1 = rng.uniform(-180, 180, 20000), rng.uniform(-89, 89, 20000)
    # short and long pairs, including meridional steps at the equator (the worst case)
    lon2 = np.concatenate(
        [lon1[:10000] + rng.normal(0, 0.01, 10000), rng.uniform(-180, 180, 10000)]
    )
    lat2 = np.concatenate(
        [np.clip(lat1[:10000] + rng.normal(0, 0.01, 10000), -90, 90), rng.uniform(-89, 89, 10000)]
    )
    lon2 = np.concatenate([lon2, lon1[:1000]])
    lat2 = np.concatenate([lat2, np.full(1000, 0.01)])
    lon1 = np.concatenate([lon1, lon1[:1000]])
    lat1 = np.concatenate([lat1, np.zeros(1000)])
    _, _, d = GEOD.inv(lon1, lat1, lon2, lat2)
    a, b = unit_vectors(lon1, lat1), unit_vectors(lon2, lat2)
    theta = np.arccos(np.clip(np.sum(a * b, axis=1), -1, 1))
    ok = theta > 1e-9
    ratio = d[ok] / (SPHERE_R * theta[ok])
    assert ratio.min() >= SPHERE_LOWER_BOUND
    assert ratio.min() < 0.996  # the bound is not vacuous: the sphere really is off there


@pytest.mark.parametrize("seed", range(5))
def test_nearest_is_exact_against_brute_force(seed):
    lons, lats = china_points(20000, seed)
    index = GeoIndex(lons, lats)
    rng = np.random.default_rng(100 + seed)
    for _ in range(60):
        lon, lat = rng.uniform(73, 135), rng.uniform(18, 54)
        for k in (1, 5):
            got = index.nearest(lon, lat, k)
            want = brute_force_nearest(lons, lats, lon, lat, k)
            assert [h.position for h in got] == [h.position for h in want]
            assert all(
                abs(g.distance_m - w.distance_m) < 1e-6 for g, w in zip(got, want, strict=True)
            )


def test_near_ties_are_ranked_on_the_ellipsoid():
    # Two points at the same spherical distance north and east of the query: the sphere
    # cannot tell them apart, the ellipsoid can (a metre of latitude is shorter at 0°).
    lon0, lat0 = 110.0, 0.0
    theta = 0.05
    lons = np.array([lon0, lon0 + theta])
    lats = np.array([lat0 + theta, lat0])
    index = GeoIndex(lons, lats)
    want = brute_force_nearest(lons, lats, lon0, lat0, 2)
    got = index.nearest(lon0, lat0, 2)
    assert [h.position for h in got] == [h.position for h in want]
    assert got[0].position == 0  # north is nearer on the ellipsoid at the equator


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.floats(-180, 180), st.floats(-89.9, 89.9)), min_size=1, max_size=40),
    st.tuples(st.floats(-180, 180), st.floats(-89.9, 89.9)),
    st.integers(1, 8),
)
def test_nearest_worldwide_property(points, q, k):
    lons = np.array([p[0] for p in points])
    lats = np.array([p[1] for p in points])
    got = GeoIndex(lons, lats).nearest(q[0], q[1], k)
    want = brute_force_nearest(lons, lats, q[0], q[1], k)
    assert [round(h.distance_m, 6) for h in got] == [round(h.distance_m, 6) for h in want]


def test_antimeridian_neighbours_are_found():
    index = GeoIndex([179.99, -179.99, 0.0], [0.0, 0.0, 0.0])
    hits = index.nearest(-179.995, 0.0, 2)
    assert {h.position for h in hits} == {0, 1}
    assert hits[0].distance_m < 1200


def test_within_matches_brute_force():
    lons, lats = china_points(5000, 3)
    index = GeoIndex(lons, lats)
    d, _ = inverse(110, 30, lons, lats)
    for radius in (0, 50_000, 300_000):
        got = index.within(110, 30, radius)
        assert sorted(h.position for h in got) == sorted(np.flatnonzero(d <= radius).tolist())
        assert [h.distance_m for h in got] == sorted(h.distance_m for h in got)


def test_mask_predicate_and_max_distance():
    lons, lats = china_points(3000, 4)
    index = GeoIndex(lons, lats)
    mask = np.zeros(3000, bool)
    mask[::97] = True
    got = index.nearest(110, 30, 3, mask=mask)
    want = brute_force_nearest(lons[mask], lats[mask], 110, 30, 3)
    assert [h.distance_m for h in got] == pytest.approx([h.distance_m for h in want])
    odd = index.nearest(110, 30, 4, predicate=lambda i: i % 2 == 1)
    assert all(h.position % 2 == 1 for h in odd) and len(odd) == 4
    near = index.nearest(110, 30, 10, max_distance_m=got[0].distance_m - 1, mask=mask)
    assert near == []


def test_empty_and_bad_arguments():
    empty = GeoIndex([], [])
    assert empty.nearest(0, 0, 3) == [] and empty.within(0, 0, 10) == []
    with pytest.raises(ValueError, match="k must be"):
        GeoIndex([0], [0]).nearest(0, 0, 0)
    with pytest.raises(ValueError, match="radius_m"):
        GeoIndex([0], [0]).within(0, 0, -1)


def test_fewer_points_than_k():
    hits = GeoIndex([1.0, 2.0], [1.0, 2.0]).nearest(0, 0, 5)
    assert [h.position for h in hits] == [0, 1]


def _same(got, want):
    assert [h.position for h in got] == [h.position for h in want]
    assert [h.distance_m for h in got] == pytest.approx([h.distance_m for h in want], abs=1e-6)


@pytest.mark.parametrize("seed", range(6))
def test_appended_points_answer_as_a_fresh_index(seed):
    """Points appended without rebuilding the trees (searched directly), some positions masked
    out as removed: answers exactly as an index built from scratch, through chains of edits."""
    rng = np.random.default_rng(seed)
    lons, lats = china_points(3000, seed)
    index = GeoIndex(lons, lats)
    alive = np.ones(lons.size, bool)
    for _step in range(4):
        alive[rng.random(alive.size) < 0.05] = False  # 5 % removed (rewritten or purged)
        add = int(rng.integers(0, 60))
        add_lon, add_lat = rng.uniform(100, 110, add), rng.uniform(25, 32, add)
        index = index.changed(add_lon, add_lat, np.arange(lons.size, lons.size + add))
        lons, lats = np.concatenate([lons, add_lon]), np.concatenate([lats, add_lat])
        alive = np.concatenate([alive, np.ones(add, bool)])
        fresh = GeoIndex(lons, lats)
        assert index.size == fresh.size == lons.size
        mask = alive & (rng.random(lons.size) > 0.3)
        for _ in range(25):
            lon, lat = rng.uniform(98, 112), rng.uniform(23, 34)
            for k in (1, 3, 8):
                _same(
                    index.nearest(lon, lat, k, mask=alive), fresh.nearest(lon, lat, k, mask=alive)
                )
                _same(index.nearest(lon, lat, k, mask=mask), fresh.nearest(lon, lat, k, mask=mask))
                _same(
                    index.nearest(lon, lat, k, mask=alive, max_distance_m=150_000),
                    fresh.nearest(lon, lat, k, mask=alive, max_distance_m=150_000),
                )
                _same(
                    index.nearest(lon, lat, k, predicate=lambda i: i % 3 == 0),
                    fresh.nearest(lon, lat, k, predicate=lambda i: i % 3 == 0),
                )
                _same(index.nearest(lon, lat, k), fresh.nearest(lon, lat, k))
            _same(index.within(lon, lat, 120_000), fresh.within(lon, lat, 120_000))
            _same(
                index.within(lon, lat, 300_000, mask=mask, limit=7),
                fresh.within(lon, lat, 300_000, mask=mask, limit=7),
            )
        want = brute_force_nearest(lons, lats, 105.0, 29.0, 4)
        _same(index.nearest(105.0, 29.0, 4), want)


def test_appending_many_points_rebuilds_the_trees():
    lons, lats = china_points(100, 3)
    index = GeoIndex(lons, lats)
    derived = index.changed([107.0], [29.0], [100])
    assert derived._extra.size == 1 and derived._balls is index._balls  # trees shared
    big = index.changed(*china_points(5000, 4), np.arange(100, 5100))
    assert big._extra.size == 0 and big._balls is not index._balls  # rebuilt
    empty = GeoIndex([], []).changed([107.0], [29.0], [0])
    assert empty.nearest(107.0, 29.0, 1)[0].position == 0
    with pytest.raises(ValueError):
        index.changed([107.0], [29.0], [1, 2])


def test_scalar_geodesic_is_pyprojs_inv():
    """`INV_POINT` (pyproj's scalar routine, called directly) gives what `Geod.inv` gives."""
    import random

    from stations.geodesy import GEOD, INV_POINT

    rng = random.Random(9)
    for _ in range(500):
        a = (rng.uniform(-180, 180), rng.uniform(-90, 90))
        b = (rng.uniform(-180, 180), rng.uniform(-90, 90))
        az, _, dist = INV_POINT(*a, *b)
        expected_az, _, expected_dist = GEOD.inv(*a, *b)
        assert (az, dist) == (expected_az, expected_dist)
