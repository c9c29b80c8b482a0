"""Exact nearest-station and radius queries on the WGS84 ellipsoid.

A KD-tree over 3-D unit vectors finds candidates in O(log n) anywhere on Earth (no projected
CRS, no UTM zone, no antimeridian seam). The sphere only proposes: every answer is re-ranked
by ellipsoidal geodesic distance, and the candidate set is widened until a proven lower bound
(`stations.geodesy.SPHERE_LOWER_BOUND`) shows that no unseen point can be nearer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.spatial import cKDTree

from stations.geodesy import (
    FloatArray,
    chord_for_distance,
    distance_lower_bound_scalar,
    inverse,
    inverse_from,
    unit_vector,
    unit_vectors,
)

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.intp]
#: Optional per-candidate check (e.g. "open now") applied after the vectorised mask.
Predicate = Callable[[int], bool]


@dataclass(frozen=True, slots=True)
class Hit:
    """One result: position in the index, geodesic distance (m), initial bearing (degrees)."""

    index: int
    distance_m: float
    bearing_deg: float


class GeoIndex:
    """Nearest-k and within-radius queries over points given in WGS84 degrees.

    Parameters
    ----------
    lons, lats
        Point coordinates in degrees (EPSG:4326, lon/lat order).
    """

    def __init__(self, lons: npt.ArrayLike, lats: npt.ArrayLike) -> None:
        self.lons: FloatArray = np.asarray(lons, dtype=float)
        self.lats: FloatArray = np.asarray(lats, dtype=float)
        if self.lons.shape != self.lats.shape or self.lons.ndim != 1:
            raise ValueError("lons and lats must be 1-D arrays of the same length")
        self.size = int(self.lons.size)
        self._xyz = unit_vectors(self.lons, self.lats)
        self._tree = cKDTree(self._xyz) if self.size else None

    def _hits(
        self, lon: float, lat: float, idx: IntArray, limit: int | None
    ) -> tuple[list[Hit], float]:
        if idx.size == 0:
            return [], float("inf")
        dist, bearing = inverse_from(lon, lat, self.lons[idx], self.lats[idx])
        order = np.lexsort((idx, dist))  # by distance, ties by index: deterministic
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
        if self._tree is None:
            return []
        q = unit_vector(lon, lat)
        if mask is None and predicate is None and max_distance_m is None:
            fast = self._nearest_unfiltered(lon, lat, q, k)
            if fast is not None:
                return fast
        upper = chord_for_distance(max_distance_m) if max_distance_m is not None else np.inf
        # Unfiltered, k + 3 candidates almost always prove themselves (the sphere is within 1%).
        filtered = mask is not None or predicate is not None
        m = min(self.size, 2 * k + 8 if filtered else k + 3)
        while True:
            chord, idx = self._tree.query(q, k=m, distance_upper_bound=upper)
            chord, idx = np.atleast_1d(chord), np.atleast_1d(idx)
            valid = idx < self.size
            exhausted = m >= self.size or not bool(valid.all())
            seen_chord = float(chord[valid][-1]) if valid.any() else 0.0
            accepted = self._accept(idx[valid].astype(np.intp), mask, predicate)
            if accepted.size >= k or exhausted:
                break
            if m * 4 >= self.size // 2:  # selective filter: scan the eligible points directly
                return self._nearest_scan(lon, lat, q, k, mask, predicate, max_distance_m)
            m = min(self.size, m * 4)
        hits, kth = self._hits(lon, lat, accepted, k)
        if not exhausted and distance_lower_bound_scalar(seen_chord) < kth:
            # An unseen point might still beat the k-th: take every point in the proven ball.
            ball = np.asarray(self._tree.query_ball_point(q, chord_for_distance(kth)), np.intp)
            hits, _ = self._hits(lon, lat, self._accept(ball, mask, predicate), k)
        if max_distance_m is not None:
            hits = [h for h in hits if h.distance_m <= max_distance_m]
        return hits

    def _nearest_unfiltered(
        self, lon: float, lat: float, q: FloatArray, k: int
    ) -> list[Hit] | None:
        """The common case in one tree query and one geodesic call; None if not provable."""
        assert self._tree is not None
        m = min(self.size, k + 3)
        chord, idx = self._tree.query(q, k=m)
        idx = np.atleast_1d(idx)
        dist, bearing = inverse_from(lon, lat, self.lons[idx], self.lats[idx])
        order = np.argsort(dist, kind="stable")[:k]
        if m < self.size:
            last_chord = float(np.atleast_1d(chord)[-1])
            if distance_lower_bound_scalar(last_chord) < dist[order[-1]]:
                return None  # an unseen point might be nearer: take the general path
        return [Hit(int(idx[o]), float(dist[o]), float(bearing[o])) for o in order]

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
        if eligible.size == 0:
            return []
        chord = np.linalg.norm(self._xyz[eligible] - q, axis=1)
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
        if self._tree is None:
            return []
        q = unit_vector(lon, lat)
        ball = np.asarray(self._tree.query_ball_point(q, chord_for_distance(radius_m)), np.intp)
        hits, _ = self._hits(lon, lat, self._accept(ball, mask, predicate), None)
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
