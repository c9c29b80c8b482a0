"""What the office's station form reads besides the station: its history, and an hours preview.

Both need a token or the office session (`stations.api.auth.WriterDep`): they serve the people
who edit, not riders.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends
from pydantic import Field, StringConstraints
from starlette.concurrency import run_in_threadpool

from stations import hours
from stations.api.auth import WriterDep
from stations.api.deps import CatalogDep, SettingsDep
from stations.api.params import QueryModel, QueryParams
from stations.api.responses import ORJSONResponse
from stations.api.routes.edit import StoreDep
from stations.api.schemas import ERRORS, json_responses
from stations.api.strict import StationId
from stations.errors import InvalidInput, StationNotFound
from stations.models import MAX_HOURS_LENGTH
from stations.storage.audit import differences

router = APIRouter(
    tags=["office"],
    responses={
        **ERRORS,
        401: {"description": "No token or office session."},
        403: {"description": "Wrong token, or admin routes disabled."},
    },
)
#: Most history entries one request may ask for.
MAX_HISTORY = 200


class HistoryQuery(QueryModel):
    """How many of the station's last changes to list."""

    limit: int = Field(default=50, ge=1, le=MAX_HISTORY, description="Most changes listed.")


class HoursQuery(QueryModel):
    """An opening_hours expression to preview."""

    # surrounding whitespace is stripped, as the station schema does on save
    opening_hours: Annotated[str, StringConstraints(strip_whitespace=True)] = Field(
        min_length=1, max_length=MAX_HOURS_LENGTH, description="OpenStreetMap opening_hours."
    )


@router.get(
    "/api/stations/{station_id}/history",
    response_class=ORJSONResponse,
    responses=json_responses(["station", "history"]),
)
async def read_station_history(
    station_id: StationId,
    q: Annotated[HistoryQuery, Depends(QueryParams(HistoryQuery))],
    writer: WriterDep,
    store: StoreDep,
    catalog: CatalogDep,
) -> ORJSONResponse:
    """A station's changes from the audit log: who, when, the action, what changed."""
    entries = await run_in_threadpool(store.history, station_id, q.limit)
    if not entries and station_id not in catalog.by_id:
        raise StationNotFound(f"no station with id {station_id!r}")
    for entry in entries:
        entry["changes"] = differences(entry["before"], entry["after"])
    return ORJSONResponse({"station": station_id, "history": entries})


@router.get(
    "/api/hours/preview",
    response_class=ORJSONResponse,
    responses=json_responses(["opening_hours", "days"]),
)
async def read_hours_preview(
    q: Annotated[HoursQuery, Depends(QueryParams(HoursQuery))],
    writer: WriterDep,
    settings: SettingsDep,
) -> ORJSONResponse:
    """The week from today (service time zone) under these hours; 400 names a syntax error."""
    today = datetime.now(ZoneInfo(settings.timezone)).date()
    try:
        days = hours.week(q.opening_hours, today, settings.timezone)
    except ValueError as exc:
        raise InvalidInput(f"opening_hours: {exc}") from None
    return ORJSONResponse({"opening_hours": q.opening_hours, "days": days})
