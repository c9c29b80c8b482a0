"""Riders' problem reports: anyone may send one; admins list and resolve them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from stations.api.auth import WriterDep
from stations.api.deps import CatalogDep, SettingsDep, reject_unknown_parameters
from stations.api.responses import ORJSONResponse
from stations.api.schemas import ERRORS, json_responses
from stations.coords import CRS, wgs84_position
from stations.errors import StationNotFound
from stations.settings import Settings
from stations.storage.reports import Category, ReportStore

router = APIRouter(
    tags=["reports"],
    responses={
        **ERRORS,
        401: {"description": "Admin routes: no bearer token."},
        403: {"description": "Admin routes: wrong token, or admin routes disabled."},
        429: {"description": "Too many reports from this device."},
    },
    dependencies=[Depends(reject_unknown_parameters)],
)


def report_store(settings: Settings) -> ReportStore:
    """The reports database the settings name."""
    return ReportStore(settings.reports_file(), per_hour=settings.report_rate_per_hour)


class ReportIn(BaseModel):
    """A rider's report."""

    model_config = ConfigDict(extra="forbid")

    category: Category = Field(
        description="locked_during_hours, no_water, broken_equipment, dirty, "
        "moved_or_not_found or other."
    )
    text: str | None = Field(default=None, max_length=500, description="What happened (short).")
    lon: float | None = Field(default=None, strict=True, description="Where the rider is.")
    lat: float | None = Field(default=None, strict=True)
    crs: CRS = Field(default=CRS.WGS84, description="Datum of lon/lat.")


class ResolveIn(BaseModel):
    """How a report was dealt with."""

    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(default=None, max_length=500)


@router.post(
    "/api/stations/{station_id}/reports",
    status_code=201,
    response_class=ORJSONResponse,
    responses=json_responses(["id", "station_id", "category", "status"]),
)
async def create_report(
    station_id: str, body: ReportIn, request: Request, catalog: CatalogDep, settings: SettingsDep
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
        report_store(settings).add, station_id, body.category, body.text, position, address
    )
    return ORJSONResponse(report, status_code=201)


@router.get("/api/reports", response_class=ORJSONResponse, responses=json_responses(["reports"]))
async def read_reports(
    writer: WriterDep,
    settings: SettingsDep,
    status: Annotated[str | None, Query(pattern="^(open|resolved)$")] = None,
    station: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> ORJSONResponse:
    """Reports, newest first (token required)."""
    rows: list[dict[str, Any]] = await run_in_threadpool(
        report_store(settings).list, status, station, limit, offset
    )
    return ORJSONResponse({"reports": rows})


@router.post(
    "/api/reports/{report_id}/resolve",
    response_class=ORJSONResponse,
    responses=json_responses(["id", "status"]),
)
async def resolve_report(
    report_id: int, body: ResolveIn, writer: WriterDep, settings: SettingsDep
) -> ORJSONResponse:
    """Mark a report resolved, with a note (token required)."""
    report = await run_in_threadpool(report_store(settings).resolve, report_id, writer, body.note)
    return ORJSONResponse(report)
