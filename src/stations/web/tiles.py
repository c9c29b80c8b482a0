"""Base-map tile sources: which URL, whose attribution, and which datum the tiles are drawn in.

Amap (Gaode) tiles are drawn in GCJ-02, so everything laid over them must be shifted to GCJ-02
too, or it lands ~500 m off around Nanchuan. OpenStreetMap and Tianditu tiles are WGS84 (Tianditu's
CGCS2000 agrees with WGS84 to centimetres at map scales).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from stations.coords import CRS, from_wgs84
from stations.errors import InvalidInput

#: Where the service answers the maps' viewport queries.
VIEWPORT_API = "/api/map/stations"


def to_map(lons: Any, lats: Any, crs: CRS) -> list[list[float]]:
    """[[lat, lon], ...] in the map's datum ``crs``, as Leaflet (and folium) take them."""
    x, y = from_wgs84(np.asarray(lons, float), np.asarray(lats, float), crs)
    return [[round(float(b), 6), round(float(a), 6)] for a, b in zip(x, y, strict=True)]


@dataclass(frozen=True, slots=True)
class TileSource:
    """One base map: a Leaflet URL template, attribution, datum, and zoom range."""

    name: str
    url: str
    attribution: str
    crs: CRS = CRS.WGS84
    subdomains: str = ""
    max_zoom: int = 18
    #: Labels drawn on top (Tianditu serves them as a separate layer).
    overlay_url: str | None = None
    extra_origins: tuple[str, ...] = field(default=())

    def safe_attribution(self) -> str:
        """Attribution as HTML for Leaflet: ours as written, a configured one escaped."""
        return html.escape(self.attribution) if self.name == "custom" else self.attribution

    def origins(self) -> list[str]:
        """Every origin the browser will fetch tiles from (for Content-Security-Policy)."""
        out: list[str] = []
        for template in filter(None, (self.url, self.overlay_url)):
            for sub in self.subdomains or " ":
                url = template.replace("{s}", sub.strip())
                parts = urlsplit(url)
                origin = f"{parts.scheme}://{parts.netloc}"
                if parts.scheme in ("http", "https") and origin not in out:
                    out.append(origin)
        return out + [o for o in self.extra_origins if o not in out]


NAMED = ("osm", "amap", "tianditu", "none")


def _tianditu(key: str | None) -> TileSource:
    """Tianditu's vector map and its label overlay (WMTS, Web Mercator); needs a key."""
    if not key:
        raise InvalidInput(
            "tianditu tiles need a key: set STATIONS_TIANDITU_KEY (free from "
            "https://console.tianditu.gov.cn/)"
        )
    wmts = (
        "https://t{{s}}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile"
        "&VERSION=1.0.0&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles"
        "&TILEMATRIX={{z}}&TILEROW={{y}}&TILECOL={{x}}&tk={key}"
    )
    return TileSource(
        "tianditu",
        wmts.format(layer="vec", key=key),
        "&copy; 天地图 Tianditu",
        subdomains="01234567",
        overlay_url=wmts.format(layer="cva", key=key),
    )


def tile_source(
    spec: str,
    *,
    tianditu_key: str | None = None,
    attribution: str | None = None,
    crs: CRS = CRS.WGS84,
) -> TileSource:
    """The tile source a setting or ``--tiles`` names.

    One of ``osm``, ``amap``, ``tianditu``, ``none``, or a URL template with ``{z}``, ``{x}`` and
    ``{y}`` (then ``attribution`` and ``crs`` describe it).
    """
    name = spec.strip()
    if name == "osm":
        return TileSource(
            "osm",
            "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
            '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> '
            "contributors",
            max_zoom=19,
        )
    if name == "amap":
        return TileSource(
            "amap",
            "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8"
            "&x={x}&y={y}&z={z}",
            "&copy; 高德地图 AutoNavi (GCJ-02)",
            crs=CRS.GCJ02,
            subdomains="1234",
        )
    if name == "tianditu":
        return _tianditu(tianditu_key)
    if name == "none":
        return TileSource("none", "", "no base map")
    parts = urlsplit(name)
    if (
        parts.scheme in ("http", "https")
        and parts.netloc
        and all(key in name for key in ("{z}", "{x}", "{y}"))
    ):
        return TileSource("custom", name, attribution or parts.netloc, crs=crs)
    raise InvalidInput(
        f"tiles must be one of {', '.join(NAMED)} or an http(s) URL template with {{z}}, {{x}} "
        f"and {{y}}; got {spec!r}"
    )
