"""Planning new stations on the loop: coverage, minimum cover, p-center and maximal covering.

Everything here works on the ring in the loop's reported metres (calibrated to the official length
when the loop is): a position ``u`` along the ring and, for a station, its off-route distance ``o``.
The distance from a loop point ``x`` to a station is ``o + d(x, u)``, ``d`` the shorter way round.

The ring algorithms are exact (no discretisation):

- the largest distance from any loop point to its nearest station: the lower envelope of V-shaped
  functions, maximal midway between neighbouring non-dominated stations;
- minimum stations to cover the loop at R: each uncovered stretch of length g needs ceil(g / 2R);
- p-center (minimise that largest distance with N new stations): the number needed at a distance
  D falls as D grows, so the least feasible D is found by bisection to 1 cm, then placed evenly;
- maximal covering (N new sites maximising demand within R): right ends of the demand arcs are
  enough as candidates; the ring is cut where no arc crosses (or at each candidate covering the
  cut), and a dynamic programme over the line is exact.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from stations.errors import InvalidInput
from stations.planning.intervals import complement_on_ring, merge_on_ring

#: Bisection stops when the bracket is narrower than this (metres).
TOLERANCE_M = 0.01
#: Distances this close to the radius count as within it (rounding of positions on the ring).
EPS_M = 1e-6
#: Answers needing more new stations than this are refused (the radius is too small to plan with).
MAX_NEW_SITES = 10_000
#: Largest number of distinct demand arcs the exact MCLP takes (its tables grow as the square).
MAX_ARCS = 2_000


@dataclass(frozen=True, slots=True)
class Site:
    """A station on the ring: position (m along the ring) and off-route distance (m)."""

    u: float
    offroute: float = 0.0


@dataclass(frozen=True, slots=True)
class Demand:
    """A demand point snapped to the ring: position, off-route distance, weight."""

    u: float
    offroute: float
    weight: float = 1.0


@dataclass(frozen=True)
class Ring:
    """The planning problem: a ring of ``length`` metres and the stations on it."""

    length: float
    sites: tuple[Site, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not self.length > 0:
            raise InvalidInput("the ring must have a positive length")
        object.__setattr__(
            self, "sites", tuple(Site(s.u % self.length, s.offroute) for s in self.sites)
        )

    def with_sites(self, extra: Iterable[Site]) -> Ring:
        """The same ring with more stations."""
        return Ring(self.length, (*self.sites, *extra))

    def dist(self, a: float, b: float) -> float:
        """Shorter way between two positions."""
        d = abs(a - b) % self.length
        return min(d, self.length - d)


def _check_radius(radius_m: float) -> float:
    if not isinstance(radius_m, int | float) or not math.isfinite(radius_m) or radius_m <= 0:
        raise InvalidInput(f"radius must be a positive number of metres; got {radius_m!r}")
    return float(radius_m)


def _check_count(count: int) -> int:
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= 1000:
        raise InvalidInput(f"count must be a whole number from 0 to 1000; got {count!r}")
    return count


# ---------------------------------------------------------------- distances and coverage


def _undominated(ring: Ring) -> list[Site]:
    """Stations that are nearest for some loop point, sorted by position."""
    sites = sorted(ring.sites, key=lambda s: (s.u, s.offroute))
    if len(sites) < 2:
        return sites
    u = np.array([s.u for s in sites])
    o = np.array([s.offroute for s in sites])
    d = np.abs(u[:, None] - u[None, :]) % ring.length
    reach = o[:, None] + np.minimum(d, ring.length - d)  # reach[i, j]: via station i to j's spot
    np.fill_diagonal(reach, np.inf)
    earlier = np.tri(len(sites), len(sites), -1, dtype=bool).T  # earlier[i, j]: i < j
    dominated = ((reach < o[None, :]) | ((reach == o[None, :]) & earlier)).any(axis=0)
    return [s for s, dom in zip(sites, dominated.tolist(), strict=True) if not dom]


def max_distance(ring: Ring) -> float:
    """The largest distance from any point of the loop to its nearest station (inf if none)."""
    sites = _undominated(ring)
    if not sites:
        return math.inf
    if len(sites) == 1:
        return sites[0].offroute + ring.length / 2
    worst = 0.0
    for a, b in zip(sites, sites[1:] + sites[:1], strict=True):
        gap = (b.u - a.u) % ring.length
        worst = max(worst, (a.offroute + b.offroute + gap) / 2)
    return worst


def distances_at(ring: Ring, positions: np.ndarray) -> np.ndarray:
    """Distance from each loop position to its nearest station (inf if there is none)."""
    out = np.full(len(positions), np.inf)
    for s in ring.sites:
        d = np.abs(positions - s.u) % ring.length
        out = np.minimum(out, s.offroute + np.minimum(d, ring.length - d))
    return out


@dataclass(frozen=True)
class CoverageReport:
    """Coverage of the ring at ``radius_m`` (ring metres; stretches may run past the end)."""

    radius_m: float
    length_m: float
    covered: list[tuple[float, float]]
    gaps: list[tuple[float, float]]
    max_distance_m: float

    @property
    def covered_fraction(self) -> float:
        """Share of the loop within reach."""
        return sum(b - a for a, b in self.covered) / self.length_m

    @property
    def max_gap_m(self) -> float:
        """The longest uncovered stretch (0 when all is covered)."""
        return max((b - a for a, b in self.gaps), default=0.0)


def coverage(ring: Ring, radius_m: float) -> CoverageReport:
    """Covered and uncovered stretches at ``radius_m`` by road, and the largest distance."""
    radius_m = _check_radius(radius_m)
    arcs = [
        (s.u - (radius_m - s.offroute), s.u + (radius_m - s.offroute))
        for s in ring.sites
        if s.offroute <= radius_m
    ]
    covered = merge_on_ring(arcs, ring.length)
    gaps = complement_on_ring(covered, ring.length)
    return CoverageReport(radius_m, ring.length, covered, gaps, max_distance(ring))


# ---------------------------------------------------------------- minimum cover and p-center


def _fill(gap: tuple[float, float], k: int, length: float) -> list[Site]:
    a, b = gap
    g = b - a
    return [Site((a + (2 * j + 1) * g / (2 * k)) % length) for j in range(k)]


def _greedy(
    gaps: list[tuple[float, float]], start: float, length: float, radius: float
) -> list[float]:
    """Road-side stations covering every gap, greedily from ``start`` (a gap's start) round.

    On a line, placing each station so its reach begins at the first point still uncovered is
    optimal; a new station may reach across a covered stretch into the next gap.
    """
    rel = sorted(((a - start) % length, (a - start) % length + (b - a)) for a, b in gaps)
    out: list[float] = []
    reach = -math.inf
    for a, b in rel:
        p = max(a, reach)
        while p < b - 1e-9:
            out.append(start + p + radius)
            reach = p + 2 * radius
            p = reach
    return [u % length for u in out]


def _check_cover_size(gaps: list[tuple[float, float]], radius: float) -> None:
    lower = sum(b - a for a, b in gaps) / (2 * radius)
    if lower > MAX_NEW_SITES:
        raise InvalidInput(
            f"covering the loop at {radius:g} m would take more than {MAX_NEW_SITES} new "
            "stations; use a larger radius"
        )


def _cover_positions(ring: Ring, radius: float) -> list[float]:
    """Fewest road-side positions that bring every loop point within ``radius`` of a station.

    Some optimal set has a station whose reach begins at the start of a gap (slide any station
    forward until it would uncover something: it stops at a gap start, or at the end of another
    new station's reach, whose own start is found the same way), so the greedy from the best gap
    start is optimal on the ring.
    """
    if ring.sites:
        gaps = coverage(ring, radius).gaps
    else:
        gaps = [(0.0, ring.length)]
    if not gaps:
        return []
    _check_cover_size(gaps, radius)
    best: list[float] | None = None
    for a, _ in gaps:
        found = _greedy(gaps, a, ring.length, radius)
        if best is None or len(found) < len(best):
            best = found
    assert best is not None
    return best


def _feasible(ring: Ring, radius: float, count: int) -> bool:
    """Whether ``count`` new stations can bring the whole loop within ``radius``."""
    if radius <= 0:
        return False
    gaps = coverage(ring, radius).gaps if ring.sites else [(0.0, ring.length)]
    if sum(b - a for a, b in gaps) / (2 * radius) > count:
        return False  # a station covers at most 2R of what is left
    return len(_cover_positions(ring, radius)) <= count


def min_cover(ring: Ring, radius_m: float) -> list[Site]:
    """The fewest new stations so that every loop point is within ``radius_m`` of a station.

    Existing stations stay; new ones stand on the road. Exact (see `_cover_positions`).
    """
    radius_m = _check_radius(radius_m)
    if not ring.sites:
        _check_cover_size([(0.0, ring.length)], radius_m)
        n = max(1, math.ceil(ring.length / (2 * radius_m) - 1e-12))
        return _fill((0.0, ring.length), n, ring.length)
    return [Site(u) for u in _cover_positions(ring, radius_m)]


def p_center(ring: Ring, count: int) -> list[Site]:
    """``count`` new stations minimising the largest distance from the loop to a station.

    Exact to `TOLERANCE_M`: the least distance D at which ``count`` stations suffice to cover
    the loop is bracketed by bisection (feasibility only grows with D), the stations are placed
    by the greedy cover at D, then each is moved mid-way between its neighbours (`_balance`).
    """
    count = _check_count(count)
    if count == 0:
        return []
    if not ring.sites:
        return _fill((0.0, ring.length), count, ring.length)  # evenly round the ring
    lo, hi = 0.0, max_distance(ring)  # at hi nothing is needed
    while hi - lo > TOLERANCE_M:
        mid = (lo + hi) / 2
        if _feasible(ring, mid, count):
            hi = mid
        else:
            lo = mid
    out = [Site(u) for u in _cover_positions(ring, hi)]
    # Spare stations (fewer needed than allowed) go into the longest stretches between stations.
    out = _spread(ring, out, count, hi)
    return _balance(ring, out)


def _spread(ring: Ring, out: list[Site], count: int, hi: float) -> list[Site]:
    """Add the stations the cover at ``hi`` did not need, in the longest stretches left."""
    spare = count - len(out)
    while spare > 0:
        cov = coverage(ring.with_sites(out), max(hi / 2, TOLERANCE_M))
        if not cov.gaps:
            break
        gap = max(cov.gaps, key=lambda g: g[1] - g[0])
        out += _fill(gap, 1, ring.length)
        spare -= 1
    return out


def _balance(ring: Ring, new: list[Site]) -> list[Site]:
    """Space the new stations evenly between the existing ones they fall between.

    The bisection fixes the optimal largest distance; the greedy placement behind it is packed to
    one side. Between two neighbouring existing stations a and b (off the road by o_a, o_b) with
    k new stations between them, the largest distance over that stretch is least when all k + 1
    pieces are equally bad: pieces of length t - o_a, t, ..., t, t - o_b with
    t = (gap + o_a + o_b) / (k + 1). That can only lower each stretch's largest distance, so the
    optimum is kept (checked), and the stations stand where planners expect them.
    """
    fixed = _undominated(ring)
    if not new or not fixed:
        return new
    length = ring.length
    fixed_u = np.array([f.u for f in fixed])
    out: list[Site] = []
    groups: dict[int, list[Site]] = {}
    for site in new:
        # the existing station at or before this one, going round
        i = int(np.searchsorted(fixed_u, site.u, side="right")) - 1
        groups.setdefault(i % len(fixed), []).append(site)
    for i, members in groups.items():
        a, b = fixed[i], fixed[(i + 1) % len(fixed)]
        gap = (b.u - a.u) % length or length
        k = len(members)
        t = (gap + a.offroute + b.offroute) / (k + 1)
        if t < max(a.offroute, b.offroute):
            out += members  # a neighbour is nearly useless here; keep the greedy places
            continue
        out += [Site((a.u + (t - a.offroute) + j * t) % length) for j in range(k)]
    if max_distance(ring.with_sites(out)) <= max_distance(ring.with_sites(new)) + 1e-9:
        return out
    return new


# ---------------------------------------------------------------- maximal covering


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


def mclp(
    ring: Ring, demand: Sequence[Demand], radius_m: float, count: int
) -> tuple[list[Site], float]:
    """``count`` new road-side stations maximising the demand weight within ``radius_m``.

    Returns the sites and the weight they newly cover (demand already within reach of an existing
    station is not counted). Exact on the ring.
    """
    radius_m = _check_radius(radius_m)
    count = _check_count(count)
    starts, widths, weights = _arcs(ring, demand, radius_m)
    if count == 0 or len(weights) == 0:
        return [], 0.0
    if len(np.unique(np.round((starts + widths) % ring.length, 6))) > MAX_ARCS:
        raise InvalidInput(
            f"too many distinct demand places for the exact ring MCLP (more than {MAX_ARCS}); "
            "aggregate the demand (e.g. to 100 m along the loop)"
        )
    length = ring.length
    full = widths >= length
    base = float(weights[full].sum())  # covered wherever a station goes
    starts, widths, weights = starts[~full], widths[~full], weights[~full]
    if len(weights) == 0:
        return [Site(0.0)], base

    def solve_cut(cut: float, k: int, drop: np.ndarray) -> tuple[float, list[float]]:
        keep = ~drop
        left = (starts[keep] - cut) % length
        right = left + widths[keep]
        ok = right <= length  # arcs crossing the cut are not on this line
        value, pts = _line_mclp(left[ok], right[ok], weights[keep][ok], k)
        return value, [(p + cut) % length for p in pts]

    def crossing(point: float) -> np.ndarray:
        return ((point - starts) % length) <= widths

    # A cut no arc crosses makes the ring a line.
    ends = np.sort(np.concatenate(((starts + widths) % length, starts % length)))
    free = None
    for a, b in zip(ends, np.concatenate((ends[1:], [ends[0] + length])), strict=True):
        mid = ((a + b) / 2) % length
        if b - a > 1e-6 and not crossing(mid).any():
            free = mid
            break
    if free is not None:
        value, points = solve_cut(free, count, np.zeros(len(weights), bool))
    else:
        # Every point is inside some arc. Cut at c: either no chosen site stabs an arc crossing c
        # (drop those arcs, solve the line), or one does; moved forward to the first right end
        # among the arcs it stabs, it still stabs that crossing arc. So try each right end q
        # inside a crossing arc: fix it, drop what it covers, solve the rest from q.
        c = float(ends[0])
        cross = crossing(c)
        value, points = solve_cut(c, count, cross)
        rights = np.unique((starts + widths) % length)
        inside = [q for q in rights if (((q - starts[cross]) % length) <= widths[cross]).any()]
        for q in inside:
            covered = crossing(float(q))
            v, pts = solve_cut(float(q), count - 1, covered)
            v += float(weights[covered].sum())
            if v > value + 1e-9:
                value, points = v, [float(q), *pts]
    if not points:
        points = [0.0]
    return [Site(p) for p in points], value + base


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
