"""Planning new stations on the loop: coverage, minimum cover, p-center and maximal covering.

Everything here works on the ring in the loop's reported metres (calibrated to the official length
when the loop is): a position ``u`` along the ring and, for a station, its off-route distance ``o``.
The distance from a loop point ``x`` to a station is ``o + d(x, u)``, ``d`` the shorter way round.

The ring algorithms are exact (no discretisation):

- the largest distance from any loop point to its nearest station: the lower envelope of V-shaped
  functions, maximal midway between neighbouring non-dominated stations;
- minimum stations to cover the loop at R: each uncovered stretch of length g needs ceil(g / 2R);
- p-center (minimise that largest distance with N new stations): the number needed at a distance
  D falls as D grows, so the least feasible D is found by bisection to 1 cm, then placed evenly.

Maximal covering of demand on the same ring is in `stations.planning.covering`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from stations.errors import InvalidInput
from stations.planning.intervals import complement_on_ring, merge_on_ring

#: Bisection stops when the bracket is narrower than this (metres).
TOLERANCE_M = 0.01
#: Answers needing more new stations than this are refused (the radius is too small to plan with).
MAX_NEW_SITES = 10_000


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


def check_radius(radius_m: float) -> float:
    """``radius_m`` as a float, or `InvalidInput` unless it is a positive finite number."""
    if not isinstance(radius_m, int | float) or not math.isfinite(radius_m) or radius_m <= 0:
        raise InvalidInput(f"radius must be a positive number of metres; got {radius_m!r}")
    return float(radius_m)


def check_count(count: int) -> int:
    """``count`` unchanged, or `InvalidInput` unless it is a whole number from 0 to 1000."""
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
    radius_m = check_radius(radius_m)
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
    radius_m = check_radius(radius_m)
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
    count = check_count(count)
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
