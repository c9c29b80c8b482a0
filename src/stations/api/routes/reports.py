"""Riders' problem reports: anyone may send one; admins list and resolve them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from stations.api.auth import WriterDep
from stations.api.deps import CatalogDep, ReportsDep
from stations.api.params import NO_QUERY, Offset, QueryModel, QueryParams
from stations.api.responses import ORJSONResponse
from stations.api.schemas import ERRORS, json_responses
from stations.api.strict import ReportId, StationId, StrictJSONRoute
from stations.coords import CRS, wgs84_position
from stations.errors import StationNotFound
from stations.models import ID_PATTERN
from stations.storage.reports import Category

router = APIRouter(
    tags=["reports"],
    responses={
        **ERRORS,
        401: {"description": "Admin routes: no bearer token."},
        403: {"description": "Admin routes: wrong token, or admin routes disabled."},
        429: {"description": "Too many reports from this device."},
    },
    route_class=StrictJSONRoute,
)


class ReportsQuery(QueryModel):
    """Which reports to list."""

    status: str | None = Field(default=None, pattern="^(open|resolved)$")
    station: str | None = Field(default=None, max_length=64, pattern=ID_PATTERN.pattern)
    category: Category | None = Field(
        default=None,
        description="Only this category: locked_during_hours, no_water, broken_equipment, "
        "dirty, moved_or_not_found or other.",
    )
    limit: int = Field(default=100, ge=1, le=1000)
    offset: Offset = 0


REPORTS_QUERY = QueryParams(ReportsQuery)


class ReportIn(BaseModel):
    """A rider's report."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    category: Category = Field(
        description="locked_during_hours, no_water, broken_equipment, dirty, "
        "moved_or_not_found or other."
    )
    text: str | None = Field(default=None, max_length=500, description="What happened (short).")
    lon: float | None = Field(default=None, strict=True, description="Where the rider is.")
    lat: float | None = Field(default=None, strict=True)
    crs: CRS = Field(default=CRS.WGS84, description="Datum of lon/lat.")


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=8,
        max_length=128,
        pattern="^[A-Za-z0-9_-]+$",
        description="A key the client makes once per report (8-128 letters, digits, - or _): "
        "a report sent again with the same key is stored once, and the stored one is answered.",
    ),
]


class ResolveIn(BaseModel):
    """How a report was dealt with."""

    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(default=None, max_length=500)


@router.post(
    "/api/stations/{station_id}/reports",
    status_code=201,
    response_class=ORJSONResponse,
    responses=json_responses(["id", "station_id", "category", "status"]),
    dependencies=[Depends(NO_QUERY)],
)
async def create_report(
    station_id: StationId,
    body: ReportIn,
    request: Request,
    catalog: CatalogDep,
    reports: ReportsDep,
    idempotency_key: IdempotencyKey = None,
) -> ORJSONResponse:
    """Report a problem at a station (no login; a few an hour per device)."""
    if station_id not in catalog.by_id:
        raise StationNotFound(f"no station with id {station_id!r}")
    position = None
    if body.lon is not None or body.lat is not None:
        wx, wy = wgs84_position(body.lon, body.lat, body.crs, name="position")
        position = (round(wx, 7), round(wy, 7))
    address = request.client.host if request.client else "unknown"
    report = await run_in_threadpool(
        reports.add, station_id, body.category, body.text, position, address, idempotency_key
    )
    return ORJSONResponse(report, status_code=201)


@router.get(
    "/api/reports",
    response_class=ORJSONResponse,
    responses=json_responses(["reports"]),
    dependencies=[Depends(REPORTS_QUERY.refuse_unknown)],  # before the token; values after
)
async def read_reports(
    writer: WriterDep,
    reports: ReportsDep,
    q: Annotated[ReportsQuery, Depends(REPORTS_QUERY)],
) -> ORJSONResponse:
    """Reports, newest first (token required)."""
    rows: list[dict[str, Any]] = await run_in_threadpool(
        reports.list, q.status, q.station, q.limit, q.offset, q.category
    )
    return ORJSONResponse({"reports": rows})


@router.get(
    "/api/reports/counts",
    response_class=ORJSONResponse,
    responses=json_responses(["counts"]),
    dependencies=[Depends(NO_QUERY)],
)
async def read_report_counts(writer: WriterDep, reports: ReportsDep) -> ORJSONResponse:
    """Open reports per station id, for the office's map pins (token required)."""
    counts: dict[str, int] = await run_in_threadpool(reports.open_counts)
    return ORJSONResponse({"counts": counts})


@router.post(
    "/api/reports/{report_id}/resolve",
    response_class=ORJSONResponse,
    responses={
        **json_responses(["id", "status"]),
        409: {"description": "Already resolved: the first resolution is kept."},
    },
    dependencies=[Depends(NO_QUERY)],
)
async def resolve_report(
    report_id: ReportId, body: ResolveIn, writer: WriterDep, reports: ReportsDep
) -> ORJSONResponse:
    """Mark an open report resolved, with a note (token required; 409 if already resolved)."""
    report = await run_in_threadpool(reports.resolve, report_id, writer, body.note)
    return ORJSONResponse(report)
