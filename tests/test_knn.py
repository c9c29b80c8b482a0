"""The compiled k-nearest search (stations._knn) against brute force and against pykdtree."""

import numpy as np
import pytest

from stations import chordtree
from stations.geodesy import unit_vectors
from stations.index import GeoIndex

KNNTree = chordtree.KNNTree


def test_the_install_builds_the_extension():
    # Without a C compiler the package still installs and falls back to pykdtree; the README's
    # set-up (and CI) builds it, and the figures in the README are measured with it.
    assert KNNTree is not None


def tree_data(n, seed, duplicates=0):
    rng = np.random.default_rng(seed)
    lon, lat = rng.uniform(100, 110, n), rng.uniform(20, 30, n)
    lon[:duplicates], lat[:duplicates] = lon[0] if n else 0, lat[0] if n else 0
    xyz = np.ascontiguousarray(unit_vectors(lon, lat))
    rank = rng.permutation(n).astype(np.int64)
    return xyz, lon, lat, rank


@pytest.mark.parametrize(
    ("n", "duplicates"), [(0, 0), (1, 0), (12, 0), (13, 0), (200, 40), (5000, 30)]
)
def test_query_is_exact_against_brute_force(n, duplicates):
    xyz, lon, lat, rank = tree_data(n, n, duplicates)
    tree = KNNTree(xyz, lon, lat, rank)
    assert tree.size == n
    rng = np.random.default_rng(n + 1)
    for trial in range(150):
        q = unit_vectors([rng.uniform(99, 111)], [rng.uniform(19, 31)])[0]
        if n and trial % 5 == 0:
            q = xyz[duplicates // 2]  # on a (possibly repeated) point: zero chords, ties
        k = int(rng.integers(1, 40))
        mask = rng.random(n) < 0.3 if trial % 2 else None
        bound = float(rng.uniform(0, 0.02)) if trial % 3 == 0 else None
        rows = tree.query(*q.tolist(), k, bound, mask)
        d2 = ((xyz - q) ** 2).sum(axis=1)
        eligible = np.ones(n, bool) if mask is None else mask.copy()
        if bound is not None:
            eligible &= d2 < bound
        expected = np.sort(d2[eligible])[:k]
        got = [r[0] for r in rows]
        assert len(got) == len(expected)
        assert got == sorted(got)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-15)
        positions = [r[2] for r in rows]
        assert len(set(positions)) == len(positions)
        for squared, r, i, plon, plat in rows:
            assert eligible[i] and squared == pytest.approx(d2[i], abs=1e-15)
            assert (r, plon, plat) == (rank[i], lon[i], lat[i])


def test_bad_arguments_are_refused():
    xyz, lon, lat, rank = tree_data(50, 3)
    with pytest.raises(ValueError, match="xyz"):
        KNNTree(xyz[:, :2].copy(), lon, lat, rank)
    with pytest.raises(ValueError, match="lons"):
        KNNTree(xyz, lon[:-1].copy(), lat, rank)
    with pytest.raises(ValueError, match="ranks"):
        KNNTree(xyz, lon, lat, rank.astype(np.int32))
    tree = KNNTree(xyz, lon, lat, rank)
    with pytest.raises(ValueError, match="k must be"):
        tree.query(1.0, 0.0, 0.0, 0)
    with pytest.raises(ValueError, match="one byte per point"):
        tree.query(1.0, 0.0, 0.0, 3, None, np.ones(49, bool))
    with pytest.raises(TypeError):
        tree.query("1", 0.0, 0.0, 3)
    with pytest.raises(TypeError):
        tree.query(1.0, 0.0, 0.0)
    with pytest.raises(RuntimeError):
        tree.__init__(xyz, lon, lat, rank)  # built once


def test_large_k_takes_the_heap_path():
    xyz, lon, lat, rank = tree_data(3000, 5)
    tree = KNNTree(xyz, lon, lat, rank)
    rows = tree.query(*xyz[0].tolist(), 2500)
    d2 = ((xyz - xyz[0]) ** 2).sum(axis=1)
    np.testing.assert_allclose([r[0] for r in rows], np.sort(d2)[:2500], rtol=0, atol=1e-15)


def china_points(n, seed):
    rng = np.random.default_rng(seed)
    lon, lat = rng.uniform(73, 135, n), rng.uniform(18, 54, n)
    lon[n // 2 : n // 2 + 20], lat[n // 2 : n // 2 + 20] = 107.0, 29.0  # a pile of equal points
    return lon, lat


@pytest.mark.parametrize(("seed", "share"), [(1, 0.2), (2, 0.9), (3, 0.003)])
def test_compiled_and_pykdtree_indexes_answer_alike(seed, share):
    # The compiled tree answers masked and bounded queries on its fast path (asking again for
    # more candidates when the last cannot prove the answer); pykdtree leaves them to the
    # general path: both must give the same hits, ties and rare eligible points included.
    lon, lat = china_points(4000, seed)
    rank = np.random.default_rng(seed).permutation(lon.size)
    compiled = GeoIndex(lon, lat, rank)
    fallback = GeoIndex(lon, lat, rank, native=False)
    assert compiled._chords.native is not None and fallback._chords.native is None
    rng = np.random.default_rng(seed + 10)
    mask = rng.random(lon.size) < share
    mask[4000 // 2 : 4000 // 2 + 20 : 3] = True  # some of the pile stay eligible
    add_lon, add_lat = rng.uniform(73, 135, 30), rng.uniform(18, 54, 30)
    grown = [i.changed(add_lon, add_lat, np.arange(4000, 4030)) for i in (compiled, fallback)]
    for trial in range(300):
        x, y = float(rng.uniform(72, 136)), float(rng.uniform(17, 55))
        if trial % 10 == 0:
            x, y = 107.0, 29.0
        k = int(rng.integers(1, 25))
        options = [
            {},
            {"mask": mask},
            {"predicate": lambda i: i % 3 == 0},
            {"max_distance_m": float(rng.uniform(1e3, 5e5))},
            {"mask": mask, "max_distance_m": float(rng.uniform(1e3, 2e6))},
        ][trial % 5]
        assert compiled.nearest(x, y, k, **options) == fallback.nearest(x, y, k, **options)
        if "mask" in options:
            options["mask"] = np.concatenate([mask, np.ones(30, bool)])
        assert grown[0].nearest(x, y, k, **options) == grown[1].nearest(x, y, k, **options)


@pytest.mark.parametrize("native", [True, False])
def test_ties_beyond_the_candidates_go_by_rank(native):
    # 30 stations at one spot, more than the k + 3 candidates the fast path looks at: the
    # answer is still the lowest ranks among all 30, whichever the tree happened to return.
    rng = np.random.default_rng(4)
    lon = np.concatenate([np.full(30, 107.0), rng.uniform(100, 110, 500)])
    lat = np.concatenate([np.full(30, 29.0), rng.uniform(20, 30, 500)])
    rank = rng.permutation(lon.size)
    idx = GeoIndex(lon, lat, rank, native=native)
    for k in (1, 5, 29, 30, 31):
        hits = idx.nearest(107.0, 29.0, k)
        expected = sorted(rank[:30])[:k]
        assert [rank[h.position] for h in hits][: min(k, 30)] == expected
        assert all(h.distance_m == 0.0 for h in hits[:30])
    assert [h.distance_m for h in idx.nearest(107.0, 29.0, 3, max_distance_m=0.0)] == [0.0] * 3
