"""The rider page offline: the data snapshot, the service worker and the web app manifest.

The rider page keeps a snapshot of the open stations and the loop in the browser (IndexedDB),
so that with no signal it still answers "which station is nearest?" as `/api/nearest` would:
the same stations in the same order, the same ellipsoidal distances (GeographicLib in both).
The snapshot holds exactly what the rider's cards and popups show, in WGS84, in file order
(ties between equally distant stations go by it, as on the server), each station's km mark as
the server computes it, and the loop densified as `stations.loop.Loop` densifies it, so the
page snaps a position to the loop with the server's algorithm.

A national file is too large for a phone (see docs/design.md, *The offline rider app*): the
snapshot is of a region, a bounding box (the page asks for the loop's box with a margin), and
past `Settings.offline_max_stations` stations the request is refused, naming ``bbox``.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any

from stations.catalog import BBox, Catalog
from stations.errors import InvalidInput
from stations.loop import DENSIFY_M
from stations.models import Station, Status
from stations.web import assets
from stations.web.i18n import TEXTS

#: Bumped when the snapshot's layout changes (the page drops a snapshot of another format).
SNAPSHOT_FORMAT = 1
#: The columns of each station row, in order.
STATION_FIELDS = (
    "id",
    "name",
    "name_en",
    "kind",
    "town",
    "address",
    "phone",
    "amenities",
    "opening_hours",
    "position_accuracy",
    "loop_km",
    "lon",
    "lat",
)
#: Degrees added around the loop's box for the region the page keeps (about 50 km).
REGION_MARGIN_DEG = 0.5
#: The page's own scripts beyond the shared ones: the offline engine and its libraries.
OFFLINE_JS = [
    # GeographicLib 2.2.0 (npm geographiclib-geodesic, MIT): the server's geodesics, in JS
    "stations/geographiclib-geodesic.min.js",
    "stations/offline.js",
    "stations/outbox.js",  # IndexedDB: the kept snapshot and the reports' outbox
]
#: opening_hours.js 3.15.0 (npm, LGPL-3.0) and SunCalc 2.0.2 (npm, BSD-2-Clause), which it
#: needs for sunrise/sunset rules: loaded only when a snapshot has opening hours to read.
HOURS_JS = ["stations/suncalc.js", "stations/opening_hours.js"]
ICONS = {"192": "stations/icon-192.png", "512": "stations/icon-512.png"}
SW_TEMPLATE = Path(__file__).parent / "static" / "sw.js"
THEME_COLOR = "#c62828"


def region(catalog: Catalog) -> BBox | None:
    """The box the rider page keeps offline: the loop's (or the data's) with a margin."""
    box = catalog.loop.bbox if catalog.loop is not None else catalog.extent()
    if box is None:
        return None
    m = REGION_MARGIN_DEG
    return (
        max(box[0] - m, -180.0),
        max(box[1] - m, -90.0),
        min(box[2] + m, 180.0),
        min(box[3] + m, 90.0),
    )


def _row(catalog: Catalog, station: Station) -> list[Any]:
    props = catalog.encodings.properties(station)  # the JSON values the API answers with
    props["lon"], props["lat"] = station.lon, station.lat
    return [props[name] for name in STATION_FIELDS]


def snapshot(
    catalog: Catalog,
    version: str,
    bbox: BBox | None,
    max_stations: int,
    timezone: str,
    max_offroute_m: float = 5_000.0,
) -> dict[str, Any]:
    """The open, located stations (in ``bbox``) and the loop, as the rider page keeps them.

    Parameters
    ----------
    catalog
        The data served.
    version
        The data's version (the answer's ETag is made of it and ``bbox``).
    bbox
        WGS84 (west, south, east, north); None: every station.
    max_stations
        Refuse (`InvalidInput`, naming ``bbox``) a snapshot of more stations than this.
    timezone
        The zone opening hours are read in (the page evaluates them in it).
    max_offroute_m
        A position farther than this from the loop has no km mark (STATIONS_LOOP_MAX_OFFROUTE_M).
    """
    chosen = [s for s in catalog.select(statuses=[Status.OPEN], bbox=bbox) if s.lon is not None]
    if len(chosen) > max_stations:
        raise InvalidInput(
            f"{len(chosen)} stations match, more than {max_stations} a phone keeps offline; "
            "give a smaller bbox=minlon,minlat,maxlon,maxlat around the rider"
        )
    return {
        "format": SNAPSHOT_FORMAT,
        "version": version,
        "bbox": list(bbox) if bbox is not None else None,
        "timezone": timezone,
        "fields": list(STATION_FIELDS),
        "stations": [_row(catalog, s) for s in chosen],
        "loop": _loop(catalog, max_offroute_m),
    }


def _loop(catalog: Catalog, max_offroute_m: float) -> dict[str, Any] | None:
    """The loop as stored; the page densifies it as `stations.loop.Loop` does (DENSIFY_M)."""
    loop = catalog.loop
    if loop is None:
        return None
    return {
        "coordinates": loop.stored.tolist(),
        "densify_m": DENSIFY_M,
        "length_m": loop.length_m,
        "scale": loop.scale,
        "max_offroute_m": max_offroute_m,
    }


def precache() -> list[str]:
    """Every URL the service worker keeps from the first visit: page assets and icons."""
    scripts = [*assets.JS, "stations/rider.js", *OFFLINE_JS]
    return [assets.url(a) for a in [*assets.CSS, *scripts, *ICONS.values()]]


def on_demand() -> list[str]:
    """URLs the service worker keeps once the page has asked for them.

    The opening-hours parser (1.2 MB) is fetched only where some station has opening hours.
    """
    return [assets.url(a) for a in HOURS_JS]


@lru_cache(maxsize=1)
def service_worker() -> str:
    """sw.js with its precache list and a version naming the content of every file in it.

    A changed asset changes the version, so the browser (which checks sw.js on each visit)
    installs the new worker, which caches the new files under a new name.
    """
    urls = precache()
    later = on_demand()
    digest = hashlib.blake2b(digest_size=8)
    for url in urls + later:
        digest.update(url.encode())
        digest.update(assets.path(url.removeprefix(assets.STATIC)).read_bytes())
    template = SW_TEMPLATE.read_text(encoding="utf-8")
    digest.update(template.encode())
    listed = ",\n  ".join(f'"{u}"' for u in urls)
    return (
        template.replace("__VERSION__", digest.hexdigest())
        .replace("__PRECACHE__", listed)
        .replace("__ON_DEMAND__", ", ".join(f'"{u}"' for u in later))
    )


def manifest(lang: str) -> dict[str, Any]:
    """The web app manifest: name, icons, colours; it starts on the rider page."""
    t = TEXTS[lang]
    return {
        "id": "/",
        "name": t["title"],
        "short_name": t["app_short_name"],
        "description": t["app_description"],
        "lang": "zh-CN" if lang == "zh" else "en",
        "start_url": "/" if lang == "zh" else "/?lang=en",
        "scope": "/",
        "display": "standalone",
        "orientation": "portrait",
        "theme_color": THEME_COLOR,
        "background_color": "#ffffff",
        "icons": [
            {
                "src": assets.url(path),
                "sizes": f"{size}x{size}",
                "type": "image/png",
                "purpose": "any maskable",
            }
            for size, path in ICONS.items()
        ],
    }
