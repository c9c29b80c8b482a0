"""Replace the loop with a driven GPS track: read, check, simplify, re-snap the stations, compare.

The schematic loop is drawn from town seats; a track driven once round is the real road. The new
loop keeps the old file's properties (name, official length, waypoints), and every station is
placed on it again so that the caller can show the new km marks before anything is written.
`stations loop import` and the office app's ``/api/loop`` both build the loop here and store it
through the store (`storage.base.Store.replace_loop`), so the checks and the write are one path.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stations.catalog import Catalog
from stations.loop import Loop, parse_loop
from stations.models import Station
from stations.settings import Settings
from stations.storage.files import read_json
from stations.storage.store import database_loop, read_stations
from stations.storage.track import read_track, track_to_loop

#: A station whose km mark moves more than this along the loop is flagged in a preview.
FLAG_KM = 2.0


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

    @property
    def digest(self) -> str:
        """`loop_digest` of the new loop's geometry."""
        return loop_digest(self.feature)


def loop_digest(feature: dict[str, Any]) -> str:
    """A digest of a loop Feature's coordinates: the same track gives the same digest."""
    coords = feature["geometry"]["coordinates"]
    text = ";".join(f"{x:.7f},{y:.7f}" for x, y, *_ in coords)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _previous_properties(settings: Settings) -> dict[str, Any]:
    """Properties of the stored loop (the database's, else the file's; empty if there is none)."""
    stored, _ = database_loop(settings)
    path = settings.loop_path
    previous = stored if stored is not None else read_json(path) if path.exists() else {}
    if isinstance(previous, dict) and previous.get("type") == "FeatureCollection":
        previous = (previous.get("features") or [{}])[0]
    props = previous.get("properties", {}) if isinstance(previous, dict) else {}
    return props if isinstance(props, dict) else {}


def loop_from_coords(
    settings: Settings,
    coords: list[tuple[float, float]],
    source: str,
    *,
    max_gap_m: float,
    tolerance_m: float,
    stations: Iterable[Station] | None = None,
) -> TrackedLoop:
    """The loop the track ``coords`` (lon, lat) describes, checked, with the stations re-snapped.

    Parameters
    ----------
    settings
        Where the current loop (for its properties) and the stations are.
    coords
        The track's positions in recorded order (`storage.track.read_track`, `parse_gpx`,
        `points_from_fixes`).
    source
        The track's name (kept in the loop's ``source_track``).
    max_gap_m
        The track must end this close to its start (metres).
    tolerance_m
        Simplification tolerance (metres).
    stations
        The stations to place on the new loop; by default read from the configured store.

    Raises
    ------
    StationsError
        When the track does not close or is too short, or the stations do not load.
    """
    props = _previous_properties(settings)
    feature = track_to_loop(coords, props, source, max_gap_m=max_gap_m, tolerance_m=tolerance_m)
    loop = parse_loop(feature, source, calibrate=settings.calibrate_loop)
    if stations is None:
        stations = read_stations(settings).stations
    catalog = Catalog(stations, loop, loop_max_offroute_m=settings.loop_max_offroute_m)
    return TrackedLoop(feature, loop, len(coords), catalog)


def loop_from_track(
    settings: Settings, track: Path, *, max_gap_m: float, tolerance_m: float
) -> TrackedLoop:
    """The loop the GPX file ``track`` describes (`loop_from_coords`)."""
    coords = read_track(track)
    return loop_from_coords(
        settings, coords, track.name, max_gap_m=max_gap_m, tolerance_m=tolerance_m
    )


def _lengths(loop: Loop | None) -> dict[str, Any] | None:
    if loop is None:
        return None
    return {
        "geometric_length_m": round(loop.length_m, 1),
        "official_length_m": loop.official_length_m,
        "km_scale": round(loop.scale, 4),  # km marks = chainage x this (the official length)
        "vertices": len(loop.stored),
        "accuracy": loop.properties.get("accuracy"),
    }


def _moved_km(old: float, new: float, ring_km: float) -> float:
    """``new - old`` along a ring of ``ring_km``, the shorter way (signed)."""
    moved = (new - old) % ring_km
    return moved - ring_km if moved > ring_km / 2 else moved


def compare(current: Catalog, new: TrackedLoop, flag_km: float = FLAG_KM) -> dict[str, Any]:
    """What replacing ``current``'s loop with ``new`` changes: lengths and every station's mark.

    Each station (in the new loop's order, unplaced last) has its old and new km mark and
    off-route distance, ``moved_km`` (along the loop, the shorter way) and ``change``: ``moved``
    (more than ``flag_km``), ``placed`` / ``unplaced`` (gains or loses its km mark), or None;
    ``changed`` counts the stations whose ``change`` is not None (the ones a list flags). Km
    marks are on the official length's scale (each loop's ``km_scale``), as signs give them.
    """
    ring_km = new.loop.km_mark(new.loop.length_m)
    rows = []
    for station in new.catalog.all:
        before = current.loop_places.get(station.id)
        after = new.catalog.loop_places.get(station.id)
        moved = (
            round(_moved_km(before.loop_km, after.loop_km, ring_km), 3)
            if before is not None and after is not None
            else None
        )
        change = None
        if (before is None) != (after is None):
            change = "placed" if after is not None else "unplaced"
        elif moved is not None and abs(moved) > flag_km:
            change = "moved"
        rows.append(
            {
                "id": station.id,
                "name": station.props.name,
                "old_km": round(before.loop_km, 3) if before else None,
                "new_km": round(after.loop_km, 3) if after else None,
                "old_offroute_m": round(before.snap.offroute_m, 1) if before else None,
                "new_offroute_m": round(after.snap.offroute_m, 1) if after else None,
                "moved_km": moved,
                "change": change,
            }
        )
    rows.sort(key=lambda r: (r["new_km"] is None, r["new_km"] or 0.0, r["id"]))
    return {
        "old": _lengths(current.loop),
        "new": {**(_lengths(new.loop) or {}), "track_points": new.track_points},
        "flag_km": flag_km,
        "changed": sum(r["change"] is not None for r in rows),
        "stations": rows,
        "digest": new.digest,
        "loop": new.feature,
    }
