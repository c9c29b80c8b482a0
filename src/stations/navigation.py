"""Navigation hand-off: links that open Amap or Baidu Maps routing to a station.

Amap's URI API takes GCJ-02 (``coordinate=gaode``), Baidu's takes BD-09 (``coord_type=bd09ll``),
so each link carries the point converted to its provider's datum. Riders are on two wheels or
on foot, so ride and walk modes are offered. A `Place` holds both conversions and the URL-quoted
label, so a station is converted once (the catalog caches it) and a rider once per query.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from stations.coords import gcj02_to_bd09, wgs84_to_gcj02

SOURCE_APP = "stations.nanchuan"
MY_LOCATION = "我的位置"


@dataclass(frozen=True, slots=True)
class Place:
    """A WGS84 point in GCJ-02 and BD-09, with its label quoted for URLs."""

    gcj: tuple[float, float]
    bd: tuple[float, float]
    label: str

    @classmethod
    def from_wgs84(cls, lon: float, lat: float, name: str) -> Place:
        """Convert once; ``name`` is what the map app shows."""
        glon, glat = wgs84_to_gcj02(lon, lat)
        return cls((glon, glat), gcj02_to_bd09(glon, glat), quote(name, safe=""))


def _amap(dest: Place, mode: str, origin: Place | None) -> str:
    glon, glat = dest.gcj
    url = f"https://uri.amap.com/navigation?to={glon:.6f}%2C{glat:.6f}%2C{dest.label}&mode={mode}"
    if origin is not None:
        olon, olat = origin.gcj
        url += f"&from={olon:.6f}%2C{olat:.6f}%2C{origin.label}"
    return url + f"&coordinate=gaode&callnative=1&src={SOURCE_APP}"


def _baidu(dest: Place, mode: str, origin: Place | None) -> str:
    blon, blat = dest.bd
    tail = f"&coord_type=bd09ll&output=html&src={SOURCE_APP}"
    if origin is None:  # without an origin Baidu's web API shows the place with "到这去"
        return (
            f"https://api.map.baidu.com/marker?location={blat:.6f}%2C{blon:.6f}"
            f"&title={dest.label}&content={dest.label}{tail}"
        )
    olon, olat = origin.bd
    return (
        f"https://api.map.baidu.com/direction?origin=latlng%3A{olat:.6f}%2C{olon:.6f}"
        f"%7Cname%3A{origin.label}&destination=latlng%3A{blat:.6f}%2C{blon:.6f}"
        f"%7Cname%3A{dest.label}&mode={mode}{tail}"
    )


def navigation_links(dest: Place, origin: Place | None = None) -> dict[str, str]:
    """Amap and Baidu links (ride and walk) to ``dest``, from ``origin`` when known.

    Parameters
    ----------
    dest
        The station (see `Place.from_wgs84`).
    origin
        The rider's position, when known; otherwise the apps start from "my location".
    """
    return {
        "amap_ride": _amap(dest, "ride", origin),
        "amap_walk": _amap(dest, "walk", origin),
        "baidu_ride": _baidu(dest, "riding", origin),
        "baidu_walk": _baidu(dest, "walking", origin),
    }
