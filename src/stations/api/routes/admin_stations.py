"""The office's stations section: ``/admin/stations`` (map, list, search, the station form).

The page holds no data and no secret: its script (``static/admin/stations.js``) reads the
stations, the history and the hours preview from the API with the session cookie and writes
through the API's own routes (with the page's CSRF token and ``If-Match``), so validation,
atomicity, the journal and the audit log stay one code path. ``?station=<id>`` opens that
station's form (the reports inbox links there).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import Field
from starlette.responses import HTMLResponse, Response

from stations.api.deps import SettingsDep
from stations.api.params import QueryParams
from stations.api.routes.admin import OfficeDep, OfficeQuery, office_html
from stations.api.routes.pages import HTML_RESPONSES
from stations.models import ID_PATTERN
from stations.web.admin import admin_page
from stations.web.admin_stations import TEXTS, page_config
from stations.web.pages import choose_tiles

router = APIRouter(tags=["office"], include_in_schema=False)


class StationsPageQuery(OfficeQuery):
    """Parameters of /admin/stations: the language, and a station to open."""

    station: str | None = Field(
        default=None, max_length=64, pattern=ID_PATTERN.pattern, description="A station's id."
    )


@router.get("/admin/stations", response_class=HTMLResponse, responses=HTML_RESPONSES)
async def read_office_stations(
    session: OfficeDep,
    q: Annotated[StationsPageQuery, Depends(QueryParams(StationsPageQuery))],
    settings: SettingsDep,
) -> Response:
    """The stations on a map and in a list, each one's record in a form."""
    tiles = choose_tiles(settings, None)
    page = admin_page(
        "stations.html",
        q.lang.value,
        path="/admin/stations",
        label=session.label,
        csrf=session.csrf,
        texts=TEXTS,
        config=page_config(q.station),
        vocab=page_config(q.station),
        scripts=["stations/admin/stations.js"],
        styles=["stations/admin/stations.css"],
        tiles=tiles,
    )
    return office_html(page, tiles)
