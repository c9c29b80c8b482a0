"""Navigation hand-off: links that open Amap or Baidu Maps routing to a station.

Amap's URI API takes GCJ-02 (``coordinate=gaode``), Baidu's takes BD-09 (``coord_type=bd09ll``),
so each link carries the point converted to its provider's datum. Riders are on two wheels or
on foot, so ride and walk modes are offered. A `Place` holds both conversions and the URL-quoted
label, so a station is converted once (`stations.features` caches it) and a rider once per query.
"""

from __future__ import annotations

from typing import NamedTuple
from urllib.parse import quote

import orjson

from stations.coords import gcj02_and_bd09

SOURCE_APP = "stations.nanchuan"
MY_LOCATION = "我的位置"
_MY_LOCATION_QUOTED = quote(MY_LOCATION, safe="")


class Place(NamedTuple):
    """A WGS84 point in GCJ-02 and BD-09, with its label quoted for URLs.

    The URL fragments (coordinates with 6 decimals, ~0.1 m) are formatted once here: a station
    is converted once (`stations.features` caches it) and a rider once per query, and building four
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
_AMAP = "https://uri.amap.com/navigation?to="
_BAIDU_MARKER = "https://api.map.baidu.com/marker?location="
_BAIDU_DIRECTION = "https://api.map.baidu.com/direction?origin=latlng%3A"


class Links:
    """Navigation links from one origin (or from "my location") to any number of places.

    What depends on the origin is put together once; an answer then builds each station's
    four links from its `Place` with a few concatenations (`to`), or writes their JSON from the
    station's cached `json_template` and the origin's parts (`parts`), with no dict and no
    serialiser: every part of a link is URL-quoted ASCII (`quote` with ``safe=""`` leaves no
    quote, backslash or control character), so the text needs no escaping. A test checks
    ``json`` against ``orjson.dumps(to)`` on hostile names.

    Parameters
    ----------
    origin
        The rider's position, when known; otherwise the apps start from "my location".
    """

    __slots__ = ("_amap_tail", "_baidu_head", "_json_parts")

    def __init__(self, origin: Place | None = None) -> None:
        self._amap_tail = _TAIL_AMAP
        self._baidu_head: str | None = None
        self._json_parts: tuple[bytes, bytes] | None = None
        if origin is not None:
            self._amap_tail = "&from=" + origin.amap + _TAIL_AMAP
            self._baidu_head = (
                _BAIDU_DIRECTION
                + origin.baidu
                + "%7Cname%3A"
                + origin.label
                + "&destination=latlng%3A"
            )
            self._json_parts = (self._amap_tail.encode(), self._baidu_head.encode())

    def urls(self, dest: Place) -> tuple[str, str, str, str]:
        """Amap ride, Amap walk, Baidu ride, Baidu walk links to ``dest``."""
        amap = _AMAP + dest.amap + "&mode="
        tail = self._amap_tail
        if self._baidu_head is None:
            # Without an origin Baidu's web API shows the place with "到这去".
            baidu = _BAIDU_MARKER + dest.baidu + "&title=" + dest.label + "&content=" + dest.label
            baidu_ride = baidu_walk = baidu + _TAIL_BAIDU
        else:
            baidu = self._baidu_head + dest.baidu + "%7Cname%3A" + dest.label + "&mode="
            baidu_ride = baidu + "riding" + _TAIL_BAIDU
            baidu_walk = baidu + "walking" + _TAIL_BAIDU
        return amap + "ride" + tail, amap + "walk" + tail, baidu_ride, baidu_walk

    def to(self, dest: Place) -> dict[str, str]:
        """The links to ``dest`` by name: ``amap_ride``, ``amap_walk``, ``baidu_ride``..."""
        amap_ride, amap_walk, baidu_ride, baidu_walk = self.urls(dest)
        return {
            "amap_ride": amap_ride,
            "amap_walk": amap_walk,
            "baidu_ride": baidu_ride,
            "baidu_walk": baidu_walk,
        }

    def parts(self, dest: Place, template: JSONTemplate) -> tuple[bytes, ...]:
        """The JSON of `to` in pieces: ``template`` (`json_template` of ``dest``) and ours."""
        if self._json_parts is None:
            return (orjson.dumps(self.to(dest)),)
        amap, baidu = self._json_parts
        t0, t1, t2, t3, t4 = template
        return (t0, amap, t1, amap, t2, baidu, t3, baidu, t4)

    def json(self, dest: Place) -> bytes:
        """``orjson.dumps(self.to(dest))``, written directly (see the class)."""
        return b"".join(self.parts(dest, json_template(dest)))


JSONTemplate = tuple[bytes, bytes, bytes, bytes, bytes]


def json_template(dest: Place) -> JSONTemplate:
    """The JSON object of the links to ``dest``, cut where an origin's parts go.

    It does not depend on the origin, so it is cached with each station (`stations.features`);
    `Links.parts` interleaves an origin's parts (Amap's ``from`` and Baidu's ``origin``) with it.
    """
    amap = _AMAP + dest.amap + "&mode="
    baidu = dest.baidu + "%7Cname%3A" + dest.label + "&mode="
    return (
        f'{{"amap_ride":"{amap}ride'.encode(),
        f'","amap_walk":"{amap}walk'.encode(),
        b'","baidu_ride":"',
        f'{baidu}riding{_TAIL_BAIDU}","baidu_walk":"'.encode(),
        f'{baidu}walking{_TAIL_BAIDU}"}}'.encode(),
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
    return Links(origin).to(dest)
