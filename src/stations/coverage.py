"""Which stretches of the loop lie within a service distance of a station, by road.

A loop point at chainage ``x`` is covered by a station at chainage ``c`` that stands ``o`` metres
off the road when ``o + along(x, c) <= R``: the rider rides along the loop to the station's access
point and then off it. Distances are in the loop's reported metres (calibrated to the official
length when the loop is), so a station covers ``(R - o) / scale`` geometric metres either way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from stations.catalog import Catalog
from stations.errors import InvalidInput
from stations.loop import Loop
from stations.models import Status

Interval = tuple[float, float]


@dataclass(frozen=True, slots=True)
class Coverage:
    """Covered and uncovered stretches, as geometric chainage intervals ``(from_m, to_m)``.

    An interval may run past the ring's end (``to_m > length``): it wraps around km 0.
    """

    radius_m: float
    length_m: float
    covered: list[Interval]
    gaps: list[Interval]

    @property
    def covered_fraction(self) -> float:
        """Share of the loop's length that is covered (0..1)."""
        return sum(b - a for a, b in self.covered) / self.length_m if self.length_m else 0.0


def merge_on_ring(intervals: Iterable[Interval], length: float) -> list[Interval]:
    """Union of intervals on a ring of ``length``; a result interval may wrap past ``length``."""
    pieces: list[Interval] = []
    for a, b in intervals:
        if b - a >= length:
            return [(0.0, length)]
        if b <= a:
            continue
        start = a % length
        end = start + (b - a)
        if end <= length:
            pieces.append((start, end))
        else:
            pieces.extend([(start, length), (0.0, end - length)])
    if not pieces:
        return []
    pieces.sort()
    merged = [pieces[0]]
    for a, b in pieces[1:]:
        last_a, last_b = merged[-1]
        if a <= last_b:
            merged[-1] = (last_a, max(last_b, b))
        else:
            merged.append((a, b))
    if len(merged) > 1 and merged[0][0] <= 0.0 and merged[-1][1] >= length:
        first = merged.pop(0)
        last_a, _ = merged.pop()
        merged.append((last_a, length + first[1]))
    if len(merged) == 1 and merged[0][1] - merged[0][0] >= length:
        return [(0.0, length)]
    return merged


def complement_on_ring(covered: list[Interval], length: float) -> list[Interval]:
    """The stretches of the ring not in ``covered`` (as merged by `merge_on_ring`)."""
    if not covered:
        return [(0.0, length)]
    if covered == [(0.0, length)]:
        return []
    ordered = sorted(covered)
    gaps = []
    for (_, b), (a, _) in zip(ordered, ordered[1:] + [(ordered[0][0] + length, 0.0)], strict=True):
        if a > b:
            gaps.append((b % length, b % length + (a - b)))
    return sorted(gaps)


def loop_coverage(
    catalog: Catalog, radius_m: float, statuses: Iterable[Status] = (Status.OPEN,)
) -> Coverage:
    """Coverage of the catalog's loop by its stations (in service by default) at ``radius_m``."""
    loop = catalog.loop
    if loop is None:
        raise InvalidInput("no loop is configured")
    if not radius_m >= 0:
        raise InvalidInput(f"radius must be a number of metres >= 0; got {radius_m!r}")
    wanted = set(statuses)
    reach = [
        (place.snap.chainage_m, place.snap.offroute_m)
        for i, place in catalog.loop_members
        if catalog.located[i].props.status in wanted
    ]
    return coverage_of(loop, reach, radius_m)


def coverage_of(loop: Loop, stations: Iterable[tuple[float, float]], radius_m: float) -> Coverage:
    """Coverage by stations given as ``(chainage_m, offroute_m)`` pairs."""
    intervals = []
    for chainage, offroute in stations:
        if offroute <= radius_m:
            half = (radius_m - offroute) / loop.scale
            intervals.append((chainage - half, chainage + half))
    covered = merge_on_ring(intervals, loop.length_m)
    return Coverage(radius_m, loop.length_m, covered, complement_on_ring(covered, loop.length_m))
