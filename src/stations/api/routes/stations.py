"""Rider and planner routes: health, stations, nearest, within, the loop."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from stations import query
from stations.api.deps import (
    BBoxDep,
    CatalogDep,
    CrsParam,
    ListFiltersDep,
    SettingsDep,
    reject_unknown_parameters,
)
from stations.api.responses import GeoJSONResponse, ORJSONResponse, cached
from stations.api.schemas import ERRORS, HealthOut, geojson_responses
from stations.coords import CRS
from stations.errors import StationNotFound
from stations.features import station_feature
from stations.info import info_data

router = APIRouter(dependencies=[Depends(reject_unknown_parameters)], responses=ERRORS)
FC = geojson_responses("FeatureCollection")
FEATURE = geojson_responses("Feature")


@router.get("/healthz", tags=["meta"], response_class=ORJSONResponse, response_model=HealthOut)
async def read_health(catalog: CatalogDep) -> ORJSONResponse:
    """Liveness and how many stations are loaded."""
    return ORJSONResponse({"status": "ok", "stations": catalog.count})


@router.get(
    "/api/stations",
    tags=["stations"],
    responses=FC,
    response_class=GeoJSONResponse,
    response_model=None,
)
async def read_stations(
    request: Request,
    catalog: CatalogDep,
    settings: SettingsDep,
    bbox: BBoxDep,
    flt: ListFiltersDep,
    crs: CrsParam = CRS.WGS84,
    limit: Annotated[int, Query(ge=1, le=10_000, description="Page size.")] = 100,
    offset: Annotated[int, Query(ge=0, description="Stations to skip.")] = 0,
) -> Response:
    """All stations as a FeatureCollection, filtered and paged (unlocated: null geometry)."""
    ctx = query.QueryContext(tz=settings.timezone)
    matched = catalog.select(flt.kinds, flt.amenities, flt.statuses, bbox)
    if flt.open_now:
        matched = [s for s in matched if ctx.open_now(s) is not False]
    page = matched[offset : offset + limit]
    body = {
        "type": "FeatureCollection",
        "features": [station_feature(catalog, s, crs, ctx) for s in page],
        "numberMatched": len(matched),
        "numberReturned": len(page),
    }
    return cached(request, body, request.app.state.holder.version, settings.cache_max_age_s)


@router.get(
    "/api/stations/{station_id}",
    tags=["stations"],
    responses=FEATURE,
    response_class=GeoJSONResponse,
    response_model=None,
)
async def read_station(
    request: Request,
    station_id: str,
    catalog: CatalogDep,
    settings: SettingsDep,
    crs: CrsParam = CRS.WGS84,
) -> Response:
    """One station as a GeoJSON Feature, or 404."""
    station = catalog.by_id.get(station_id)
    if station is None:
        raise StationNotFound(f"no station with id {station_id!r}")
    feature = station_feature(catalog, station, crs, query.QueryContext(tz=settings.timezone))
    return cached(request, feature, request.app.state.holder.version, settings.cache_max_age_s)


@router.get(
    "/api/loop",
    tags=["loop"],
    responses=FEATURE,
    response_class=GeoJSONResponse,
    response_model=None,
)
async def read_loop(request: Request, catalog: CatalogDep, settings: SettingsDep) -> Response:
    """The loop as a GeoJSON Feature, with its lengths and the stations' km marks."""
    loop = catalog.loop
    if loop is None:
        raise StationNotFound("no loop is configured")
    info = info_data(catalog)
    props = dict(loop.properties)
    props.update(
        geometric_length_m=round(loop.length_m, 1),
        official_length_m=loop.official_length_m,
        loop_calibration=loop.calibration(),
        station_marks=[m for m in info["station_marks"] if m["loop_km"] is not None],
    )
    feature = {
        "type": "Feature",
        "id": props.get("id", "loop"),
        "geometry": {"type": "LineString", "coordinates": loop.stored.tolist()},
        "properties": props,
    }
    return cached(request, feature, request.app.state.holder.version, settings.cache_max_age_s)
