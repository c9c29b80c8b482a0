"""The pages people open: the rider page (/), the full map (/map) and the embeddable map (/embed).

Every page is built once per (page, language, tiles, view) and cached, in a thread so that
building never stalls the worker's other requests (`stations.web.pages.PageCache`); the view
of /embed is rounded to what the map can show, so nearby centres share one page. Each answer
gets a fresh CSP nonce, so only the page's own scripts run (defence in depth behind the escaping in
stations.js). Assets come from ``/static/`` (see `stations.web.assets`); the only other origin a
page may load from is the configured tile server.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request
from pydantic import Field
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

from stations.api.deps import CatalogDep, ServicesDep, client_address
from stations.api.flood import FloodGuard
from stations.api.params import QueryModel, QueryParams
from stations.api.schemas import ERRORS
from stations.api.state import services_of
from stations.errors import InvalidInput, StationNotFound
from stations.models import ID_PATTERN
from stations.web import assets
from stations.web.pages import (
    NONCE,
    PageBuildsLimited,
    choose_tiles,
    content_security_policy,
    embed_missing_page,
    embed_template,
    fill_embed,
    map_page,
    page_center,
    rider_page,
)
from stations.web.tiles import TileSource

router = APIRouter(tags=["pages"], responses=ERRORS)
HTML_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"description": "An HTML page.", "content": {"text/html": {"schema": {"type": "string"}}}}
}
#: The riders' pages: limited per client address (`stations.api.flood`, page builds).
PAGE_RESPONSES: dict[int | str, dict[str, object]] = {
    **HTML_RESPONSES,
    429: {
        "description": "Too many pages, or page builds, asked from this address in a minute "
        "(STATIONS_PAGE_REQUESTS_PER_MINUTE, STATIONS_PAGE_BUILDS_PER_MINUTE); `Retry-After` "
        "says when to try again.",
        "content": ERRORS[400]["content"],
    },
}


class Lang(StrEnum):
    """Languages of the pages."""

    ZH = "zh"
    EN = "en"


LangField = Annotated[Lang, Field(description="Language of the page: zh (default) or en.")]
TilesField = Annotated[
    str | None,
    Field(
        max_length=20,
        description="Base map: osm, amap (GCJ-02), none, tianditu (when a key is configured), "
        "or custom (the configured URL template). Default: STATIONS_TILES.",
    ),
]


class PageQuery(QueryModel):
    """Parameters of every page: language and base map."""

    lang: LangField = Lang.ZH
    tiles: TilesField = None


class RiderQuery(PageQuery):
    """Parameters of the rider page: a station to open (a poster's QR code links there)."""

    station: str | None = Field(
        default=None,
        max_length=64,
        pattern=ID_PATTERN.pattern,
        description="Id of a station to centre on, its card and report form open (read by "
        "the page's script, so the page itself stays one cached page).",
    )


class MapQuery(PageQuery):
    """Parameters of the full map."""

    coverage_km: float | None = Field(
        default=None, gt=0, le=200, description="Service distance of the coverage layer, km."
    )
    planning: bool = Field(
        default=False, description="The planning map: gaps in red and suggested sites."
    )
    count: int = Field(default=3, ge=0, le=100, description="Suggested sites on the planning map.")


class EmbedQuery(QueryModel):
    """Parameters of the embeddable map (centre first, as the page's URL reads)."""

    lon: float | None = Field(
        default=None, ge=-180, le=180, description="Centre longitude (WGS84)."
    )
    lat: float | None = Field(default=None, ge=-90, le=90, description="Centre latitude (WGS84).")
    zoom: int | None = Field(default=None, ge=0, le=19, description="Initial zoom.")
    station: str | None = Field(
        default=None, max_length=64, description="Id of a station to centre on and open."
    )
    lang: LangField = Lang.ZH
    tiles: TilesField = None


def mount_static(app: FastAPI) -> None:
    """Serve Leaflet, Leaflet.markercluster and our scripts under /static/."""
    for folder, directory in assets.MOUNTS.items():
        app.mount(f"/static/{folder}", StaticFiles(directory=directory), name=f"static-{folder}")


def _wants_json(request: Request) -> bool:
    """Whether the client is a script, not a browser's frame: browsers ask for text/html."""
    return "text/html" not in request.headers.get("accept", "")


def _respond(
    page: str, tiles: TileSource, frame_ancestors: list[str], status_code: int = 200
) -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    return HTMLResponse(
        page.replace(NONCE, nonce),
        status_code=status_code,
        headers={
            "Content-Security-Policy": content_security_policy(tiles, nonce, frame_ancestors),
            "Cache-Control": "no-cache",
        },
    )


async def _cached(request: Request, key: tuple[object, ...], build: Callable[[], str]) -> str:
    """A page built once per data version and ``key``, off the event loop.

    A build counts against the client's address (`stations.web.pages.PageCache`); a build
    refused is a strike towards the penalty box (`stations.api.flood`).
    """
    services = services_of(request)
    # pages show the data's extent and kinds: a new version of the data, new pages
    version_key = (services.holder.version, *key)
    client = client_address(request)
    try:
        return await services.pages.get(version_key, build, client)
    except PageBuildsLimited:
        flood: FloodGuard | None = getattr(request.app, "flood", None)
        if flood is not None:
            flood.strike(client, "too many page builds")
        raise


@router.get("/", response_class=HTMLResponse, responses=PAGE_RESPONSES)
async def read_rider_page(
    request: Request,
    q: Annotated[RiderQuery, Depends(QueryParams(RiderQuery))],
    catalog: CatalogDep,
    services: ServicesDep,
) -> HTMLResponse:
    """The rider page: one tap finds the 3 nearest open stations (geolocation needs HTTPS)."""
    source = choose_tiles(services.settings, q.tiles)
    lang = q.lang
    page = await _cached(
        request, ("rider", lang, source), lambda: rider_page(catalog, source, lang.value)
    )
    return _respond(page, source, [])


@router.get("/map", response_class=HTMLResponse, responses=PAGE_RESPONSES)
async def read_map_page(
    request: Request,
    q: Annotated[MapQuery, Depends(QueryParams(MapQuery))],
    catalog: CatalogDep,
    services: ServicesDep,
) -> HTMLResponse:
    """The full map: loop, km marks, coverage, every station by viewport."""
    source = choose_tiles(services.settings, q.tiles)
    lang = q.lang
    km = q.coverage_km or services.settings.coverage_km
    plan = q.count if q.planning else None
    page = await _cached(
        request,
        ("map", lang, source, km, plan),
        lambda: map_page(catalog, source, lang.value, km, planning_count=plan),
    )
    return _respond(page, source, [])


EMBED_RESPONSES: dict[int | str, dict[str, object]] = {
    **PAGE_RESPONSES,
    404: {
        "description": "No located station with that id: a page saying so in both languages "
        "with a link to the whole map, for browsers (Accept: text/html); JSON with `detail` "
        "for other clients.",
        "content": {
            "text/html": {"schema": {"type": "string"}},
            **ERRORS[404]["content"],
        },
    },
}


@router.get("/embed", response_class=HTMLResponse, responses=EMBED_RESPONSES)
async def read_embed_page(
    request: Request,
    q: Annotated[EmbedQuery, Depends(QueryParams(EmbedQuery))],
    catalog: CatalogDep,
    services: ServicesDep,
) -> HTMLResponse:
    """The map for an ``<iframe>``: framing allowed from STATIONS_EMBED_ORIGINS."""
    settings, lang, zoom, station = services.settings, q.lang, q.zoom, q.station
    source = choose_tiles(settings, q.tiles)
    lon, lat = q.lon, q.lat
    if (lon is None) != (lat is None):
        raise InvalidInput("give both lon and lat (WGS84 degrees), or neither")
    center = (lon, lat) if lon is not None and lat is not None else None
    if station is not None:
        found = catalog.by_id.get(station)
        if found is None or found.lon is None or found.lat is None:
            if _wants_json(request):
                raise StationNotFound(f"no located station with id {station!r}")
            missing = embed_missing_page(lang.value, station)
            return _respond(missing, source, settings.embed_origins, status_code=404)
        center = center or (found.lon, found.lat)
        zoom = zoom if zoom is not None else 15
    if center is None:
        page = await _cached(
            request,
            ("embed", lang, source, zoom),
            lambda: map_page(catalog, source, lang.value, settings.coverage_km, None, zoom),
        )
        return _respond(page, source, settings.embed_origins)
    zoom = 13 if zoom is None else zoom
    view = zoom
    template = await _cached(
        request,
        ("embed-view", lang, source, zoom, station is not None),
        lambda: embed_template(
            catalog, source, lang.value, settings.coverage_km, view, station is not None
        ),
    )
    page = fill_embed(template, source, page_center(*center, zoom), station)
    return _respond(page, source, settings.embed_origins)
