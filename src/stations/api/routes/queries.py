"""The riders' hot routes: nearest, within a radius, a map's viewport, datum conversion.

Their parameters are parsed by `stations.api.params` in one validation (see there why).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import State

from stations import query
from stations.api.deps import CatalogDep, SettingsDep, parse_bbox
from stations.api.params import (
    ConvertQuery,
    NearestQuery,
    ViewportQuery,
    WithinQuery,
    openapi_parameters,
    query_model,
    query_parser,
)
from stations.api.responses import GEOJSON, GeoJSONResponse, ORJSONResponse
from stations.api.routes.reports import report_store
from stations.api.schemas import ERRORS, geojson_responses, json_responses
from stations.coords import from_wgs84
from stations.models import Status
from stations.settings import Settings
from stations.viewport import viewport

router = APIRouter(tags=["queries"], responses=ERRORS)
NO_CACHE = {"Cache-Control": "no-cache"}  # open_now changes with the clock


_parse_nearest = query_parser(NearestQuery)
_parse_within = query_parser(WithinQuery)


async def nearest_answer(state: State, pairs: list[tuple[str, str]]) -> bytes:
    """/api/nearest's body from the query string's pairs; shared by the route and the hot path."""
    q = _parse_nearest(pairs)
    settings: Settings = state.settings
    catalog = await state.holder.get()
    return query.find_nearest(
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
    ).encode()


async def within_answer(state: State, pairs: list[tuple[str, str]]) -> bytes:
    """/api/within's body from the query string's pairs; shared by the route and the hot path."""
    q = _parse_within(pairs)
    settings: Settings = state.settings
    catalog = await state.holder.get()
    return query.find_within(
        catalog,
        q.lon,
        q.lat,
        q.radius_m,
        crs=q.crs,
        filters=q.filters(),
        max_radius_m=settings.max_radius_m,
        limit=q.limit,
        ctx=query.QueryContext(tz=settings.timezone),
    ).encode()


#: The routes `stations.api.hotpath` may answer before the framework, with their answers.
HOT_ROUTES = {"/api/nearest": nearest_answer, "/api/within": within_answer}


@router.get(
    "/api/nearest",
    responses=geojson_responses("FeatureCollection"),
    response_class=GeoJSONResponse,
    response_model=None,
    openapi_extra=openapi_parameters(NearestQuery),
)
async def read_nearest_stations(request: Request) -> Response:
    """The k nearest stations to a point, nearest first, with distance (m) and bearing."""
    body = await nearest_answer(request.app.state, request.query_params.multi_items())
    return Response(body, media_type=GEOJSON, headers=NO_CACHE)


@router.get(
    "/api/within",
    responses=geojson_responses("FeatureCollection"),
    response_class=GeoJSONResponse,
    response_model=None,
    openapi_extra=openapi_parameters(WithinQuery),
)
async def read_stations_within(request: Request) -> Response:
    """Every station within radius_m metres of a point, nearest first."""
    body = await within_answer(request.app.state, request.query_params.multi_items())
    return Response(body, media_type=GEOJSON, headers=NO_CACHE)


@router.get(
    "/api/map/stations",
    tags=["maps"],
    responses=geojson_responses("FeatureCollection"),
    response_class=GeoJSONResponse,
    response_model=None,
    openapi_extra=openapi_parameters(ViewportQuery),
)
async def read_map_viewport(
    q: Annotated[ViewportQuery, Depends(query_model(ViewportQuery))],
    catalog: CatalogDep,
    settings: SettingsDep,
) -> GeoJSONResponse:
    """What a map shows in its view: stations, or grid clusters when too many.

    Up to STATIONS_MAP_MAX_MARKERS (500) stations in view come back as features; beyond that,
    features with ``{"cluster": true, "count": n}`` stand for screen-sized grid cells.
    """
    bbox = parse_bbox(q.bbox)
    assert bbox is not None
    result = viewport(
        catalog,
        bbox,
        q.zoom,
        kinds=q.kind,
        statuses=q.status or (Status.OPEN,),
        crs=q.crs,
        max_markers=settings.map_max_markers,
        ctx=query.QueryContext(tz=settings.timezone),
    )
    reported = await run_in_threadpool(report_store(settings).open_counts)
    for feature in result["features"]:
        n = reported.get(feature.get("id", ""))
        if n:
            feature["properties"]["open_reports"] = n
    return GeoJSONResponse(result, headers=NO_CACHE)


@router.get(
    "/api/convert",
    tags=["maps"],
    responses=json_responses(["lon", "lat", "crs"]),
    response_class=ORJSONResponse,
    response_model=None,
    openapi_extra=openapi_parameters(ConvertQuery),
)
async def read_convert(
    q: Annotated[ConvertQuery, Depends(query_model(ConvertQuery))],
) -> ORJSONResponse:
    """A position converted between WGS84 (GPS), GCJ-02 (Amap, Tencent) and BD-09 (Baidu)."""
    lon, lat, _ = query.query_point(q.lon, q.lat, q.crs)
    x, y = from_wgs84(lon, lat, q.to)
    return ORJSONResponse(
        {"lon": round(float(x), 7), "lat": round(float(y), 7), "crs": q.to.value},
        headers={"Cache-Control": "public, max-age=86400"},
    )
