"""Writes: create, replace, patch and close (or purge) stations. Bearer token required.

Replace, patch and delete honour ``If-Match`` (the station's ETag from ``GET
/api/stations/{id}``, or ``*``): the store compares it with the stored version under its write
lock and answers 412 when the station changed since. Every answer carries the written
station's ETag, so a client can chain its next write on it.

Each write goes through the store (`storage.store.open_store`: validated as loading validates,
atomic, locked across processes, journaled, audited) in a worker thread; the answer is the
stored feature in the requested ``crs``. Every worker applies the write on its next request;
once writes pause for ``STATIONS_COMPACT_IDLE_S`` seconds, the journal is folded into the file
(`api.compaction`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request
from pydantic import Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from stations.api.auth import WriterDep
from stations.api.deps import CRS_QUERY, CrsParam, SettingsDep
from stations.api.params import QueryModel, QueryParams
from stations.api.responses import GeoJSONResponse, if_match_version, station_answer
from stations.api.schemas import ERRORS, geojson_responses
from stations.api.state import services_of
from stations.api.strict import StationId, StrictJSONRoute
from stations.coords import CRS, from_wgs84, wgs84_position
from stations.errors import InvalidInput
from stations.storage.base import Feature, Store
from stations.storage.loading import position_problem
from stations.storage.revision import feature_version
from stations.storage.store import open_store

router = APIRouter(
    prefix="/api/stations",
    tags=["editing"],
    responses={
        **ERRORS,
        401: {"description": "No bearer token."},
        403: {"description": "Wrong token, or writes disabled."},
        409: {"description": "The id is already in use."},
        412: {"description": "If-Match names a version the station no longer has."},
    },
    route_class=StrictJSONRoute,
)
FEATURE = geojson_responses("Feature")
CRS_ONLY = [Depends(CRS_QUERY.refuse_unknown)]  # unknown parameters refused before the token


class DeleteQuery(QueryModel):
    """Parameters of a delete."""

    purge: bool = Field(
        default=False, description="Remove it for good instead of marking it closed."
    )


DELETE_QUERY = QueryParams(DeleteQuery)
FeatureBody = Annotated[
    dict[str, Any],
    Body(
        description="A GeoJSON Feature: Point geometry in `crs` (lon, lat) and the station "
        "properties (see the README's schema).",
    ),
]


async def writable_store(request: Request, settings: SettingsDep) -> Store:
    """The store, validating through this worker's cache (its own writes are not re-validated)."""
    return open_store(settings, services_of(request).holder.cache)


StoreDep = Annotated[Store, Depends(writable_store)]


async def _written(request: Request) -> None:
    """After a write: serve it at once on this worker, and fold the journal once writes pause."""
    services = services_of(request)
    await services.holder.refresh()  # read-your-writes on this worker
    services.compaction.written()


def _with_point(feature: Feature, x: float, y: float) -> Feature:
    """The feature with its Point moved to (x, y), rounded to 1 cm (an elevation kept as is)."""
    geom = feature["geometry"]
    coordinates = [round(float(x), 7), round(float(y), 7), *geom["coordinates"][2:]]
    return {**feature, "geometry": {**geom, "coordinates": coordinates}}


def _geometry_to_wgs84(feature: Any, crs: CRS) -> Any:
    """A Point given in ``crs`` converted to WGS84 (range-checked first); others untouched.

    Only valid positions are converted, and only lon and lat change: every other member is
    left for the store's validation to judge (`storage.loading.parse_feature`), so nothing
    is dropped or added unchecked.
    """
    if not isinstance(feature, dict):
        raise InvalidInput("expected a GeoJSON Feature object")
    geom = feature.get("geometry")
    if crs is CRS.WGS84 or not isinstance(geom, dict) or geom.get("type") != "Point":
        return feature
    coords = geom.get("coordinates")
    if not isinstance(coords, list) or position_problem(coords) is not None:
        return feature  # not numbers in range: the validator names what is wrong
    position = wgs84_position(coords[0], coords[1], crs, name="geometry.coordinates")
    return _with_point(feature, *position)


def _answer(
    request: Request, feature: Feature | None, crs: CRS, status: int = 200, **headers: str
) -> Response:
    if feature is None:
        return GeoJSONResponse({"deleted": True}, status_code=status)
    version = feature_version(feature)
    geom = feature.get("geometry")
    if crs is not CRS.WGS84 and isinstance(geom, dict):
        lon, lat = geom["coordinates"][:2]
        feature = _with_point(feature, *from_wgs84(lon, lat, crs))
    return station_answer(request, feature, version, status, headers)


@router.post(
    "",
    status_code=201,
    responses=FEATURE,
    response_class=GeoJSONResponse,
    response_model=None,
    dependencies=CRS_ONLY,
)
async def create_station(
    request: Request,
    body: FeatureBody,
    writer: WriterDep,
    store: StoreDep,
    crs: CrsParam,
) -> Response:
    """Add a station (201 with its Location), or 409 if the id is in use."""
    feature = _geometry_to_wgs84(body, crs)
    stored = await run_in_threadpool(store.create, feature, writer)
    await _written(request)
    return _answer(
        request, stored, crs, 201, Location=f"/api/stations/{stored['properties']['id']}"
    )


@router.put(
    "/{station_id}",
    responses=FEATURE,
    response_class=GeoJSONResponse,
    response_model=None,
    dependencies=CRS_ONLY,
)
async def replace_station(
    request: Request,
    station_id: StationId,
    body: FeatureBody,
    writer: WriterDep,
    store: StoreDep,
    crs: CrsParam,
) -> Response:
    """Replace a station entirely."""
    feature = _geometry_to_wgs84(body, crs)
    base = if_match_version(request)
    stored = await run_in_threadpool(store.replace, station_id, feature, writer, base)
    await _written(request)
    return _answer(request, stored, crs)


@router.patch(
    "/{station_id}",
    responses=FEATURE,
    response_class=GeoJSONResponse,
    response_model=None,
    dependencies=CRS_ONLY,
)
async def patch_station(
    request: Request,
    station_id: StationId,
    body: Annotated[
        dict[str, Any],
        Body(description="{'properties': {...changed...}} and/or {'geometry': Point in crs}."),
    ],
    writer: WriterDep,
    store: StoreDep,
    crs: CrsParam,
) -> Response:
    """Change some properties and/or the position of a station."""
    converted = _geometry_to_wgs84({"type": "Feature", **body}, crs)
    changes = {k: v for k, v in converted.items() if k != "type"}
    base = if_match_version(request)
    stored = await run_in_threadpool(store.patch, station_id, changes, writer, base)
    await _written(request)
    return _answer(request, stored, crs)


@router.delete(
    "/{station_id}",
    responses=FEATURE,
    response_class=GeoJSONResponse,
    response_model=None,
    dependencies=[Depends(DELETE_QUERY.refuse_unknown)],
)
async def delete_station(
    request: Request,
    station_id: StationId,
    writer: WriterDep,
    store: StoreDep,
    q: Annotated[DeleteQuery, Depends(DELETE_QUERY)],
) -> Response:
    """Mark a station closed (status: closed), or remove it with purge=true."""
    base = if_match_version(request)
    stored = await run_in_threadpool(store.delete, station_id, writer, q.purge, base)
    await _written(request)
    return _answer(request, stored, CRS.WGS84)
