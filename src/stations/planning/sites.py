"""Planners' answers on the real loop: coverage reports, suggested sites, demand, exports.

Glue between the catalog (stations, the loop, its calibration) and the exact ring algorithms in
`stations.planning.ring`. Positions on the ring are in the loop's reported metres (official length);
geometry goes back through the loop's geometric chainage.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stations.catalog import Catalog
from stations.coords import CRS, wgs84_position
from stations.errors import InvalidInput
from stations.geodesy import GEOD
from stations.loop import Loop, Snap
from stations.models import Status
from stations.planning import ring as planning
from stations.planning.ring import Demand, Ring, Site

#: Above this many demand points the ring MCLP aggregates them to 10 m bins first.
MAX_DEMAND = 2000
#: Demand farther than this from the loop is "off the loop": solved with spopt instead.
DEFAULT_DEMAND_OFFROUTE_M = 5_000.0


def _loop(catalog: Catalog) -> Loop:
    if catalog.loop is None:
        raise InvalidInput("no loop is configured; planning works along the loop")
    return catalog.loop


def statuses_for(include_planned: bool) -> tuple[Status, ...]:
    """Stations that count: in service, and planned ones when asked."""
    return (Status.OPEN, Status.PLANNED) if include_planned else (Status.OPEN,)


def ring_of(catalog: Catalog, include_planned: bool = False) -> Ring:
    """The loop as a planning ring with the stations on it (reported metres)."""
    loop = _loop(catalog)
    wanted = set(statuses_for(include_planned))
    sites = tuple(
        Site(place.snap.chainage_m * loop.scale, place.snap.offroute_m)
        for i, place in catalog.loop_members
        if catalog.station_at(i).props.status in wanted
    )
    return Ring(loop.length_m * loop.scale, sites)


def point_at(loop: Loop, u: float) -> tuple[float, float]:
    """WGS84 (lon, lat) of a ring position."""
    return loop.point_at(u / loop.scale)


def stretch(loop: Loop, a: float, b: float, properties: dict[str, Any]) -> dict[str, Any]:
    """A stretch of the ring (ring metres, may run past the end) as a GeoJSON LineString."""
    coords = [[round(x, 7), round(y, 7)] for x, y in loop.slice(a / loop.scale, b / loop.scale)]
    return {
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": coords},
        "properties": properties,
    }


def _km(u: float, length: float) -> float:
    return round((u % length) / 1000.0, 3)


def nearest_town(loop: Loop, lon: float, lat: float) -> dict[str, Any] | None:
    """The nearest town seat among the loop's waypoints (GeoNames), with the distance."""
    best = None
    for w in loop.properties.get("waypoints", []) or []:
        if not isinstance(w, dict) or "lon" not in w or "lat" not in w:
            continue
        _, _, d = GEOD.inv(lon, lat, float(w["lon"]), float(w["lat"]))
        if best is None or d < best["distance_m"]:
            best = {"name": w.get("name"), "name_en": w.get("name_en"), "distance_m": round(d, 1)}
    return best


@dataclass(frozen=True)
class Objective:
    """How well a set of stations serves the loop."""

    max_distance_m: float
    covered_fraction: float | None
    max_gap_m: float | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (inf as null)."""
        return {
            "max_distance_m": None
            if math.isinf(self.max_distance_m)
            else round(self.max_distance_m, 1),
            "covered_fraction": None
            if self.covered_fraction is None
            else round(self.covered_fraction, 5),
            "max_gap_m": None if self.max_gap_m is None else round(self.max_gap_m, 1),
        }


def objective(ring: Ring, radius_m: float | None) -> Objective:
    """Largest distance, and coverage and largest gap at ``radius_m`` when given."""
    if radius_m is None:
        return Objective(planning.max_distance(ring), None, None)
    cov = planning.coverage(ring, radius_m)
    return Objective(cov.max_distance_m, cov.covered_fraction, cov.max_gap_m)


def coverage_report(
    catalog: Catalog, radius_m: float, include_planned: bool = False, profile_step_m: float = 1000.0
) -> dict[str, Any]:
    """Coverage of the loop at ``radius_m`` by road, for the CLI, the API and exports."""
    loop = _loop(catalog)
    ring = ring_of(catalog, include_planned)
    cov = planning.coverage(ring, radius_m)
    gaps = [
        stretch(
            loop,
            a,
            b,
            {
                "from_km": _km(a, ring.length),
                "to_km": _km(b, ring.length),
                "length_m": round(b - a, 1),
            },
        )
        for a, b in sorted(cov.gaps, key=lambda g: g[0])
    ]
    try:
        to_cover: list[Site] | None = planning.min_cover(ring, radius_m)
    except InvalidInput:  # too many to list: the radius is tiny next to the loop
        to_cover = None
    positions = np.arange(0.0, ring.length, profile_step_m)
    dists = planning.distances_at(ring, positions)
    return {
        "radius_m": cov.radius_m,
        "stations_counted": len(ring.sites),
        "statuses": [s.value for s in statuses_for(include_planned)],
        "covered_fraction": round(cov.covered_fraction, 5),
        "max_gap_m": round(cov.max_gap_m, 1),
        "max_distance_m": None if math.isinf(cov.max_distance_m) else round(cov.max_distance_m, 1),
        "gaps": {"type": "FeatureCollection", "features": gaps},
        "min_new_stations_to_cover": None if to_cover is None else len(to_cover),
        "to_cover_sites": None
        if to_cover is None
        else sorted(_km(s.u, ring.length) for s in to_cover),
        "profile": [
            {"loop_km": round(p / 1000.0, 3), "distance_m": None if math.isinf(d) else round(d, 1)}
            for p, d in zip(positions.tolist(), dists.tolist(), strict=True)
        ],
        "loop_calibration": loop.calibration(),
    }


# ---------------------------------------------------------------- demand


def read_demand(path: Path, crs: CRS = CRS.WGS84) -> list[tuple[float, float, float]]:
    """Demand points (WGS84 lon, lat, weight) from CSV (lon,lat[,weight]) or GeoJSON points."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InvalidInput(f"cannot read demand file {path}: {exc.strerror or exc}") from None
    if path.suffix.lower() in (".geojson", ".json"):
        return parse_demand_geojson(text, crs, str(path))
    return parse_demand_csv(text, crs, str(path))


def parse_demand_csv(text: str, crs: CRS, source: str) -> list[tuple[float, float, float]]:
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
            w = float(row.get(w_key) or 1.0) if w_key else 1.0
            if not math.isfinite(w) or w < 0:
                raise InvalidInput(f"row {n}: weight must be a number >= 0, got {row.get(w_key)!r}")
        except (InvalidInput, ValueError) as exc:
            problems.append(str(exc))
            continue
        out.append((wx, wy, w))
    if problems:
        raise InvalidInput(f"{source}: " + "; ".join(problems[:20]))
    return out


def parse_demand_geojson(text: str, crs: CRS, source: str) -> list[tuple[float, float, float]]:
    """GeoJSON Point features (or a FeatureCollection of them); ``weight`` property optional."""
    import json

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
        coords = geom.get("coordinates") or [None, None]
        wx, wy = wgs84_position(coords[0], coords[1], crs, name=f"feature {i}")
        w = (f.get("properties") or {}).get("weight", 1.0)
        if isinstance(w, bool) or not isinstance(w, int | float) or not math.isfinite(w) or w < 0:
            raise InvalidInput(f"{source}: feature {i}: weight must be a number >= 0")
        out.append((wx, wy, float(w)))
    return out


def demand_on_ring(
    loop: Loop, points: Sequence[tuple[float, float, float]], snaps: Sequence[Snap] | None = None
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


# ---------------------------------------------------------------- suggestions


def _site_feature(loop: Loop, ring: Ring, site: Site, props: dict[str, Any]) -> dict[str, Any]:
    lon, lat = point_at(loop, site.u)
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [round(lon, 7), round(lat, 7)]},
        "properties": {
            "loop_km": _km(site.u, ring.length),
            "lon": round(lon, 7),
            "lat": round(lat, 7),
            "nearest_town": nearest_town(loop, lon, lat),
            **props,
        },
    }


def suggest(
    catalog: Catalog,
    count: int,
    radius_m: float | None = None,
    demand: Sequence[tuple[float, float, float]] | None = None,
    include_planned: bool = False,
) -> dict[str, Any]:
    """``count`` suggested new sites, as a FeatureCollection with the objective before/after.

    Without demand: p-center on the ring (minimise the largest along-loop distance from any
    point of the loop to its nearest station). With demand: maximal covering at ``radius_m``
    (exact on the ring), or spopt's MCLP when the demand lies off the loop.
    """
    loop = _loop(catalog)
    ring = ring_of(catalog, include_planned)
    planning._check_count(count)
    extra: dict[str, Any] = {}
    if demand:
        if radius_m is None:
            raise InvalidInput("demand-weighted suggestions need a radius (radius_m / --radius-km)")
        snaps = [loop.snap(x, y) for x, y, _ in demand]
        if max(s.offroute_m for s in snaps) > DEFAULT_DEMAND_OFFROUTE_M:
            from stations.planning.offloop import suggest_off_loop

            return suggest_off_loop(catalog, count, radius_m, demand, include_planned)
        points = demand_on_ring(loop, demand, snaps)
        sites, gained = planning.mclp(ring, points, radius_m, count)
        total = sum(w for _, _, w in demand)
        before = planning.covered_weight(ring, points, radius_m)
        extra = {
            "method": "maximal covering on the ring (exact)",
            "demand": {
                "points": len(demand),
                "total_weight": total,
                "covered_before": before,
                "covered_after": before + gained,
            },
        }
    else:
        sites = planning.p_center(ring, count)
        extra = {"method": "p-center on the ring (exact to 1 cm)"}
    after_ring = ring.with_sites(sites)
    with_all = objective(after_ring, radius_m)
    features = []
    for i, site in enumerate(sorted(sites, key=lambda s: s.u)):
        others = [s for s in sites if s is not site]
        without = objective(ring.with_sites(others), radius_m)
        features.append(
            _site_feature(
                loop,
                ring,
                site,
                {
                    "rank": i + 1,
                    "improvement": {"before": without.as_dict(), "after": with_all.as_dict()},
                },
            )
        )
    return {
        "type": "FeatureCollection",
        "features": features,
        "count": count,
        "radius_m": radius_m,
        "stations_counted": len(ring.sites),
        "objective": {
            "before": objective(ring, radius_m).as_dict(),
            "after": with_all.as_dict(),
        },
        "solver": "stations.planning (exact ring algorithms)",
        **extra,
        "loop_calibration": loop.calibration(),
    }


# ---------------------------------------------------------------- exports


def write_features(collection: dict[str, Any], path: Path, layer: str) -> Path:
    """Write a FeatureCollection as GeoJSON or GeoPackage (by suffix), for QGIS."""
    import geopandas as gpd

    suffix = path.suffix.lower()
    if suffix not in (".geojson", ".json", ".gpkg"):
        raise InvalidInput(f"export to .geojson or .gpkg; got {path.name!r}")
    features = []
    for f in collection["features"]:
        props = {
            k: (v if not isinstance(v, dict | list) else _flat(v))
            for k, v in f["properties"].items()
        }
        features.append({**f, "properties": props})
    frame = gpd.GeoDataFrame.from_features(features, crs="EPSG:4326")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{suffix}")  # GDAL picks the format by suffix
    driver = "GPKG" if suffix == ".gpkg" else "GeoJSON"
    tmp.unlink(missing_ok=True)
    try:
        frame.to_file(tmp, layer=layer, driver=driver, engine="pyogrio")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _flat(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)
