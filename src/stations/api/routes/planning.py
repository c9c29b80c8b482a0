"""Planners' routes: coverage of the loop and suggested sites (GET, or POST with demand points)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from stations.api.deps import CatalogDep, SettingsDep
from stations.api.params import NO_QUERY, QueryModel, QueryParams
from stations.api.responses import GeoJSONResponse, ORJSONResponse
from stations.api.schemas import ERRORS, geojson_responses, json_responses
from stations.api.strict import StrictJSONRoute
from stations.coords import CRS, wgs84_position
from stations.errors import InvalidInput
from stations.planning.demand import MAX_DEMAND_WEIGHT
from stations.planning.sites import coverage_report, suggest

router = APIRouter(
    prefix="/api/planning", tags=["planning"], responses=ERRORS, route_class=StrictJSONRoute
)
MAX_COUNT = 100
MAX_DEMAND = 5000
Planned = Annotated[bool, Field(description="Count planned stations as well as those in service.")]


class CoverageQuery(QueryModel):
    """Parameters of the coverage report."""

    radius_m: float = Field(gt=0, description="Service distance along the road, metres.")
    include_planned: Planned = False


class SuggestQuery(QueryModel):
    """Parameters of the suggested sites (without demand)."""

    count: int = Field(ge=0, le=MAX_COUNT, description="How many new sites.")
    radius_m: float | None = Field(
        default=None, gt=0, description="Service distance (m) for the coverage figures."
    )
    include_planned: Planned = False


def _check_radius(radius_m: float | None, maximum: float) -> None:
    if radius_m is not None and radius_m > maximum:
        raise InvalidInput(f"radius_m must be at most {maximum:g} m; got {radius_m:g}")


@router.get("/coverage", response_class=ORJSONResponse, responses=json_responses(["gaps"]))
async def read_coverage(
    q: Annotated[CoverageQuery, Depends(QueryParams(CoverageQuery))],
    catalog: CatalogDep,
    settings: SettingsDep,
) -> ORJSONResponse:
    """Covered share, uncovered stretches (GeoJSON, from/to km), largest gap, distance profile."""
    _check_radius(q.radius_m, settings.max_radius_m)
    return ORJSONResponse(coverage_report(catalog, q.radius_m, q.include_planned))


@router.get(
    "/suggest",
    response_class=GeoJSONResponse,
    response_model=None,
    responses=geojson_responses("FeatureCollection"),
)
async def read_suggestions(
    q: Annotated[SuggestQuery, Depends(QueryParams(SuggestQuery))],
    catalog: CatalogDep,
    settings: SettingsDep,
) -> GeoJSONResponse:
    """Sites minimising the largest along-loop distance to a station (exact p-center)."""
    _check_radius(q.radius_m, settings.max_radius_m)
    result = await run_in_threadpool(suggest, catalog, q.count, q.radius_m, None, q.include_planned)
    return GeoJSONResponse(result)


class DemandPoint(BaseModel):
    """One demand point (a rider's ping, a place with orders)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    lon: float = Field(strict=True, description="Longitude in degrees of `crs`.")
    lat: float = Field(strict=True, description="Latitude in degrees of `crs`.")
    weight: float = Field(
        default=1.0,
        ge=0,
        le=MAX_DEMAND_WEIGHT,
        strict=True,
        description="Demand weight (e.g. orders), 0 to 1e9.",
    )


class SuggestBody(BaseModel):
    """Demand-weighted suggestion request."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    count: int = Field(ge=0, le=MAX_COUNT, strict=True, description="How many new sites.")
    radius_m: float = Field(gt=0, strict=True, description="Service distance, metres.")
    crs: CRS = Field(default=CRS.WGS84, description="Datum of the demand points.")
    include_planned: bool = Field(default=False, strict=True)
    demand: list[DemandPoint] = Field(
        min_length=1, max_length=MAX_DEMAND, description="Demand points."
    )


@router.post(
    "/suggest",
    response_class=GeoJSONResponse,
    response_model=None,
    responses=geojson_responses("FeatureCollection"),
    dependencies=[Depends(NO_QUERY)],
)
async def create_suggestions(
    body: SuggestBody, catalog: CatalogDep, settings: SettingsDep
) -> GeoJSONResponse:
    """Sites maximising the demand within radius_m (exact on the loop; spopt MCLP off it)."""
    _check_radius(body.radius_m, settings.max_radius_m)
    points: list[tuple[float, float, float]] = []
    for i, d in enumerate(body.demand):
        wx, wy = wgs84_position(d.lon, d.lat, body.crs, name=f"demand[{i}]")
        points.append((wx, wy, d.weight))
    result: dict[str, Any] = await run_in_threadpool(
        suggest, catalog, body.count, body.radius_m, points, body.include_planned
    )
    return GeoJSONResponse(result)
