"""Demand for planning: weighted points read from CSV or GeoJSON, and snapped onto the ring.

A demand point is ``(lon, lat, weight)`` in WGS84 degrees: riders' pings, places with orders.
Files may be in another datum (Amap's GCJ-02, Baidu's BD-09); points are converted on reading.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path

from stations.coords import CRS, wgs84_position
from stations.errors import InvalidInput
from stations.loop import Loop, Snap
from stations.planning.ring import Demand

#: A demand point: WGS84 longitude, latitude (degrees) and weight.
DemandPoint = tuple[float, float, float]
#: The largest weight of one point: sums of thousands of them stay exact and finite.
MAX_DEMAND_WEIGHT = 1e9


def check_weight(weight: object, where: str) -> float:
    """``weight`` as a float, or `InvalidInput` naming ``where`` unless a number in [0, 1e9]."""
    if isinstance(weight, bool) or not isinstance(weight, int | float | str):
        raise InvalidInput(f"{where}: weight must be a number from 0 to {MAX_DEMAND_WEIGHT:g}")
    try:
        w = float(weight)
    except (ValueError, OverflowError):
        w = math.nan
    if not (math.isfinite(w) and 0 <= w <= MAX_DEMAND_WEIGHT):
        raise InvalidInput(
            f"{where}: weight must be a number from 0 to {MAX_DEMAND_WEIGHT:g}; got {weight!r:.40}"
        )
    return w


def check_demand(points: Sequence[DemandPoint]) -> list[DemandPoint]:
    """Demand points as the solvers need them: WGS84 in range, weights finite in [0, 1e9].

    The solvers take any float; a NaN or an infinite weight made them raise after seconds.
    """
    out = []
    for i, (lon, lat, w) in enumerate(points):
        if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180):
            raise InvalidInput(f"demand[{i}]: lon/lat must be finite WGS84 degrees")
        if not -90 <= lat <= 90:
            raise InvalidInput(f"demand[{i}]: lat must be within [-90, 90]")
        out.append((float(lon), float(lat), check_weight(w, f"demand[{i}]")))
    return out


def read_demand(path: Path, crs: CRS = CRS.WGS84) -> list[DemandPoint]:
    """Demand points (WGS84 lon, lat, weight) from CSV (lon,lat[,weight]) or GeoJSON points."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InvalidInput(f"cannot read demand file {path}: {exc.strerror or exc}") from None
    if path.suffix.lower() in (".geojson", ".json"):
        return parse_demand_geojson(text, crs, str(path))
    return parse_demand_csv(text, crs, str(path))


def parse_demand_csv(text: str, crs: CRS, source: str) -> list[DemandPoint]:
    """CSV with a header naming lon/lng/longitude/经度, lat/latitude/纬度 and optional weight."""
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows:
        raise InvalidInput(f"{source}: no demand rows (a header lon,lat[,weight] and rows)")
    names = {k.strip().lower(): k for k in rows[0] if k}
    lon_key = next((names[k] for k in ("lon", "lng", "longitude", "经度") if k in names), None)
    lat_key = next((names[k] for k in ("lat", "latitude", "纬度") if k in names), None)
    w_key = next((names[k] for k in ("weight", "count", "orders", "权重") if k in names), None)
    if lon_key is None or lat_key is None:
        raise InvalidInput(f"{source}: the header must name lon and lat columns")
    out = []
    problems = []
    for n, row in enumerate(rows, start=2):
        try:
            wx, wy = wgs84_position(row.get(lon_key), row.get(lat_key), crs, name=f"row {n}")
            w = check_weight(row.get(w_key) or 1.0, f"row {n}") if w_key else 1.0
        except (InvalidInput, ValueError) as exc:
            problems.append(str(exc))
            continue
        out.append((wx, wy, w))
    if problems:
        raise InvalidInput(f"{source}: " + "; ".join(problems[:20]))
    return out


def parse_demand_geojson(text: str, crs: CRS, source: str) -> list[DemandPoint]:
    """GeoJSON Point features (or a FeatureCollection of them); ``weight`` property optional."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{source}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    feats = doc.get("features") if isinstance(doc, dict) else None
    if not isinstance(feats, list):
        raise InvalidInput(f"{source}: expected a GeoJSON FeatureCollection of Points")
    out = []
    for i, f in enumerate(feats):
        geom = f.get("geometry") if isinstance(f, dict) else None
        if not isinstance(geom, dict) or geom.get("type") != "Point":
            raise InvalidInput(f"{source}: feature {i} is not a Point")
        coords = geom.get("coordinates")
        lon, lat = (coords + [None, None])[:2] if isinstance(coords, list) else (None, None)
        wx, wy = wgs84_position(lon, lat, crs, name=f"feature {i}")
        props = f.get("properties") or {}
        w = props.get("weight", 1.0) if isinstance(props, dict) else None
        if isinstance(w, str):
            w = None  # GeoJSON weights are numbers; CSV cells are text
        out.append((wx, wy, check_weight(w, f"{source}: feature {i}")))
    return out


def demand_on_ring(
    loop: Loop, points: Sequence[DemandPoint], snaps: Sequence[Snap] | None = None
) -> list[Demand]:
    """Snap demand points to the loop (ring metres); nearby points at 10 m bins merge.

    ``snaps`` are the points' snaps when the caller has them already.
    """
    if snaps is None:
        snaps = [loop.snap(lon, lat) for lon, lat, _ in points]
    bins: dict[tuple[int, int], float] = {}
    for (_, _, w), snap in zip(points, snaps, strict=True):
        key = (round(snap.chainage_m * loop.scale / 10.0), round(snap.offroute_m / 10.0))
        bins[key] = bins.get(key, 0.0) + w
    return [Demand(u * 10.0, o * 10.0, w) for (u, o), w in bins.items()]
