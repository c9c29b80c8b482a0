"""Rider and planner routes: health, stations, nearest, within, the loop."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from stations.api.deps import CatalogDep, HolderDep, SettingsDep
from stations.api.params import NO_QUERY, CrsQuery, QueryParams, StationsQuery
from stations.api.responses import GeoJSONResponse, ORJSONResponse, cached, station_answer
from stations.api.schemas import ERRORS, HealthOut, geojson_responses
from stations.api.strict import StationId
from stations.features import QueryContext
from stations.info import loop_feature
from stations.query import list_stations, station_by_id
from stations.storage.revision import station_version

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
async def read_health(holder: HolderDep) -> ORJSONResponse:
    """Liveness and how many stations are loaded (with a PostgreSQL store: how far it follows)."""
    catalog = await holder.get()
    return ORJSONResponse({**holder.health(), "stations": catalog.count})


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
    page = list_stations(
        catalog, q.filters(), bbox=q.bbox, crs=q.crs, offset=q.offset, limit=q.limit, ctx=ctx
    )
    return cached(request, page)


@router.get(
    "/api/stations/{station_id}",
    tags=["stations"],
    responses=FEATURE,
    response_class=GeoJSONResponse,
    response_model=None,
)
async def read_station(
    request: Request,
    station_id: StationId,
    q: Annotated[CrsQuery, Depends(QueryParams(CrsQuery))],
    catalog: CatalogDep,
    settings: SettingsDep,
) -> Response:
    """One station as a GeoJSON Feature (strong ETag: its version, for If-Match), or 404."""
    ctx = QueryContext(tz=settings.timezone)
    feature = station_by_id(catalog, station_id, q.crs, ctx)
    version = station_version(catalog.by_id[station_id])
    cache = f"public, max-age={settings.cache_max_age_s}"
    return station_answer(request, feature, version, headers={"Cache-Control": cache})


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
    return cached(request, loop_feature(catalog))
