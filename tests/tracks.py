"""Driven tracks for the loop's tests: the bundled loop walked at a fixed step, with a detour.

The bundled loop is a hexagon through the towns; a real road winds. `drive` follows it and
bulges out over part of it (as a road round a hill would), so the new loop is longer and the
stations past the bulge move along it: what a preview must show.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np

from stations.loop import Loop


def drive(
    loop: Loop, step_m: float = 50.0, detour_m: float = 3000.0, short_m: float = 60.0
) -> list[tuple[float, float]]:
    """Positions every ``step_m`` along the driven road, ending about ``short_m`` before the start.

    Between 55 % and 75 % of the way round the road swings up to ``detour_m`` north of the loop.
    """
    length = loop.length_m
    dense = []
    for chainage in np.arange(0.0, length - short_m, 5.0):
        lon, lat = loop.point_at(float(chainage))
        frac = (chainage / length - 0.55) / 0.20
        if 0.0 < frac < 1.0:
            lat += detour_m * math.sin(math.pi * frac) / 111_000.0
        dense.append((lon, lat))
    a = np.asarray(dense)
    kx = 111_320.0 * np.cos(np.radians(a[:, 1].mean()))
    steps = np.hypot(np.diff(a[:, 0]) * kx, np.diff(a[:, 1]) * 110_574.0)
    walked = np.concatenate(([0.0], np.cumsum(steps)))
    keep = np.searchsorted(walked, np.arange(0.0, walked[-1], step_m))
    return [(round(float(a[i, 0]), 7), round(float(a[i, 1]), 7)) for i in keep]


def gpx_bytes(points: list[tuple[float, float]], padding: int = 0) -> bytes:
    """A GPX 1.1 track of ``points`` one second apart (``padding`` bytes of desc per point)."""
    start = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    desc = f"<desc>{'x' * padding}</desc>" if padding else ""
    body = "".join(
        f'<trkpt lat="{y:.7f}" lon="{x:.7f}"><ele>600</ele>'
        f"<time>{(start + timedelta(seconds=i)).strftime('%Y-%m-%dT%H:%M:%SZ')}</time>{desc}"
        "</trkpt>"
        for i, (x, y) in enumerate(points)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<gpx version="1.1" creator="test" '
        'xmlns="http://www.topografix.com/GPX/1/1"><trk><name>drive</name><trkseg>'
        f"{body}</trkseg></trk></gpx>\n"
    ).encode()
