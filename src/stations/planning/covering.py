"""Maximal covering on the ring: N new road-side sites maximising the demand weight within R.

Exact, with no discretisation: a new site covers a demand point when it stands on the point's arc
(the stretch of road within ``R - offroute`` of the point's access). The right ends of the arcs
are enough as candidate sites. The ring is cut where no arc crosses it, which makes it a line
solved by a dynamic programme; when every point lies inside some arc, each candidate covering the
cut is tried in turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from stations.errors import InvalidInput
from stations.planning.ring import Demand, Ring, Site, check_count, check_radius

#: Distances this close to the radius count as within it (rounding of positions on the ring).
EPS_M = 1e-6
#: Largest number of distinct demand arcs the exact MCLP takes (its tables grow as the square).
MAX_ARCS = 2_000


def _arcs(
    ring: Ring, demand: Sequence[Demand], radius: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where a new road-side station would cover each demand point not yet served.

    Returns arrays of arc start, arc width and weight.
    """
    starts, widths, weights = [], [], []
    for d in demand:
        if d.offroute > radius or d.weight <= 0:
            continue
        if any(s.offroute + ring.dist(s.u, d.u) + d.offroute <= radius + EPS_M for s in ring.sites):
            continue  # already served
        half = radius - d.offroute
        starts.append(d.u - half)
        widths.append(2 * half)
        weights.append(d.weight)
    return np.asarray(starts, float), np.asarray(widths, float), np.asarray(weights, float)


def _line_mclp(
    left: np.ndarray, right: np.ndarray, w: np.ndarray, count: int
) -> tuple[float, list[float]]:
    """Best ``count`` stabbing points for weighted intervals on a line (DP over right ends)."""
    if count == 0 or len(w) == 0:
        return 0.0, []
    cands = np.unique(right)
    m = len(cands)
    # gain[p, i]: weight of intervals containing cand i whose left end lies after cand p (p < i);
    # row m is "no previous point". An interval spanning cands a..b adds its weight to the
    # rectangle p in [0, a), i in [a, b]: built with a 2-D difference array and two cumsums.
    a = np.searchsorted(cands, left - 1e-9, side="left")
    b = np.searchsorted(cands, right + 1e-9, side="right") - 1
    diff = np.zeros((m + 1, m + 1))
    top = np.zeros_like(a)
    np.add.at(diff, (top, a), w)
    np.add.at(diff, (top, b + 1), -w)
    np.add.at(diff, (a, a), -w)
    np.add.at(diff, (a, b + 1), w)
    gain = np.zeros((m + 1, m))
    gain[:m] = np.cumsum(np.cumsum(diff, axis=0), axis=1)[:m, :m]
    none = np.zeros(m + 1)
    np.add.at(none, a, w)
    np.add.at(none, b + 1, -w)
    gain[m] = np.cumsum(none)[:m]
    best = np.full((count + 1, m), -np.inf)
    back = np.full((count + 1, m), -1, dtype=np.int64)
    best[1] = gain[m]
    tri = np.tri(m, m, -1, dtype=bool).T  # tri[p, i]: p < i
    for k in range(2, count + 1):
        scores = np.where(tri, best[k - 1][:, None] + gain[:m], -np.inf)
        back[k] = np.argmax(scores, axis=0)
        best[k] = scores[back[k], np.arange(m)]
    k_best, i_best = np.unravel_index(np.argmax(np.where(np.isfinite(best), best, -1)), best.shape)
    value = float(best[k_best, i_best]) if np.isfinite(best[k_best, i_best]) else 0.0
    points = []
    k, i = int(k_best), int(i_best)
    while k >= 1 and i >= 0:
        points.append(float(cands[i]))
        i = int(back[k, i]) if k > 1 else -1
        k -= 1
    return value, points[::-1]


@dataclass(frozen=True)
class _RingArcs:
    """Demand arcs shorter than the ring: start, width and weight of each (ring metres)."""

    length: float
    starts: np.ndarray
    widths: np.ndarray
    weights: np.ndarray

    def crossing(self, point: float) -> np.ndarray:
        """Which arcs contain ``point``."""
        return ((point - self.starts) % self.length) <= self.widths

    def on_line(self, cut: float, count: int, drop: np.ndarray) -> tuple[float, list[float]]:
        """Best ``count`` sites with the ring cut open at ``cut``, leaving out the arcs ``drop``."""
        keep = ~drop
        left = (self.starts[keep] - cut) % self.length
        right = left + self.widths[keep]
        ok = right <= self.length  # arcs crossing the cut are not on this line
        value, pts = _line_mclp(left[ok], right[ok], self.weights[keep][ok], count)
        return value, [(p + cut) % self.length for p in pts]

    def best(self, count: int) -> tuple[float, list[float]]:
        """Best ``count`` sites on the ring and the weight they cover."""
        ends = np.sort(
            np.concatenate(((self.starts + self.widths) % self.length, self.starts % self.length))
        )
        # A cut no arc crosses makes the ring a line.
        nexts = np.concatenate((ends[1:], [ends[0] + self.length]))
        for a, b in zip(ends, nexts, strict=True):
            mid = ((a + b) / 2) % self.length
            if b - a > 1e-6 and not self.crossing(mid).any():
                return self.on_line(mid, count, np.zeros(len(self.weights), bool))
        return self._through(float(ends[0]), count)

    def _through(self, c: float, count: int) -> tuple[float, list[float]]:
        """Best sites when every point of the ring, ``c`` among them, lies inside some arc.

        Either no chosen site stabs an arc crossing c (drop those arcs, solve the line), or one
        does; moved forward to the first right end among the arcs it stabs, it still stabs that
        crossing arc. So try each right end q inside a crossing arc: fix it, drop what it
        covers, solve the rest from q.
        """
        cross = self.crossing(c)
        value, points = self.on_line(c, count, cross)
        rights = np.unique((self.starts + self.widths) % self.length)
        starts, widths = self.starts[cross], self.widths[cross]
        inside = [q for q in rights if (((q - starts) % self.length) <= widths).any()]
        for q in inside:
            covered = self.crossing(float(q))
            v, pts = self.on_line(float(q), count - 1, covered)
            v += float(self.weights[covered].sum())
            if v > value + 1e-9:
                value, points = v, [float(q), *pts]
        return value, points


def mclp(
    ring: Ring, demand: Sequence[Demand], radius_m: float, count: int
) -> tuple[list[Site], float]:
    """``count`` new road-side stations maximising the demand weight within ``radius_m``.

    Returns the sites and the weight they newly cover (demand already within reach of an existing
    station is not counted). Exact on the ring.
    """
    radius_m = check_radius(radius_m)
    count = check_count(count)
    starts, widths, weights = _arcs(ring, demand, radius_m)
    if count == 0 or len(weights) == 0:
        return [], 0.0
    if len(np.unique(np.round((starts + widths) % ring.length, 6))) > MAX_ARCS:
        raise InvalidInput(
            f"too many distinct demand places for the exact ring MCLP (more than {MAX_ARCS}); "
            "aggregate the demand (e.g. to 100 m along the loop)"
        )
    full = widths >= ring.length
    base = float(weights[full].sum())  # covered wherever a station goes
    arcs = _RingArcs(ring.length, starts[~full], widths[~full], weights[~full])
    if len(arcs.weights) == 0:
        return [Site(0.0)], base
    value, points = arcs.best(count)
    return [Site(p) for p in points or [0.0]], value + base


def covered_weight(ring: Ring, demand: Sequence[Demand], radius_m: float) -> float:
    """Demand weight within ``radius_m`` of some station."""
    return float(
        sum(
            d.weight
            for d in demand
            if any(
                s.offroute + ring.dist(s.u, d.u) + d.offroute <= radius_m + EPS_M
                for s in ring.sites
            )
        )
    )
