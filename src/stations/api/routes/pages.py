"""The pages people open: the rider page (/), the full map (/map) and the embeddable map (/embed).

Every page is built once per (page, language, tiles, view) and cached; each answer gets a fresh
CSP nonce, so only the page's own scripts run (defence in depth behind the escaping in
stations.js). Assets come from ``/static/`` (see `stations.web.assets`); the only other origin a
page may load from is the configured tile server.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI
from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import Field
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

from stations.api.deps import CatalogDep, ServicesDep
from stations.api.params import QueryModel, QueryParams
from stations.api.schemas import ERRORS
from stations.api.state import Services
from stations.catalog import Catalog
from stations.coords import from_wgs84
from stations.errors import InvalidInput, StationNotFound
from stations.models import Kind, PositionAccuracy
from stations.settings import Settings
from stations.web import assets
from stations.web.i18n import TEXTS, browser_config
from stations.web.maps import VIEWPORT_API, MapOptions, build_map, render_page
from stations.web.tiles import DATA_ATTRIBUTION, TileSource, tile_source

router = APIRouter(tags=["pages"], responses=ERRORS)
NONCE = "__NONCE__"
_SCRIPT = re.compile(r"<script(?=[\s>])(?![^>]*\bnonce=)")
_TEMPLATES = Environment(
    loader=PackageLoader("stations.web", "templates"), autoescape=select_autoescape()
)
HTML_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"description": "An HTML page.", "content": {"text/html": {"schema": {"type": "string"}}}}
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


def choose_tiles(settings: Settings, name: str | None) -> TileSource:
    """The tile source a page asks for, among those this service offers."""
    configured = tile_source(
        settings.tiles,
        tianditu_key=settings.tianditu_key,
        attribution=settings.tiles_attribution,
        crs=settings.tiles_crs,
    )
    if name is None or name == configured.name:
        return configured
    offered = ["osm", "amap", "none"] + (["tianditu"] if settings.tianditu_key else [])
    if name not in offered:
        allowed = sorted({*offered, configured.name})
        raise InvalidInput(f"tiles must be one of {', '.join(allowed)}; got {name!r}")
    return tile_source(name, tianditu_key=settings.tianditu_key)


def content_security_policy(tiles: TileSource, nonce: str, frame_ancestors: list[str]) -> str:
    """Scripts: ours and the page's nonce; images: ours, data: and the tile server; no plugins."""
    images = " ".join(["'self'", "data:", *tiles.origins()])
    ancestors = " ".join(["'self'", *frame_ancestors])
    return (
        f"default-src 'self'; script-src 'self' 'nonce-{nonce}'; "
        f"style-src 'self' 'unsafe-inline'; img-src {images}; connect-src 'self'; "
        f"font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        f"frame-ancestors {ancestors}"
    )


def _respond(page: str, tiles: TileSource, frame_ancestors: list[str]) -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    return HTMLResponse(
        page.replace(NONCE, nonce),
        headers={
            "Content-Security-Policy": content_security_policy(tiles, nonce, frame_ancestors),
            "Cache-Control": "no-cache",
        },
    )


def _cached(services: Services, key: tuple[object, ...], build: Callable[[], str]) -> str:
    """A page built once per data version and ``key`` (at most 257 kept)."""
    cache = services.pages
    key = (services.holder.version, *key)  # pages show the data's extent and kinds
    if key not in cache:
        if len(cache) > 256:
            cache.clear()
        cache[key] = build()
    return cache[key]


def map_page(
    catalog: Catalog,
    tiles: TileSource,
    lang: str,
    coverage_km: float | None,
    center: tuple[float, float] | None = None,
    zoom: int | None = None,
    focus: str | None = None,
    planning_count: int | None = None,
) -> str:
    """/map and /embed: the folium map, stations fetched by viewport, scripts carrying a nonce."""
    options = MapOptions(
        planning_count=planning_count,
        lang=lang,
        tiles=tiles,
        coverage_km=coverage_km,
        data="api",
        center=center,
        zoom=zoom,
        focus=focus,
    )
    return _SCRIPT.sub(f'<script nonce="{NONCE}"', render_page(build_map(catalog, options)))


def rider_page(catalog: Catalog, tiles: TileSource, lang: str) -> str:
    """The rider page: find the nearest station, list it, show it on the map."""
    config = browser_config(lang)
    box = catalog.loop.bbox if catalog.loop is not None else catalog.extent()
    cx, cy = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2) if box else (107.2, 29.0)
    mx, my = from_wgs84(cx, cy, tiles.crs)
    config.update(
        crs=tiles.crs.value,
        api=VIEWPORT_API,
        center=[float(mx), float(my)],
        zoom=10,
        legendKinds=[k.value for k in Kind],
        showLoop=catalog.loop is not None,
        coverageKm=None,
        approximate=any(
            s.props.position_accuracy is not PositionAccuracy.SURVEYED for s in catalog.located
        ),
        attribution=DATA_ATTRIBUTION,
        tiles={
            "url": tiles.url,
            "attribution": tiles.safe_attribution(),
            "subdomains": tiles.subdomains,
            "maxZoom": tiles.max_zoom,
            "overlay": tiles.overlay_url,
        },
    )
    return _TEMPLATES.get_template("rider.html").render(
        lang=lang,
        t=TEXTS[lang],
        css_urls=[assets.url(a) for a in assets.CSS],
        js_urls=[assets.url(a) for a in [*assets.JS, "stations/rider.js"]],
        config_json=assets.script_json(config),
    )


@router.get("/", response_class=HTMLResponse, responses=HTML_RESPONSES)
async def read_rider_page(
    q: Annotated[PageQuery, Depends(QueryParams(PageQuery))],
    catalog: CatalogDep,
    services: ServicesDep,
) -> HTMLResponse:
    """The rider page: one tap finds the 3 nearest open stations (geolocation needs HTTPS)."""
    source = choose_tiles(services.settings, q.tiles)
    lang = q.lang
    page = _cached(
        services, ("rider", lang, source), lambda: rider_page(catalog, source, lang.value)
    )
    return _respond(page, source, [])


@router.get("/map", response_class=HTMLResponse, responses=HTML_RESPONSES)
async def read_map_page(
    q: Annotated[MapQuery, Depends(QueryParams(MapQuery))],
    catalog: CatalogDep,
    services: ServicesDep,
) -> HTMLResponse:
    """The full map: loop, km marks, coverage, every station by viewport."""
    source = choose_tiles(services.settings, q.tiles)
    lang = q.lang
    km = q.coverage_km or services.settings.coverage_km
    plan = q.count if q.planning else None
    page = _cached(
        services,
        ("map", lang, source, km, plan),
        lambda: map_page(catalog, source, lang.value, km, planning_count=plan),
    )
    return _respond(page, source, [])


@router.get("/embed", response_class=HTMLResponse, responses=HTML_RESPONSES)
async def read_embed_page(
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
            raise StationNotFound(f"no located station with id {station!r}")
        center = center or (found.lon, found.lat)
        zoom = zoom if zoom is not None else 15
    if center is not None and zoom is None:
        zoom = 13
    page = _cached(
        services,
        ("embed", lang, source, center, zoom, station),
        lambda: map_page(catalog, source, lang.value, settings.coverage_km, center, zoom, station),
    )
    return _respond(page, source, settings.embed_origins)
