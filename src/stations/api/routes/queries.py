"""The riders' hot routes: nearest, within a radius, a map's viewport, datum conversion.

Their parameters are parsed by `stations.api.params` in one validation (see there why).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from starlette.concurrency import run_in_threadpool

from stations import query
from stations.api.deps import CatalogDep, ReportsDep, SettingsDep
from stations.api.params import (
    ConvertQuery,
    NearestQuery,
    QueryParams,
    ViewportQuery,
    WithinQuery,
    parse_bbox,
)
from stations.api.responses import GEOJSON, NO_CACHE, GeoJSONResponse, ORJSONResponse
from stations.api.schemas import ERRORS, geojson_responses, json_responses, rider_answer_responses
from stations.api.state import Services
from stations.catalog import Catalog
from stations.coords import position_in
from stations.models import Status
from stations.settings import Settings
from stations.viewport import viewport

router = APIRouter(tags=["queries"], responses=ERRORS)
NEAREST = QueryParams(NearestQuery)
WITHIN = QueryParams(WithinQuery)


def nearest_body(catalog: Catalog, settings: Settings, q: NearestQuery) -> bytes:
    """/api/nearest's GeoJSON body."""
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


def within_body(catalog: Catalog, settings: Settings, q: WithinQuery) -> bytes:
    """/api/within's GeoJSON body."""
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


async def nearest_answer(services: Services, pairs: list[tuple[str, str]]) -> bytes:
    """/api/nearest's body from the query string's pairs (the hot path's entry)."""
    q = NEAREST.parse(pairs)
    return nearest_body(await services.holder.get(), services.settings, q)


async def within_answer(services: Services, pairs: list[tuple[str, str]]) -> bytes:
    """/api/within's body from the query string's pairs (the hot path's entry)."""
    q = WITHIN.parse(pairs)
    return within_body(await services.holder.get(), services.settings, q)


#: The routes `stations.api.hotpath` may answer before the framework, with their answers.
HOT_ROUTES = {"/api/nearest": nearest_answer, "/api/within": within_answer}


@router.get(
    "/api/nearest",
    responses=rider_answer_responses(),
    response_class=GeoJSONResponse,
    response_model=None,
)
async def read_nearest_stations(
    q: Annotated[NearestQuery, Depends(NEAREST)], catalog: CatalogDep, settings: SettingsDep
) -> Response:
    """The k nearest stations to a point, nearest first, with distance (m) and bearing."""
    body = nearest_body(catalog, settings, q)
    return Response(body, media_type=GEOJSON, headers=NO_CACHE)


@router.get(
    "/api/within",
    responses=rider_answer_responses(),
    response_class=GeoJSONResponse,
    response_model=None,
)
async def read_stations_within(
    q: Annotated[WithinQuery, Depends(WITHIN)], catalog: CatalogDep, settings: SettingsDep
) -> Response:
    """Every station within radius_m metres of a point, nearest first."""
    body = within_body(catalog, settings, q)
    return Response(body, media_type=GEOJSON, headers=NO_CACHE)


@router.get(
    "/api/map/stations",
    tags=["maps"],
    responses=geojson_responses("FeatureCollection"),
    response_class=GeoJSONResponse,
    response_model=None,
)
async def read_map_viewport(
    q: Annotated[ViewportQuery, Depends(QueryParams(ViewportQuery))],
    catalog: CatalogDep,
    settings: SettingsDep,
    reports: ReportsDep,
) -> GeoJSONResponse:
    """What a map shows in its view: stations, or grid clusters when too many.

    Up to STATIONS_MAP_MAX_MARKERS (500) stations in view come back as features; beyond that,
    features with ``{"cluster": true, "count": n}`` stand for screen-sized grid cells.
    """
    result = viewport(
        catalog,
        parse_bbox(q.bbox),
        q.zoom,
        kinds=q.kind,
        statuses=q.status or (Status.OPEN,),
        crs=q.crs,
        max_markers=settings.map_max_markers,
        ctx=query.QueryContext(tz=settings.timezone),
    )
    reported = await run_in_threadpool(reports.open_counts)
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
)
async def read_convert(
    q: Annotated[ConvertQuery, Depends(QueryParams(ConvertQuery))],
) -> ORJSONResponse:
    """A position converted between WGS84 (GPS), GCJ-02 (Amap, Tencent) and BD-09 (Baidu)."""
    lon, lat, _ = query.query_point(q.lon, q.lat, q.crs)
    x, y = position_in(lon, lat, q.to, name="to")
    return ORJSONResponse(
        {"lon": round(x, 7), "lat": round(y, 7), "crs": q.to.value},
        headers={"Cache-Control": "public, max-age=86400"},
    )
