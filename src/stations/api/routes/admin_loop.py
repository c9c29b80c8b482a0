"""The office's loop: the /admin/loop page, a track's preview, and replacing the loop with it.

A clerk records the loop while someone drives (or uploads a GPX file from any tracker); the
page sends the track to ``POST /api/loop/preview``, which builds the new loop exactly as
``stations loop import`` does (`stations.loop_import`: read, check, simplify, re-snap) and
answers what would change without writing anything, with the current loop's version. Accepting
sends the same track to ``PUT /api/loop`` with that version in ``If-Match``; the store replaces
the loop only if nobody replaced it meanwhile (412 otherwise), atomically, audited, and every
worker serves it from its next request (`storage.base.Store.replace_loop`).

Tracks may be large (a 178 km drive sampled every second is ~12,000 points), so these two
paths have their own body limit (``STATIONS_MAX_TRACK_BYTES``), and read the body themselves
only once the token or session is checked. Reading a track costs a worker up to a second or
two, so each worker reads one at a time (`TRACK_SLOTS`).
"""

from __future__ import annotations

import threading
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from pydantic import Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, Response

from stations.api.auth import WriterDep
from stations.api.deps import SettingsDep
from stations.api.params import QueryModel, QueryParams
from stations.api.responses import ORJSONResponse
from stations.api.routes.admin import OfficeDep, OfficeQuery, office_html
from stations.api.routes.pages import HTML_RESPONSES
from stations.api.schemas import ERRORS
from stations.api.state import services_of
from stations.api.strict import read_json
from stations.catalog import Catalog
from stations.errors import InvalidInput, TooManyAttempts
from stations.loop_import import FLAG_KM, TrackedLoop, compare, loop_from_coords
from stations.settings import Settings
from stations.storage.store import open_store
from stations.storage.track import parse_gpx, points_from_fixes
from stations.web.admin import admin_page
from stations.web.admin_loop import LOOP_TEXTS
from stations.web.pages import choose_tiles

TRACK_PATHS = ("/api/loop", "/api/loop/preview")
GPX_TYPES = {"application/gpx+xml", "application/xml", "text/xml"}
#: Tracks read at once per worker; a second waits up to `TRACK_WAIT_S`, then gets a 429.
TRACK_SLOTS = threading.BoundedSemaphore(1)
TRACK_WAIT_S = 20.0

router = APIRouter(
    tags=["loop"],
    responses={
        **ERRORS,
        401: {"description": "No token or session."},
        403: {"description": "Wrong token, missing CSRF token, or writes disabled."},
        412: {"description": "The loop changed since the preview (If-Match)."},
        413: {"description": "The track is larger than STATIONS_MAX_TRACK_BYTES."},
    },
)
TRACK_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The track: a GPX file (tracks, else routes), or the office app's "
        "fixes as JSON, [[lon, lat, time?, accuracy?], ...] in WGS84.",
        "content": {
            "application/gpx+xml": {"schema": {"type": "string"}},
            "application/json": {
                "schema": {
                    "type": "array",
                    "items": {"type": "array", "items": {"type": "number"}},
                }
            },
        },
    }
}


class TrackQuery(QueryModel):
    """How a track becomes the loop (the options of ``stations loop import``)."""

    max_gap_m: float = Field(
        default=500.0, ge=1, le=10_000, description="The track must end this close to its start."
    )
    tolerance_m: float = Field(
        default=5.0, ge=0, le=1_000, description="Simplification tolerance (m)."
    )


TRACK_QUERY = QueryParams(TrackQuery)
TrackQueryDep = Annotated[TrackQuery, Depends(TRACK_QUERY)]


async def _body(request: Request, limit: int) -> bytes:
    """The request body, read here (after the token) and bounded: 413 past ``limit`` bytes."""
    parts, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"the track is larger than {limit} bytes")
        parts.append(chunk)
    return b"".join(parts)


def _coords(kind: str, body: bytes, settings: Settings) -> tuple[list[tuple[float, float]], str]:
    """The track's positions and a name for it, from a GPX or JSON body."""
    if kind == "application/json":
        return points_from_fixes(read_json(body), settings.max_track_points), "office-app"
    if kind in GPX_TYPES:
        return parse_gpx(body, "the GPX file", settings.max_track_points), "uploaded.gpx"
    raise InvalidInput(
        "send the track as application/gpx+xml (a GPX file) or application/json "
        f"([[lon, lat, time?, accuracy?], ...]); got {kind or 'no Content-Type'}"
    )


def _build(
    settings: Settings, kind: str, body: bytes, catalog: Catalog, q: TrackQuery
) -> TrackedLoop:
    """The new loop (`loop_from_coords`), one track at a time per worker (`TRACK_SLOTS`)."""
    if not TRACK_SLOTS.acquire(timeout=TRACK_WAIT_S):
        raise TooManyAttempts("another track is being read: try again in a few seconds", 5)
    try:
        coords, source = _coords(kind, body, settings)
        return loop_from_coords(
            settings,
            coords,
            source,
            max_gap_m=q.max_gap_m,
            tolerance_m=q.tolerance_m,
            stations=catalog.all,
        )
    finally:
        TRACK_SLOTS.release()


async def _tracked(
    request: Request, settings: Settings, q: TrackQuery
) -> tuple[TrackedLoop, Catalog]:
    """The request's track made into the new loop, and the catalog it was compared with."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await _body(request, settings.max_track_bytes)
    catalog = await services_of(request).holder.get()
    new = await run_in_threadpool(_build, settings, kind, body, catalog, q)
    return new, catalog


@router.post(
    "/api/loop/preview",
    response_class=ORJSONResponse,
    openapi_extra=TRACK_BODY,
    dependencies=[Depends(TRACK_QUERY.refuse_unknown)],
)
async def preview_loop(
    request: Request, writer: WriterDep, settings: SettingsDep, q: TrackQueryDep
) -> ORJSONResponse:
    """What replacing the loop with this track would change; nothing is written.

    Answers the current loop's ``version`` (send it as ``If-Match`` to ``PUT /api/loop``), the
    old and new lengths, the new loop's ``digest`` and geometry, and every station's old and
    new km mark (``change``: moved more than ``flag_km``, placed, unplaced).
    """
    version = await run_in_threadpool(open_store(settings).loop_version)
    new, catalog = await _tracked(request, settings, q)
    return ORJSONResponse({"version": version, **compare(catalog, new, FLAG_KM)})


def _if_match(value: str | None) -> str | None:
    """The one version ``If-Match`` names (None for ``*``); 400 without one."""
    value = (value or "").strip()
    if value == "*":
        return None
    if not value or "," in value or not (value.startswith('"') and value.endswith('"')):
        raise InvalidInput(
            "replacing the loop needs If-Match with the version its preview answered (a quoted "
            'entity tag such as "3f2a..."), or * to replace whatever is there'
        )
    return value


@router.put(
    "/api/loop",
    response_class=ORJSONResponse,
    openapi_extra=TRACK_BODY,
    dependencies=[Depends(TRACK_QUERY.refuse_unknown)],
)
async def replace_loop(
    request: Request,
    writer: WriterDep,
    settings: SettingsDep,
    q: TrackQueryDep,
    if_match: Annotated[
        str | None, Header(max_length=200, description="The version the preview answered.")
    ] = None,
) -> Response:
    """Replace the loop with this track (as previewed), if it is still at ``If-Match``."""
    expected = _if_match(if_match)
    new, _ = await _tracked(request, settings, q)
    store = open_store(settings)
    await run_in_threadpool(store.replace_loop, new.feature, writer, expected)
    await services_of(request).holder.refresh()  # this worker serves it at once
    version = await run_in_threadpool(store.loop_version)
    body = {
        "version": version,
        "digest": new.digest,
        "geometric_length_m": round(new.loop.length_m, 1),
        "vertices": len(new.loop.stored),
        "track_points": new.track_points,
    }
    return ORJSONResponse(body, headers={"ETag": version})


@router.get(
    "/admin/loop", response_class=HTMLResponse, responses=HTML_RESPONSES, include_in_schema=False
)
async def read_office_loop(
    session: OfficeDep,
    q: Annotated[OfficeQuery, Depends(QueryParams(OfficeQuery))],
    settings: SettingsDep,
) -> Response:
    """The office's loop page: record the loop while driving, or upload a GPX file."""
    tiles = choose_tiles(settings, None)
    page = admin_page(
        "loop.html",
        q.lang.value,
        path="/admin/loop",
        label=session.label,
        csrf=session.csrf,
        texts=LOOP_TEXTS,
        config={"maxAccuracyM": 50, "maxSpeedKmh": 200, "closeGapM": 300, "minLoopM": 5000},
        scripts=["stations/admin/loop.js"],
        styles=["stations/admin/loop.css"],
        tiles=tiles,
    )
    return office_html(page, tiles)
