"""Rider and planner routes: health, stations, nearest, within, the loop."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from stations.api.deps import CatalogDep, SettingsDep
from stations.api.params import NO_QUERY, CrsQuery, QueryParams, StationsQuery
from stations.api.responses import GeoJSONResponse, ORJSONResponse, cached
from stations.api.schemas import ERRORS, HealthOut, geojson_responses
from stations.errors import StationNotFound
from stations.features import QueryContext, station_feature
from stations.info import info_data

router = APIRouter(responses=ERRORS)
FC = geojson_responses("FeatureCollection")
FEATURE = geojson_responses("Feature")


@router.get(
    "/healthz",
    tags=["meta"],
    response_class=ORJSONResponse,
    response_model=HealthOut,
    dependencies=[Depends(NO_QUERY)],
)
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
    q: Annotated[StationsQuery, Depends(QueryParams(StationsQuery))],
    catalog: CatalogDep,
    settings: SettingsDep,
) -> Response:
    """All stations as a FeatureCollection, filtered and paged (unlocated: null geometry)."""
    ctx = QueryContext(tz=settings.timezone)
    flt = q.filters()
    matched = catalog.select(flt.kinds, flt.amenities, flt.statuses, q.bbox)
    if flt.open_now:
        matched = [s for s in matched if ctx.open_now(s) is not False]
    page = matched[q.offset : q.offset + q.limit]
    body = {
        "type": "FeatureCollection",
        "features": [station_feature(catalog, s, q.crs, ctx) for s in page],
        "numberMatched": len(matched),
        "numberReturned": len(page),
    }
    return cached(request, body)


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
    q: Annotated[CrsQuery, Depends(QueryParams(CrsQuery))],
    catalog: CatalogDep,
    settings: SettingsDep,
) -> Response:
    """One station as a GeoJSON Feature, or 404."""
    station = catalog.by_id.get(station_id)
    if station is None:
        raise StationNotFound(f"no station with id {station_id!r}")
    ctx = QueryContext(tz=settings.timezone)
    return cached(request, station_feature(catalog, station, q.crs, ctx))


@router.get(
    "/api/loop",
    tags=["loop"],
    responses=FEATURE,
    response_class=GeoJSONResponse,
    response_model=None,
    dependencies=[Depends(NO_QUERY)],
)
async def read_loop(request: Request, catalog: CatalogDep) -> Response:
    """The loop as a GeoJSON Feature, with its lengths and the stations' km marks."""
    loop = catalog.loop
    if loop is None:
        raise StationNotFound("no loop is configured")
    marks = info_data(catalog)["station_marks"]
    props = dict(loop.properties)
    props.update(
        geometric_length_m=round(loop.length_m, 1),
        official_length_m=loop.official_length_m,
        loop_calibration=loop.calibration(),
        station_marks=[m for m in marks if m["loop_km"] is not None],
    )
    return cached(request, loop.feature(props))
