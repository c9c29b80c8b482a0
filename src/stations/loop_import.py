"""Replace the loop with a driven GPS track: read, check, simplify, re-snap the stations, write.

The schematic loop is drawn from town seats; a track driven once round is the real road. The new
loop keeps the old file's properties (name, official length, waypoints), and every station is
placed on it again so that the caller can show the new km marks before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from stations.catalog import Catalog
from stations.loop import Loop, parse_loop
from stations.settings import Settings
from stations.storage.files import atomic_write_bytes, read_json
from stations.storage.loading import load_stations
from stations.storage.track import read_track, track_to_loop


@dataclass(frozen=True)
class TrackedLoop:
    """A loop made from a track, not yet written."""

    feature: dict[str, Any]
    """The loop as a GeoJSON Feature, as it will be stored."""
    loop: Loop
    track_points: int
    """Points in the track before simplification."""
    catalog: Catalog
    """The stations placed on the new loop."""


def _previous_properties(path: Path) -> dict[str, Any]:
    """Properties of the loop stored at ``path`` (empty when there is none)."""
    previous = read_json(path) if path.exists() else {}
    if isinstance(previous, dict) and previous.get("type") == "FeatureCollection":
        previous = (previous.get("features") or [{}])[0]
    props = previous.get("properties", {}) if isinstance(previous, dict) else {}
    return props if isinstance(props, dict) else {}


def loop_from_track(
    settings: Settings, track: Path, *, max_gap_m: float, tolerance_m: float
) -> TrackedLoop:
    """The loop the GPX ``track`` describes, checked, with the stations re-snapped to it.

    Parameters
    ----------
    settings
        Where the current loop (for its properties) and the stations are.
    track
        GPX file of the loop, driven once round.
    max_gap_m
        The track must end this close to its start (metres).
    tolerance_m
        Simplification tolerance (metres).

    Raises
    ------
    StationsError
        When the track cannot be read, does not close, or the stations do not load.
    """
    props = _previous_properties(settings.loop_path)
    coords = read_track(track)
    feature = track_to_loop(coords, props, track.name, max_gap_m=max_gap_m, tolerance_m=tolerance_m)
    loop = parse_loop(feature, str(track), calibrate=settings.calibrate_loop)
    parsed = load_stations(settings.stations_path)
    catalog = Catalog(parsed.stations, loop, loop_max_offroute_m=settings.loop_max_offroute_m)
    return TrackedLoop(feature, loop, len(coords), catalog)


def write_loop(path: Path, feature: dict[str, Any]) -> None:
    """Store the loop ``feature`` at ``path`` as a one-feature collection, atomically."""
    body = orjson.dumps(
        {"type": "FeatureCollection", "features": [feature]}, option=orjson.OPT_INDENT_2
    )
    atomic_write_bytes(path, body + b"\n")
