"""Intervals on a ring: union and complement, with stretches that wrap past the ring's end.

The building blocks of coverage (`stations.planning.ring.coverage`): a station covers an interval of
the loop either side of its access point, and what is left over is the gaps.
"""

from __future__ import annotations

from collections.abc import Iterable

Interval = tuple[float, float]


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
