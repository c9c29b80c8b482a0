"""The office's reports inbox (/admin/reports) and each station's printable poster.

Both are office pages: `OfficeDep` sends anyone without a session to the sign-in page before
anything is built. The inbox is a shell whose script works through the API's own report routes;
the poster is rendered here whole, since it must print without any script.

The poster's QR code must carry an address riders can open: ``STATIONS_PUBLIC_URL`` when it is
set, else this request's scheme and host. The scheme is believed from ``X-Forwarded-Proto``
only when the peer is a trusted proxy (`stations.api.proxies` has already settled it in the
request's scope), and ``X-Forwarded-Host`` never: the Host header is what the clerk's browser
itself used to reach the service. The page says when the address came from the request.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from pydantic import Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, Response

from stations.api.deps import CatalogDep, SettingsDep
from stations.api.params import QueryParams
from stations.api.routes.admin import OfficeDep, OfficeQuery, office_html
from stations.api.routes.pages import HTML_RESPONSES
from stations.api.strict import StationId
from stations.errors import InvalidInput, StationNotFound
from stations.models import ID_PATTERN
from stations.settings import Settings
from stations.storage.reports import Category
from stations.web.admin_reports import reports_page
from stations.web.poster import poster_page, rider_link

router = APIRouter(tags=["office"], include_in_schema=False)
#: A Host header: a name or an IPv4 address, or an IPv6 address in brackets; an optional port.
HOST = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}"
    r"[A-Za-z0-9])?(?::[0-9]{1,5})?|\[[0-9A-Fa-f:.]{2,45}\](?::[0-9]{1,5})?"
)


class InboxQuery(OfficeQuery):
    """The inbox's filters, as its URL gives them (the page opens with them)."""

    station: str | None = Field(
        default=None, max_length=64, pattern=ID_PATTERN.pattern, description="A station id."
    )
    category: Category | None = Field(default=None, description="Only this category.")
    status: str = Field(default="open", pattern="^(open|resolved|all)$")


INBOX_QUERY = QueryParams(InboxQuery)
OFFICE_QUERY = QueryParams(OfficeQuery)


def public_base(request: Request, settings: Settings) -> tuple[str, bool]:
    """The address riders reach the service at, and whether it was taken from ``request``."""
    if settings.public_url:
        return settings.public_url, False
    host = request.headers.get("host", "")
    if not HOST.fullmatch(host):
        raise InvalidInput(
            "the request's Host header is not a host name or address; set STATIONS_PUBLIC_URL "
            "to the address riders use (e.g. https://stations.example.cn)"
        )
    return f"{request.url.scheme}://{host.lower()}", True


@router.get("/admin/reports", response_class=HTMLResponse, responses=HTML_RESPONSES)
async def read_reports_inbox(
    session: OfficeDep,
    q: Annotated[InboxQuery, Depends(INBOX_QUERY)],
    settings: SettingsDep,
) -> Response:
    """Riders' reports by station and category, newest first; resolve one with a note."""
    page = reports_page(
        q.lang.value,
        label=session.label,
        csrf=session.csrf,
        station=q.station,
        category=q.category.value if q.category else None,
        status=q.status,
        timezone=settings.timezone,
    )
    return office_html(page)


@router.get(
    "/admin/stations/{station_id}/poster", response_class=HTMLResponse, responses=HTML_RESPONSES
)
async def read_station_poster(
    session: OfficeDep,
    station_id: StationId,
    q: Annotated[OfficeQuery, Depends(OFFICE_QUERY)],
    request: Request,
    catalog: CatalogDep,
    settings: SettingsDep,
) -> Response:
    """A station's printable A4 poster: name, hours, what it offers, a QR code to report."""
    station = catalog.by_id.get(station_id)
    if station is None:
        raise StationNotFound(f"no station with id {station_id!r}")
    base, from_request = public_base(request, settings)
    page = await run_in_threadpool(  # a year of hours and a QR code: off the event loop
        poster_page,
        station,
        q.lang.value,
        link=rider_link(base, station_id),
        base_from_request=base if from_request else None,
        tz=settings.timezone,
        today=datetime.now(ZoneInfo(settings.timezone)).date(),
        label=session.label,
        csrf=session.csrf,
    )
    return office_html(page)
