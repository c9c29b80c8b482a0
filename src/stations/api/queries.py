"""The riders' hot routes: nearest stations and stations within a radius.

Their parameters are parsed by `stations.api.params` in one validation (see there why).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from stations import query
from stations.api.deps import CatalogDep, SettingsDep
from stations.api.params import NearestQuery, WithinQuery, openapi_parameters, query_model
from stations.api.responses import GeoJSONResponse
from stations.api.schemas import ERRORS, geojson_responses

router = APIRouter(tags=["queries"], responses=ERRORS)
NO_CACHE = {"Cache-Control": "no-cache"}  # open_now changes with the clock


@router.get(
    "/api/nearest",
    responses=geojson_responses("FeatureCollection"),
    response_class=GeoJSONResponse,
    response_model=None,
    openapi_extra=openapi_parameters(NearestQuery),
)
async def read_nearest_stations(
    q: Annotated[NearestQuery, Depends(query_model(NearestQuery))],
    catalog: CatalogDep,
    settings: SettingsDep,
) -> GeoJSONResponse:
    """The k nearest stations to a point, nearest first, with distance (m) and bearing."""
    result = query.nearest(
        catalog,
        q.lon,
        q.lat,
        k=q.k,
        by=q.by,
        crs=q.crs,
        filters=q.filters(),
        max_distance_m=q.max_distance_m,
        max_k=settings.max_k,
        ctx=query.QueryContext(tz=settings.timezone),
    )
    return GeoJSONResponse(result, headers=NO_CACHE)


@router.get(
    "/api/within",
    responses=geojson_responses("FeatureCollection"),
    response_class=GeoJSONResponse,
    response_model=None,
    openapi_extra=openapi_parameters(WithinQuery),
)
async def read_stations_within(
    q: Annotated[WithinQuery, Depends(query_model(WithinQuery))],
    catalog: CatalogDep,
    settings: SettingsDep,
) -> GeoJSONResponse:
    """Every station within radius_m metres of a point, nearest first."""
    result = query.within(
        catalog,
        q.lon,
        q.lat,
        q.radius_m,
        crs=q.crs,
        filters=q.filters(),
        max_radius_m=settings.max_radius_m,
        limit=q.limit,
        ctx=query.QueryContext(tz=settings.timezone),
    )
    return GeoJSONResponse(result, headers=NO_CACHE)
