"""Pages built from the catalog: the rider page, and the map for /map and /embed.

A page is built once (the routes keep it in a `PageCache`) with a placeholder where each answer
puts its own CSP nonce, so only the page's own scripts run, defence in depth behind the escaping
in ``stations.js``. The Content-Security-Policy that goes with it is built here too: assets come
from this service only, images also from the configured tile server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import re
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from concurrent.futures import ThreadPoolExecutor

from jinja2 import Environment, PackageLoader, select_autoescape

from stations.catalog import Catalog
from stations.coords import from_wgs84
from stations.errors import InvalidInput, TooManyAttempts
from stations.limits import WindowLimit
from stations.models import Kind, PositionAccuracy
from stations.settings import Settings
from stations.web import assets, offline
from stations.web.attribution import data_attribution
from stations.web.i18n import TEXTS, browser_config
from stations.web.tiles import (
    VIEWPORT_API,
    TileSource,
    tile_source,
    to_map,
)

#: Where a page's scripts carry the nonce; each answer replaces it with a fresh one.
NONCE = "__NONCE__"
_SCRIPT = re.compile(r"<script(?=[\s>])(?![^>]*\bnonce=)")
_TEMPLATES = Environment(
    loader=PackageLoader("stations.web", "templates"), autoescape=select_autoescape()
)


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


def content_security_policy(
    tiles: TileSource, nonce: str, frame_ancestors: list[str] | None
) -> str:
    """Scripts: ours and the page's nonce; images: ours, data: and the tile server; no plugins.

    ``frame_ancestors``: origins besides this one that may frame the page; None: no one may.
    """
    images = " ".join(["'self'", "data:", *tiles.origins()])
    ancestors = "'none'" if frame_ancestors is None else " ".join(["'self'", *frame_ancestors])
    return (
        f"default-src 'self'; script-src 'self' 'nonce-{nonce}'; "
        f"style-src 'self' 'unsafe-inline'; img-src {images}; connect-src 'self'; "
        f"font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        f"frame-ancestors {ancestors}"
    )


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
    """/map and /embed: the folium map, stations fetched by viewport, scripts carrying a nonce.

    folium (with branca and the pandas it imports) is imported by the first map built, not by
    a worker's start: a rider's first answer does not wait for it.
    """
    from stations.web.maps import MapOptions, build_map, render_page

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
        attribution=data_attribution(catalog),
        tiles={
            "url": tiles.url,
            "attribution": tiles.safe_attribution(),
            "subdomains": tiles.subdomains,
            "maxZoom": tiles.max_zoom,
            "overlay": tiles.overlay_url,
        },
        offline=_offline_config(catalog),
    )
    return _TEMPLATES.get_template("rider.html").render(
        lang=lang,
        t=TEXTS[lang],
        css_urls=[assets.url(a) for a in assets.CSS],
        js_urls=[assets.url(a) for a in [*assets.JS, *offline.OFFLINE_JS, "stations/rider.js"]],
        icon_url=assets.url(offline.ICONS["192"]),
        theme_color=offline.THEME_COLOR,
        config_json=assets.script_json(config),
    )


#: The /embed page for a station that is not there, in both languages (the asked one first).
EMBED_MISSING = {
    "zh": {
        "title": "没有找到这个驿站",
        "body": "地图上没有这个驿站（可能已关闭或改名）：",
        "link": "查看整张驿站地图",
    },
    "en": {
        "title": "Station not found",
        "body": "The map has no such station (it may have closed or been renamed):",
        "link": "See the whole map of stations",
    },
}


def embed_missing_page(lang: str, station: str) -> str:
    """/embed's answer (404) for a station it does not have: a page, not JSON, in the frame."""
    others = [other for other in EMBED_MISSING if other != lang]
    return _TEMPLATES.get_template("embed_missing.html").render(
        lang=lang,
        others=others,
        texts=EMBED_MISSING,
        station=station,
        map_url={code: f"/embed?lang={code}" for code in EMBED_MISSING},
    )


#: Where an /embed page's centre and focused station go: the page is built once per view (language,
#: base map, zoom) with these, and each request's own centre and station are put in their place
#: (`fill_embed`), so a client asking for a new centre every time costs a string replace, not a
#: build. The placeholder centre has the 6 decimals the map rounds to; each placeholder is checked
#: to appear exactly once in the built page.
_CENTER = (107.123457, 29.987653)
_FOCUS = "zz-embed-focus-zz"


def _center_json(tiles: TileSource, lon: float, lat: float) -> str:
    """The centre as the map's script holds it: ``[lat, lon]`` in the base map's datum."""
    return json.dumps(to_map([lon], [lat], tiles.crs)[0])


def embed_template(
    catalog: Catalog,
    tiles: TileSource,
    lang: str,
    coverage_km: float | None,
    zoom: int,
    focus: bool,
) -> str:
    """The /embed page at ``zoom`` with placeholders for its centre (and focused station)."""
    page = map_page(catalog, tiles, lang, coverage_km, _CENTER, zoom, _FOCUS if focus else None)
    if page.count(_center_json(tiles, *_CENTER)) != 1 or (focus and page.count(_FOCUS) != 1):
        raise RuntimeError("the /embed placeholders are not each found once in the built page")
    return page


def fill_embed(
    template: str, tiles: TileSource, center: tuple[float, float], focus: str | None
) -> str:
    """An /embed page from `embed_template`: the request's centre (WGS84) and station put in.

    Byte for byte the page `map_page` builds for that centre and station (a test checks it).
    Station ids are slugs (a-z, 0-9, '-'): nothing in them needs escaping in the page's JSON.
    """
    page = template.replace(_center_json(tiles, *_CENTER), _center_json(tiles, *center), 1)
    return page.replace(_FOCUS, focus, 1) if focus is not None else page


def _offline_config(catalog: Catalog) -> dict[str, object]:
    """Where the page gets its offline data, and the scripts that read opening hours."""
    box = offline.region(catalog)
    query = "" if box is None else "?bbox=" + ",".join(f"{v:.4f}" for v in box)
    return {
        "snapshot": "/api/offline" + query,
        "serviceWorker": "/sw.js",
        "hoursScripts": [assets.url(a) for a in offline.HOURS_JS],
    }


def page_center(lon: float, lat: float, zoom: int) -> tuple[float, float]:
    """``lon``, ``lat`` rounded to what a map at ``zoom`` can show (half a pixel at most).

    A pixel at ``zoom`` spans 360 / (256 * 2**zoom) degrees of longitude (less of latitude),
    so more decimals than that change nothing on screen; they only make new cache entries.
    """
    decimals = max(0, math.ceil(math.log10(256 * 2**zoom / 360)))
    return round(lon, decimals), round(lat, decimals)


class PageBuildsLimited(TooManyAttempts):
    """A client caused more page builds in a minute than allowed (429)."""


#: How much lower the page builders' CPU priority is than the rest of the worker.
BUILD_NICENESS = 10


class PageCache:
    """Built pages by key, bounded in entries and bytes; builds run in threads, a few at once.

    A page build (folium rendering) takes tens of milliseconds of pure Python: on the event
    loop it would stall every other request of the worker, so it runs in one of ``max_builds``
    threads of its own, and a page asked for by several requests at once is built once. The
    build threads run at a lower CPU priority (Linux: nice +10), so that on a busy machine the
    riders' requests get the cores first, however many pages are asked for.
    The least recently used pages are dropped past ``max_entries`` pages or ``max_bytes``
    bytes of memory; a page larger than ``max_bytes`` is served but not kept. One client may
    cause at most ``builds_per_minute`` builds (`PageBuildsLimited` past it): a client asking
    for a new variant every time would otherwise keep the builders busy for everyone.
    """

    def __init__(
        self, max_entries: int, max_bytes: int, max_builds: int, builds_per_minute: int = 30
    ) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.max_builds = max_builds
        self.builds = WindowLimit(builds_per_minute, 60.0)
        self.nbytes = 0
        self._pages: OrderedDict[Hashable, str] = OrderedDict()
        self._building: dict[Hashable, asyncio.Task[str]] = {}
        self._builders = ThreadPoolExecutor(
            max_builds, thread_name_prefix="page-build", initializer=_lower_priority
        )

    def __len__(self) -> int:
        return len(self._pages)

    def __iter__(self) -> Iterator[Hashable]:
        return iter(list(self._pages))

    async def get(self, key: Hashable, build: Callable[[], str], client: str = "") -> str:
        """The page for ``key``, built by ``build`` (in a thread) unless already kept.

        A build counts against ``client`` (its address); PageBuildsLimited past the limit.
        """
        page = self._pages.get(key)
        if page is not None:
            self._pages.move_to_end(key)
            return page
        task = self._building.get(key)
        if task is None:
            wait = self.builds.retry_after(client)
            if wait is not None:
                raise PageBuildsLimited(
                    f"this address asked for too many different pages: try again in {wait} s",
                    wait,
                )
            self.builds.hit(client)
            task = asyncio.ensure_future(self._build(key, build))
            task.add_done_callback(_retrieve)
            self._building[key] = task
        # A request that goes away does not cancel a build others may be waiting for.
        return await asyncio.shield(task)

    async def _build(self, key: Hashable, build: Callable[[], str]) -> str:
        try:
            page = await asyncio.get_running_loop().run_in_executor(self._builders, build)
        finally:
            del self._building[key]
        self._keep(key, page)
        return page

    def _keep(self, key: Hashable, page: str) -> None:
        size = sys.getsizeof(page)
        if size > self.max_bytes:
            return
        self._pages[key] = page
        self.nbytes += size
        while len(self._pages) > self.max_entries or self.nbytes > self.max_bytes:
            _, dropped = self._pages.popitem(last=False)
            self.nbytes -= sys.getsizeof(dropped)


def _lower_priority() -> None:
    """Lower this thread's CPU priority (a per-thread attribute on Linux; elsewhere nothing)."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BUILD_NICENESS)


def _retrieve(task: asyncio.Task[str]) -> None:
    """Mark a build's failure as seen (it reaches every waiting request)."""
    if not task.cancelled():
        task.exception()
