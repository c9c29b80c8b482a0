"""Navigation hand-off: links that open Amap or Baidu Maps routing to a station.

Amap's URI API takes GCJ-02 (``coordinate=gaode``), Baidu's takes BD-09 (``coord_type=bd09ll``),
so each link carries the point converted to its provider's datum. Riders are on two wheels or
on foot, so ride and walk modes are offered. A `Place` holds both conversions and the URL-quoted
label, so a station is converted once (the catalog caches it) and a rider once per query.
"""

from __future__ import annotations

from typing import NamedTuple
from urllib.parse import quote

from stations.coords import gcj02_and_bd09

SOURCE_APP = "stations.nanchuan"
MY_LOCATION = "我的位置"
_MY_LOCATION_QUOTED = quote(MY_LOCATION, safe="")


class Place(NamedTuple):
    """A WGS84 point in GCJ-02 and BD-09, with its label quoted for URLs.

    The URL fragments (coordinates with 6 decimals, ~0.1 m) are formatted once here: a station
    is converted once (the catalog caches it) and a rider once per query, and building four
    links per answered station is then string concatenation only. A named tuple: one is made
    per query, cheaper than a frozen dataclass.
    """

    gcj: tuple[float, float]
    bd: tuple[float, float]
    label: str
    amap: str = ""  # "lon%2Clat%2Clabel" in GCJ-02, as Amap's to= and from= take it
    baidu: str = ""  # "lat%2Clon" in BD-09, as Baidu's latlng: takes it

    @classmethod
    def from_wgs84(cls, lon: float, lat: float, name: str) -> Place:
        """Convert once; ``name`` is what the map app shows."""
        glon, glat, blon, blat = gcj02_and_bd09(lon, lat)
        label = _MY_LOCATION_QUOTED if name == MY_LOCATION else quote(name, safe="")
        return cls(
            (glon, glat),
            (blon, blat),
            label,
            f"{glon:.6f}%2C{glat:.6f}%2C{label}",
            f"{blat:.6f}%2C{blon:.6f}",
        )


_TAIL_AMAP = f"&coordinate=gaode&callnative=1&src={SOURCE_APP}"
_TAIL_BAIDU = f"&coord_type=bd09ll&output=html&src={SOURCE_APP}"


def navigation_links(dest: Place, origin: Place | None = None) -> dict[str, str]:
    """Amap and Baidu links (ride and walk) to ``dest``, from ``origin`` when known.

    Built in one function (no helper per link): it runs for every station of every answer.

    Parameters
    ----------
    dest
        The station (see `Place.from_wgs84`).
    origin
        The rider's position, when known; otherwise the apps start from "my location".
    """
    amap = "https://uri.amap.com/navigation?to=" + dest.amap + "&mode="
    if origin is None:
        amap_tail = _TAIL_AMAP
        # Without an origin Baidu's web API shows the place with "到这去".
        baidu = (
            f"https://api.map.baidu.com/marker?location={dest.baidu}"
            f"&title={dest.label}&content={dest.label}{_TAIL_BAIDU}"
        )
        baidu_ride = baidu_walk = baidu
    else:
        amap_tail = "&from=" + origin.amap + _TAIL_AMAP
        baidu = (
            "https://api.map.baidu.com/direction?origin=latlng%3A"
            + origin.baidu
            + "%7Cname%3A"
            + origin.label
            + "&destination=latlng%3A"
            + dest.baidu
            + "%7Cname%3A"
            + dest.label
            + "&mode="
        )
        baidu_ride = baidu + "riding" + _TAIL_BAIDU
        baidu_walk = baidu + "walking" + _TAIL_BAIDU
    return {
        "amap_ride": amap + "ride" + amap_tail,
        "amap_walk": amap + "walk" + amap_tail,
        "baidu_ride": baidu_ride,
        "baidu_walk": baidu_walk,
    }
