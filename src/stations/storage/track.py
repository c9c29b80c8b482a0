"""The loop from a driven GPS track: read GPX (or recorded fixes), check it is one ring, simplify.

A recorded track is how the loop stops being schematic. GPX is first read with defusedxml, which
refuses any DTD (so no entity, internal or external, and no "billion laughs") and counts the
track points, so a track past ``max_points`` is refused before GDAL builds anything; then GDAL's
GPX driver (through pyogrio) reads the positions, its segments joined in order. The office app
may instead send the fixes it recorded as JSON (`points_from_fixes`). Either way the track must
close (end within ``max_gap_m`` of its start) and measure a plausible length. Vertices are
thinned with Douglas-Peucker in a local metric frame (a loop spans a few tens of km, where an
equirectangular frame is exact to well under a metre at these tolerances); the kept vertices
are the recorded ones.
"""

from __future__ import annotations

import io
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import ParseError

import numpy as np
import shapely
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

from stations.errors import InvalidInput
from stations.geodesy import GEOD
from stations.loop import parse_loop

#: The most positions a track may hold: a 178 km drive sampled every second is ~12,000.
MAX_TRACK_POINTS = 100_000
#: The longest loop taken (m): the district's loop is 178 km.
MAX_LOOP_M = 1_000_000.0
_POINT_TAGS = ("trkpt", "rtept")


def read_track(path: Path, max_points: int = MAX_TRACK_POINTS) -> list[tuple[float, float]]:
    """The positions (lon, lat) of the GPX file ``path`` in recorded order (`parse_gpx`)."""
    if not path.is_file():
        raise InvalidInput(f"no such file: {path}")
    return parse_gpx(path.read_bytes(), str(path), max_points)


def _checked_xml(data: bytes, source: str, max_points: int) -> None:
    """Refuse XML with a DTD, XML that is not well formed, or more than ``max_points`` points."""
    points = 0
    try:
        for _, element in iterparse(io.BytesIO(data), events=("end",), forbid_dtd=True):
            if element.tag.rpartition("}")[2] in _POINT_TAGS:
                points += 1
                if points > max_points:
                    raise InvalidInput(
                        f"{source}: the track has more than {max_points} points; thin it "
                        "(e.g. one point every 5 s) or split the file"
                    )
            element.clear()
    except DefusedXmlException:
        raise InvalidInput(
            f"{source}: a GPX file with a DTD or entities (<!DOCTYPE ...>) is refused; export "
            "the track again as plain GPX"
        ) from None
    except ParseError as exc:
        raise InvalidInput(
            f"{source}: not a readable GPX file (not well-formed XML: {exc})"
        ) from None


def parse_gpx(
    data: bytes, source: str, max_points: int = MAX_TRACK_POINTS
) -> list[tuple[float, float]]:
    """The track's positions (lon, lat) in recorded order: tracks, else routes.

    ``source`` names the file in messages. `InvalidInput` when the XML is unsafe or malformed
    (`_checked_xml`), holds more than ``max_points`` points, or has no track of 4 points.
    """
    import pyogrio  # GDAL: costly to import, only track import needs it

    _checked_xml(data, source, max_points)
    try:
        layers = {name for name, _ in pyogrio.list_layers(io.BytesIO(data))}
    except Exception as exc:  # GDAL's errors are many; all mean "not a readable GPX"
        raise InvalidInput(f"{source}: not a readable GPX file ({exc})") from None
    for layer in ("tracks", "routes"):
        if layer not in layers:
            continue
        try:
            frame = pyogrio.read_dataframe(io.BytesIO(data), layer=layer)
        except Exception as exc:  # as above
            raise InvalidInput(f"{source}: not a readable GPX file ({exc})") from None
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
    raise InvalidInput(f"{source}: no track or route with at least 4 points")


def points_from_fixes(fixes: Any, max_points: int = MAX_TRACK_POINTS) -> list[tuple[float, float]]:
    """The positions of recorded fixes ``[[lon, lat, time?, accuracy?], ...]`` (JSON numbers).

    Consecutive repeats are dropped, as `parse_gpx` drops them. `InvalidInput` names the first
    fix that is not 2 to 4 finite numbers with lon in [-180, 180] and lat in [-90, 90].
    """
    if not isinstance(fixes, list):
        raise InvalidInput("expected a JSON array of fixes [lon, lat, time?, accuracy?]")
    if len(fixes) > max_points:
        raise InvalidInput(f"the track has {len(fixes)} fixes; at most {max_points} are taken")
    coords: list[tuple[float, float]] = []
    for n, fix in enumerate(fixes):
        ok = isinstance(fix, list) and 2 <= len(fix) <= 4
        ok = ok and all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in fix
        )
        if not ok or abs(fix[0]) > 180 or abs(fix[1]) > 90:
            raise InvalidInput(
                f"fix {n}: expected [lon, lat, time?, accuracy?] as finite numbers with lon in "
                "[-180, 180] and lat in [-90, 90]"
            )
        point = (float(fix[0]), float(fix[1]))
        if not coords or point != coords[-1]:
            coords.append(point)
    if len(coords) < 4:
        raise InvalidInput("the track has fewer than 4 distinct positions")
    return coords


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


def _checked_length(ring: list[list[float]], min_length_m: float, max_length_m: float) -> float:
    """The ring's geodesic length (m), refused outside [min, max].

    Checked before the loop is built: building densifies it every 100 m, so a track spanning
    continents (a stray position far away) would cost seconds and gigabytes.
    """
    lons, lats = np.asarray(ring).T
    _, _, legs = GEOD.inv(lons[:-1], lats[:-1], lons[1:], lats[1:])
    length = float(np.sum(legs))
    if length < min_length_m:
        raise InvalidInput(f"the track is only {length:.0f} m long; is it the loop?")
    if length > max_length_m:
        raise InvalidInput(
            f"the track is {length / 1000:.0f} km long (at most {max_length_m / 1000:.0f} km): "
            "is it the loop? Check the file, or for stray positions far away"
        )
    return length


def track_to_loop(
    coords: list[tuple[float, float]],
    previous: dict[str, Any],
    source: str,
    *,
    max_gap_m: float = 500.0,
    tolerance_m: float = 5.0,
    min_length_m: float = 1000.0,
    max_length_m: float = MAX_LOOP_M,
) -> dict[str, Any]:
    """A loop GeoJSON Feature from a track, keeping the previous loop's descriptive properties.

    The length is checked before the loop is built (`_checked_length`).
    """
    lons = np.array([c[0] for c in coords])
    lats = np.array([c[1] for c in coords])
    if not (np.all(np.abs(lons) <= 180) and np.all(np.abs(lats) <= 90)):  # NaN fails too
        raise InvalidInput(
            "the track has positions that are not numbers or lie outside lon [-180, 180] / "
            "lat [-90, 90]"
        )
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
    length = _checked_length(rounded, min_length_m, max_length_m)
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
