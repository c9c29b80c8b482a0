"""Nearest candidates by chord on the unit sphere: the compiled tree, or pykdtree without it.

`stations.index` asks this tree for the ``m`` points nearest to a query by straight-line
(chord) distance between unit vectors, then proves or widens the answer with ellipsoidal
geodesics. The riders' route spends most of its time here and in those few geodesics, so the
search is a small C extension (`stations._knn`) that applies the eligibility mask and the
distance bound inside the search and returns each candidate's squared chord, rank, position,
lon and lat in one call, with no numpy arrays to build and read back. A package built without
a C compiler falls back to pykdtree: the same candidates, slower, and only for unmasked,
unbounded queries (figures in ``benchmarks/results/nearest.md``).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from pykdtree.kdtree import KDTree

try:  # the compiled k-nearest search; without a C compiler at install, pykdtree answers
    from stations._knn import KNNTree as _KNNTree

    KNNTree: type[_KNNTree] | None = _KNNTree
except ImportError:  # pragma: no cover - the package was built without the extension
    KNNTree = None

from stations.geodesy import INV_POINT, FloatArray, distance_lower_bound, unit_vector, unit_xyz

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.intp]
#: A tree candidate: squared chord, rank, position, lon, lat (as `stations._knn` gives them).
Candidate = tuple[float, int, int, float, float]
#: One proven neighbour: geodesic distance (m), rank, position, initial bearing (degrees).
Found = tuple[float, int, int, float]
#: Past this many candidates the fast search gives up and the general path answers.
MAX_FAST_CANDIDATES = 1024


class ChordTree:
    """The k-nearest-by-chord search over a fixed set of unit vectors.

    Parameters
    ----------
    xyz
        Unit vectors, one row per point (C-contiguous).
    lons, lats, rank
        The points' coordinates (degrees) and tie-breaking ranks, by position.
    native
        Use the compiled tree when it was built (tests turn it off to compare).
    """

    def __init__(
        self, xyz: FloatArray, lons: FloatArray, lats: FloatArray, rank: IntArray, native: bool
    ) -> None:
        self.size = int(lons.size)
        self._lons, self._lats, self._rank = lons, lats, rank
        self.native = (
            KNNTree(xyz, lons, lats, rank.astype(np.int64))
            if native and KNNTree is not None and self.size
            else None
        )
        self._kd = KDTree(xyz) if self.size and self.native is None else None

    @property
    def filters_inside(self) -> bool:
        """Whether masks and distance bounds are applied inside the search (compiled tree)."""
        return self.native is not None

    def candidates(
        self,
        lon: float,
        lat: float,
        m: int,
        mask: BoolArray | None = None,
        bound: float | None = None,
    ) -> list[Candidate]:
        """The ``m`` eligible points nearest by chord, nearest first.

        ``mask`` and ``bound`` (a squared chord; only points below it) need the compiled tree.
        """
        if self.native is not None:
            x, y, z = unit_xyz(lon, lat)
            rows: list[Candidate] = self.native.query(x, y, z, m, bound, mask)
            return rows
        assert self._kd is not None and mask is None and bound is None
        squares, found = self._kd.query(unit_vector(lon, lat).reshape(1, 3), k=m, sqr_dists=True)
        idx = found.reshape(-1)
        return list(
            zip(
                squares.reshape(-1).tolist(),
                self._rank[idx].tolist(),
                idx.tolist(),
                self._lons[idx].tolist(),
                self._lats[idx].tolist(),
                strict=True,
            )
        )

    def padded(self, q: FloatArray, m: int, upper: float) -> tuple[FloatArray, IntArray]:
        """The m nearest points by chord below ``upper``, as arrays padded as pykdtree pads.

        Missing neighbours have chord ``inf`` and position ``size``.
        """
        if self.native is not None:
            x, y, z = q.tolist()
            rows = self.native.query(x, y, z, m, upper * upper if upper < np.inf else None)
            chord = np.full(m, np.inf)
            idx = np.full(m, self.size, dtype=np.intp)
            if rows:
                squared, _, positions, _, _ = zip(*rows, strict=True)
                chord[: len(rows)] = np.sqrt(squared)
                idx[: len(rows)] = positions
            return chord, idx
        assert self._kd is not None
        bound = None if upper == np.inf else upper
        chord, idx = self._kd.query(q.reshape(1, 3), k=m, distance_upper_bound=bound)
        return chord.reshape(-1), idx.reshape(-1).astype(np.intp)

    def nearest(
        self, lon: float, lat: float, k: int, mask: BoolArray | None, bound: float | None
    ) -> list[Found] | None:
        """The k nearest points by geodesic, proven from chord candidates; None: not proven.

        Candidates come nearest by chord. Past the k-th, a candidate whose chord already
        proves it farther than the k-th nearest found so far (and so every later one) ends the
        scan, so most queries compute k geodesics, not k + 3. If the last candidate cannot
        prove that no unseen point is nearer (or ties and outranks), the tree is asked again
        for four times as many, reusing the geodesics already computed. One pyproj call per
        point: for a handful of points this beats the array path, whose buffer copies dominate.
        """
        inv = INV_POINT
        known: dict[int, Found] = {}  # geodesics of earlier rounds
        m = min(self.size, k + 3)
        while True:
            rows = self.candidates(lon, lat, m, mask, bound)
            found: list[Found] = []
            for j, (squared, rank, i, plon, plat) in enumerate(rows):
                if j >= k:
                    found.sort()
                    if distance_lower_bound(math.sqrt(squared)) > found[k - 1][0]:
                        return found[:k]
                entry = known.get(i)
                if entry is None:
                    az, _, dist = inv(lon, lat, plon, plat)
                    entry = known[i] = (dist, rank, i, az + 360.0 if az < 0 else az)
                found.append(entry)
            found.sort()
            if (
                len(rows) < m  # every eligible point was seen
                or m >= self.size
                or distance_lower_bound(math.sqrt(rows[-1][0])) > found[k - 1][0]
            ):
                return found[:k]
            if m >= MAX_FAST_CANDIDATES:
                return None  # take the general path
            m = min(self.size, m * 4)
