"""Exact nearest-station and radius queries on the WGS84 ellipsoid.

A KD-tree over 3-D unit vectors finds candidates in O(log n) anywhere on Earth (no projected
CRS, no UTM zone, no antimeridian seam). The sphere only proposes: every answer is re-ranked
by ellipsoidal geodesic distance, and the candidate set is widened until a proven lower bound
(`stations.geodesy.SPHERE_LOWER_BOUND`) shows that no unseen point can be nearer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cached_property, partial
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from stations.chordtree import BoolArray, ChordTree, IntArray
from stations.geodesy import (
    FloatArray,
    chord_for_distance,
    distance_lower_bound,
    inverse,
    inverse_from,
    unit_vector,
    unit_vectors,
)

#: Optional per-candidate check (e.g. "open now") applied after the vectorised mask.
Predicate = Callable[[int], bool]


class Hit(NamedTuple):
    """One result: position in the index, geodesic distance (m), initial bearing (degrees).

    A named tuple: made several times per query, where a frozen dataclass costs nearly twice
    as much to create. (``position``, as ``index`` would hide the tuple's own method.)
    """

    position: int
    distance_m: float
    bearing_deg: float


#: Makes a `Hit` from a (position, distance, bearing) tuple without the named tuple's
#: Python-level ``__new__`` (a third of the cost; several per query).
_hit = partial(tuple.__new__, Hit)

#: Points added since the trees were built are searched directly; past this many
#: `GeoIndex.changed` rebuilds the trees instead.
MAX_UNINDEXED = 4096


class GeoIndex:
    """Nearest-k and within-radius queries over points given in WGS84 degrees.

    Two trees over the same unit vectors: a `stations.chordtree.ChordTree` proposes k-nearest
    candidates (see there why it is compiled), SciPy's cKDTree answers radius (ball) queries.
    `changed` appends points without rebuilding either tree (they are searched directly until
    there are many), so following a write costs a worker a few O(n) array copies instead of a
    rebuild.

    Parameters
    ----------
    lons, lats
        Point coordinates in degrees (EPSG:4326, lon/lat order).
    rank
        Breaks ties between equally distant points (smaller first); by default the position.
        A catalog passes each station's place in the file, so ties resolve the same way
        whether its index was built afresh or derived with `changed`.
    xyz
        Their unit vectors (`geodesy.unit_vectors`) when at hand (a column file's).
    """

    def __init__(
        self,
        lons: npt.ArrayLike,
        lats: npt.ArrayLike,
        rank: npt.ArrayLike | None = None,
        *,
        native: bool = True,
        xyz: npt.ArrayLike | None = None,
    ) -> None:
        base_lons: FloatArray = np.asarray(lons, dtype=float)
        base_lats: FloatArray = np.asarray(lats, dtype=float)
        if base_lons.shape != base_lats.shape or base_lons.ndim != 1:
            raise ValueError("lons and lats must be 1-D arrays of the same length")
        self.size = int(base_lons.size)
        base_rank: IntArray = (
            np.arange(self.size, dtype=np.intp) if rank is None else np.asarray(rank, np.intp)
        )
        if base_rank.shape != base_lons.shape:
            raise ValueError("rank must have one value per point")
        # Positions 0 .. _tsize - 1 are in the trees (arrays *0, shared by derived indexes);
        # positions from _tsize on were appended since (arrays *1, small, searched directly).
        self._lons0, self._lats0, self._rank0 = base_lons, base_lats, base_rank
        xyz = unit_vectors(base_lons, base_lats) if xyz is None else np.asarray(xyz, float)
        self._xyz0 = np.ascontiguousarray(xyz)
        self._wants_native = native
        self._chords = ChordTree(self._xyz0, base_lons, base_lats, base_rank, native)
        # SciPy's radius tree: built on first use (`_ball_tree`), shared with derived indexes.
        self._balls: list[Any] = [None]
        self._tsize = self.size
        self._lons1 = self._lats1 = np.empty(0, float)
        self._rank1: IntArray = np.empty(0, np.intp)
        self._xyz1 = np.empty((0, 3), float)
        self._extra: IntArray = np.empty(0, np.intp)  # positions in no tree

    @cached_property
    def lons(self) -> FloatArray:
        """Longitude of every position (degrees)."""
        return np.concatenate([self._lons0, self._lons1]) if self._extra.size else self._lons0

    @cached_property
    def lats(self) -> FloatArray:
        """Latitude of every position (degrees)."""
        return np.concatenate([self._lats0, self._lats1]) if self._extra.size else self._lats0

    @cached_property
    def rank(self) -> IntArray:
        """Tie-breaking rank of every position."""
        return np.concatenate([self._rank0, self._rank1]) if self._extra.size else self._rank0

    def _gather(self, base: npt.NDArray[Any], added: npt.NDArray[Any], idx: IntArray) -> Any:
        """``concatenate([base, added])[idx]`` without building the concatenation."""
        if not self._extra.size:
            return base[idx]
        inside = idx < self._tsize
        out = np.empty((idx.size, *base.shape[1:]), base.dtype)
        out[inside] = base[idx[inside]]
        out[~inside] = added[idx[~inside] - self._tsize]
        return out

    def _ball_tree(self) -> Any:
        """SciPy's cKDTree of the tree points, first built here: `nearest` rarely needs it."""
        tree = self._balls[0]
        if tree is None:
            from scipy.spatial import cKDTree

            tree = self._balls[0] = cKDTree(self._xyz0)
        return tree

    def warm(self) -> None:
        """Build what is otherwise built on first use (a server's first radius query)."""
        if self._tsize:
            self._ball_tree()

    def _rank_of(self, position: int) -> int:
        if position < self._tsize:
            return int(self._rank0[position])
        return int(self._rank1[position - self._tsize])

    def changed(self, lons: npt.ArrayLike, lats: npt.ArrayLike, rank: npt.ArrayLike) -> GeoIndex:
        """The index with points appended (positions of existing points do not change).

        Removing points is the caller's business (a mask leaves them out). The trees and their
        arrays are shared, only the appended points are copied: following a write costs
        microseconds whatever the size. They are searched directly until there are
        `MAX_UNINDEXED` of them; then the trees are rebuilt over every position.
        ``rank``: the new points' ranks.
        """
        add_lon = np.asarray(lons, dtype=float).reshape(-1)
        add_lat = np.asarray(lats, dtype=float).reshape(-1)
        add_rank = np.asarray(rank, dtype=np.intp).reshape(-1)
        if not add_lon.size == add_lat.size == add_rank.size:
            raise ValueError("lons, lats and rank must have the same length")
        if self.size + add_lon.size - self._tsize > MAX_UNINDEXED or self._tsize == 0:
            return GeoIndex(
                np.concatenate([self.lons, add_lon]),
                np.concatenate([self.lats, add_lat]),
                np.concatenate([self.rank, add_rank]),
                native=self._wants_native,
            )
        out = object.__new__(GeoIndex)
        out._lons0, out._lats0, out._rank0, out._xyz0 = (
            self._lons0,
            self._lats0,
            self._rank0,
            self._xyz0,
        )
        out._chords, out._balls, out._tsize = self._chords, self._balls, self._tsize
        out._wants_native = self._wants_native
        out._lons1 = np.concatenate([self._lons1, add_lon])
        out._lats1 = np.concatenate([self._lats1, add_lat])
        out._rank1 = np.concatenate([self._rank1, add_rank])
        out._xyz1 = np.concatenate([self._xyz1, unit_vectors(add_lon, add_lat)])
        out.size = self._tsize + int(out._lons1.size)
        out._extra = np.arange(self._tsize, out.size, dtype=np.intp)
        return out

    def _hits(
        self, lon: float, lat: float, idx: IntArray, limit: int | None
    ) -> tuple[list[Hit], float]:
        if idx.size == 0:
            return [], float("inf")
        dist, bearing = inverse_from(
            lon,
            lat,
            self._gather(self._lons0, self._lons1, idx),
            self._gather(self._lats0, self._lats1, idx),
        )
        order = np.lexsort(
            (self._gather(self._rank0, self._rank1, idx), dist)
        )  # by distance, ties by rank: deterministic
        if limit is not None:
            order = order[:limit]
        hits = [Hit(int(idx[o]), float(dist[o]), float(bearing[o])) for o in order]
        kth = hits[-1].distance_m if limit is not None and len(hits) == limit else float("inf")
        return hits, kth

    def _accept(self, idx: IntArray, mask: BoolArray | None, pred: Predicate | None) -> IntArray:
        if mask is not None:
            idx = idx[mask[idx]]
        if pred is not None and idx.size:
            idx = idx[np.fromiter((pred(int(i)) for i in idx), dtype=bool, count=idx.size)]
        return idx

    def nearest(
        self,
        lon: float,
        lat: float,
        k: int = 1,
        *,
        mask: BoolArray | None = None,
        predicate: Predicate | None = None,
        max_distance_m: float | None = None,
    ) -> list[Hit]:
        """The ``k`` nearest points by ellipsoidal distance, nearest first (exact).

        Parameters
        ----------
        lon, lat
            Query point, WGS84 degrees.
        k
            How many results at most; must be >= 1.
        mask
            Boolean array over the points; only True points are eligible.
        predicate
            Called with a point's position for candidates that pass ``mask``.
        max_distance_m
            Drop results farther than this (metres).
        """
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        if self.size == 0:
            return []
        hits = None
        if predicate is None and (
            self._chords.filters_inside or (mask is None and max_distance_m is None)
        ):
            hits = self._nearest_fast(lon, lat, k, mask, max_distance_m)
            if hits is not None and not self._extra.size:
                return hits
        q = unit_vector(lon, lat)
        if hits is None:
            hits = self._nearest_in_trees(lon, lat, q, k, mask, predicate, max_distance_m)
        if hits is None:  # selective filter: every eligible point was scanned, added ones too
            return self._nearest_scan(lon, lat, q, k, mask, predicate, max_distance_m)
        if self._extra.size:
            extra = self._accept(self._extra, mask, predicate)
            more = self._scan(lon, lat, q, k, extra, max_distance_m)
            hits = sorted(hits + more, key=lambda h: (h.distance_m, self._rank_of(h.position)))[:k]
        return hits

    def _nearest_in_trees(
        self,
        lon: float,
        lat: float,
        q: FloatArray,
        k: int,
        mask: BoolArray | None,
        predicate: Predicate | None,
        max_distance_m: float | None,
    ) -> list[Hit] | None:
        """The k nearest among the trees' live points; None when a full scan is cheaper."""
        if self._tsize == 0:
            return []
        upper = chord_for_distance(max_distance_m) if max_distance_m is not None else np.inf
        # Unfiltered, k + 3 candidates almost always prove themselves (the sphere is within 1%).
        filtered = mask is not None or predicate is not None
        tsize = self._tsize
        m = min(tsize, 2 * k + 8 if filtered else k + 3)
        while True:
            chord, idx = self._chords.padded(q, m, upper)
            valid = idx < tsize
            exhausted = m >= tsize or not bool(valid.all())
            seen_chord = float(chord[valid][-1]) if valid.any() else 0.0
            accepted = self._accept(idx[valid], mask, predicate)
            if accepted.size >= k or exhausted:
                break
            if m * 4 >= tsize // 2:
                return None
            m = min(tsize, m * 4)
        hits, kth = self._hits(lon, lat, accepted, k)
        if not exhausted and distance_lower_bound(seen_chord) <= kth:
            # An unseen point might still beat or tie the k-th (ties go by rank): take every
            # point in the proven ball.
            found = self._ball_tree().query_ball_point(q, chord_for_distance(kth))
            ball = np.asarray(found, np.intp)
            hits, _ = self._hits(lon, lat, self._accept(ball, mask, predicate), k)
        if max_distance_m is not None:
            hits = [h for h in hits if h.distance_m <= max_distance_m]
        return hits

    def _nearest_fast(
        self, lon: float, lat: float, k: int, mask: BoolArray | None, max_distance_m: float | None
    ) -> list[Hit] | None:
        """The k nearest tree points from the chord tree alone; None when it cannot prove them.

        Without the compiled tree only unmasked, unbounded queries come here.
        """
        if self._tsize == 0:
            return []
        if mask is not None and self._tsize != mask.size:
            mask = mask[: self._tsize]  # the tree's positions come first
        bound = None if max_distance_m is None else chord_for_distance(max_distance_m) ** 2
        found = self._chords.nearest(lon, lat, k, mask, bound)
        if found is None:
            return None
        hits = [_hit((i, d, b)) for d, _, i, b in found]
        if max_distance_m is not None:
            hits = [h for h in hits if h.distance_m <= max_distance_m]
        return hits

    def _nearest_scan(
        self,
        lon: float,
        lat: float,
        q: FloatArray,
        k: int,
        mask: BoolArray | None,
        predicate: Predicate | None,
        max_distance_m: float | None,
    ) -> list[Hit]:
        eligible = np.flatnonzero(mask) if mask is not None else np.arange(self.size)
        eligible = self._accept(eligible.astype(np.intp), None, predicate)
        return self._scan(lon, lat, q, k, eligible, max_distance_m)

    def _scan(
        self,
        lon: float,
        lat: float,
        q: FloatArray,
        k: int,
        eligible: IntArray,
        max_distance_m: float | None,
    ) -> list[Hit]:
        """The k nearest of ``eligible`` positions, by looking at each (exact)."""
        if eligible.size == 0:
            return []
        chord = np.linalg.norm(self._gather(self._xyz0, self._xyz1, eligible) - q, axis=1)
        take = min(eligible.size, k)
        first = np.argpartition(chord, take - 1)[:take]
        _, kth = self._hits(lon, lat, eligible[first], k)
        if take == k:
            eligible = eligible[chord <= chord_for_distance(kth)]
        hits, _ = self._hits(lon, lat, eligible, k)
        if max_distance_m is not None:
            hits = [h for h in hits if h.distance_m <= max_distance_m]
        return hits

    def within(
        self,
        lon: float,
        lat: float,
        radius_m: float,
        *,
        mask: BoolArray | None = None,
        predicate: Predicate | None = None,
        limit: int | None = None,
    ) -> list[Hit]:
        """Every point within ``radius_m`` metres (ellipsoidal), nearest first."""
        if radius_m < 0:
            raise ValueError(f"radius_m must be >= 0, got {radius_m}")
        if self.size == 0:
            return []
        q = unit_vector(lon, lat)
        bound = chord_for_distance(radius_m)
        found = np.empty(0, np.intp)
        if self._tsize:
            found = np.asarray(self._ball_tree().query_ball_point(q, bound), np.intp)
        if self._extra.size:
            near = np.linalg.norm(self._xyz1 - q, axis=1) <= bound
            found = np.concatenate([found, self._extra[near]])
        hits, _ = self._hits(lon, lat, self._accept(found, mask, predicate), None)
        hits = [h for h in hits if h.distance_m <= radius_m]
        return hits[:limit] if limit is not None else hits


def brute_force_nearest(
    lons: Sequence[float] | FloatArray,
    lats: Sequence[float] | FloatArray,
    lon: float,
    lat: float,
    k: int,
) -> list[Hit]:
    """Ground truth: ellipsoidal distance to every point, sorted. For tests and benchmarks."""
    dist, bearing = inverse(lon, lat, np.asarray(lons, float), np.asarray(lats, float))
    order = np.lexsort((np.arange(dist.size), dist))[:k]
    return [Hit(int(i), float(dist[i]), float(bearing[i])) for i in order]
