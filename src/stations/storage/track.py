"""The loop from a driven GPS track: read a GPX file, check it is one ring, simplify, write it.

A recorded track is how the loop stops being schematic. The track is read with GDAL's GPX driver
(through pyogrio), its segments joined in order; it must close (end within ``max_gap_m`` of its
start) and measure a plausible length. Vertices are thinned with Douglas-Peucker in a local
metric frame (a loop spans a few tens of km, where an equirectangular frame is exact to well under
a metre at these tolerances); the kept vertices are the recorded ones.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from stations.errors import InvalidInput
from stations.geodesy import GEOD
from stations.loop import Loop, parse_loop


def read_track(path: Path) -> list[tuple[float, float]]:
    """The track's positions (lon, lat) in recorded order: tracks, else routes, else points."""
    import pyogrio  # GDAL: costly to import, only track import needs it

    if not path.is_file():
        raise InvalidInput(f"no such file: {path}")
    try:
        layers = {name for name, _ in pyogrio.list_layers(path)}
    except Exception as exc:  # GDAL's errors are many; all mean "not a readable GPX"
        raise InvalidInput(f"{path}: not a readable GPX file ({exc})") from None
    for layer in ("tracks", "routes"):
        if layer not in layers:
            continue
        frame = pyogrio.read_dataframe(path, layer=layer)
        coords: list[tuple[float, float]] = []
        for geom in frame.geometry:
            if geom is None or geom.is_empty:
                continue
            lines = geom.geoms if geom.geom_type == "MultiLineString" else [geom]
            for line in lines:
                for x, y, *_ in line.coords:
                    if not coords or (x, y) != coords[-1]:
                        coords.append((float(x), float(y)))
        if len(coords) >= 4:
            return coords
    raise InvalidInput(f"{path}: no track or route with at least 4 points")


def simplify(coords: list[tuple[float, float]], tolerance_m: float) -> list[tuple[float, float]]:
    """Douglas-Peucker in a local metric frame around the track; recorded vertices kept."""
    arr = np.asarray(coords, float)
    lat0 = math.radians(float(arr[:, 1].mean()))
    kx, ky = 111_320.0 * math.cos(lat0), 110_574.0
    local = shapely.LineString(np.column_stack((arr[:, 0] * kx, arr[:, 1] * ky)))
    kept = shapely.simplify(local, tolerance_m, preserve_topology=False)
    index = {(round(x * kx, 6), round(y * ky, 6)): i for i, (x, y) in enumerate(coords)}
    out = []
    for x, y in np.asarray(kept.coords):
        i = index.get((round(x, 6), round(y, 6)))
        out.append(coords[i] if i is not None else (x / kx, y / ky))
    return out


def track_to_loop(
    coords: list[tuple[float, float]],
    previous: dict[str, Any],
    source: str,
    *,
    max_gap_m: float = 500.0,
    tolerance_m: float = 5.0,
    min_length_m: float = 1000.0,
) -> dict[str, Any]:
    """A loop GeoJSON Feature from a track, keeping the previous loop's descriptive properties."""
    lons = np.array([c[0] for c in coords])
    lats = np.array([c[1] for c in coords])
    if not (np.all(np.abs(lons) <= 180) and np.all(np.abs(lats) <= 90)):
        raise InvalidInput("the track has positions outside lon [-180, 180] / lat [-90, 90]")
    _, _, gap = GEOD.inv(coords[-1][0], coords[-1][1], coords[0][0], coords[0][1])
    if gap > max_gap_m:
        raise InvalidInput(
            f"the track does not close: it ends {gap:.0f} m from where it starts (at most "
            f"{max_gap_m:.0f} m allowed); record the whole loop, back to the start"
        )
    ring = simplify(coords, tolerance_m)
    if ring[0] != ring[-1]:
        ring.append(ring[0])
    if len(ring) < 4:
        raise InvalidInput("the track is too short to be a loop after simplification")
    rounded = [[round(float(x), 7), round(float(y), 7)] for x, y in ring]
    rounded[-1] = rounded[0]
    length = Loop([tuple(c) for c in rounded], {}, calibrate=False).length_m  # type: ignore[misc]
    if length < min_length_m:
        raise InvalidInput(f"the track is only {length:.0f} m long; is it the loop?")
    props = {
        k: v
        for k, v in previous.items()
        if k not in ("geometric_length_m", "accuracy", "accuracy_note")
    }
    props.update(
        accuracy="gps_track",
        accuracy_note=(
            f"Recorded GPS track ({len(coords)} points, closed within {gap:.0f} m), simplified "
            f"to {len(rounded)} vertices at {tolerance_m:g} m."
        ),
        source_track=source,
        imported=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        geometric_length_m=round(length, 1),
    )
    feature = {
        "type": "Feature",
        "id": previous.get("id", "loop"),
        "geometry": {"type": "LineString", "coordinates": rounded},
        "properties": props,
    }
    parse_loop(feature, source)  # the same validation as loading
    return feature
