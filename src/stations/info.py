"""A report on the loaded data: counts by kind, the loop's lengths, every station's km mark.

A pure function of the catalog, shared by ``stations info``, ``stations import-loop`` and the
API's ``/api/loop``.
"""

from __future__ import annotations

from typing import Any

from stations.catalog import Catalog
from stations.errors import StationNotFound


def station_marks(catalog: Catalog) -> list[dict[str, Any]]:
    """Every station with its km mark and off-route distance, in loop order (unplaced last)."""
    rows = []
    for s in catalog.all:
        place = catalog.loop_places.get(s.id)
        rows.append(
            {
                "id": s.id,
                "name": s.props.name,
                "kind": s.props.kind.value,
                "status": s.props.status.value,
                "position_accuracy": s.props.position_accuracy.value,
                "loop_km": round(place.loop_km, 3) if place else None,
                "offroute_m": round(place.snap.offroute_m, 1) if place else None,
            }
        )
    rows.sort(key=lambda r: (r["loop_km"] is None, r["loop_km"] or 0.0, r["id"]))
    return rows


def info_data(catalog: Catalog) -> dict[str, Any]:
    """Counts by kind, loop lengths and calibration, every station's km mark, load warnings."""
    loop = catalog.loop
    return {
        "stations": catalog.count,
        "by_kind": catalog.counts_by_kind(),
        "loop": None
        if loop is None
        else {
            "name": loop.properties.get("name"),
            "geometric_length_m": round(loop.length_m, 1),
            "official_length_m": loop.official_length_m,
            "calibration": loop.calibration(),
        },
        "station_marks": station_marks(catalog),
        "warnings": catalog.warnings,
    }


def loop_feature(catalog: Catalog) -> dict[str, Any]:
    """The loop as a GeoJSON Feature, with its lengths and the located stations' km marks."""
    loop = catalog.loop
    if loop is None:
        raise StationNotFound("no loop is configured")
    props = dict(loop.properties)
    props.update(
        geometric_length_m=round(loop.length_m, 1),
        official_length_m=loop.official_length_m,
        loop_calibration=loop.calibration(),
        station_marks=[m for m in station_marks(catalog) if m["loop_km"] is not None],
    )
    return loop.feature(props)
