"""Navigation hand-off: links that open Amap or Baidu Maps routing to a station.

Amap's URI API takes GCJ-02 (``coordinate=gaode``), Baidu's takes BD-09 (``coord_type=bd09ll``),
so each link carries the station converted to its provider's datum. Riders are on two wheels or
on foot, so ride and walk modes are offered.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from stations.coords import gcj02_to_bd09, wgs84_to_gcj02

SOURCE_APP = "stations.nanchuan"


def _amap(lon: float, lat: float, name: str, mode: str, origin: tuple[float, float] | None) -> str:
    glon, glat = wgs84_to_gcj02(lon, lat)
    params = {"to": f"{glon:.6f},{glat:.6f},{name}", "mode": mode}
    if origin is not None:
        olon, olat = wgs84_to_gcj02(*origin)
        params["from"] = f"{olon:.6f},{olat:.6f},我的位置"
    params |= {"coordinate": "gaode", "callnative": "1", "src": SOURCE_APP}
    return "https://uri.amap.com/navigation?" + urlencode(params, quote_via=quote)


def _baidu(lon: float, lat: float, name: str, mode: str, origin: tuple[float, float] | None) -> str:
    blon, blat = gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))
    if origin is None:  # without an origin Baidu's web API shows the place with "到这去"
        params = {"location": f"{blat:.6f},{blon:.6f}", "title": name, "content": name}
        params |= {"coord_type": "bd09ll", "output": "html", "src": SOURCE_APP}
        return "https://api.map.baidu.com/marker?" + urlencode(params, quote_via=quote)
    olon, olat = gcj02_to_bd09(*wgs84_to_gcj02(*origin))
    params = {
        "origin": f"latlng:{olat:.6f},{olon:.6f}|name:我的位置",
        "destination": f"latlng:{blat:.6f},{blon:.6f}|name:{name}",
        "mode": mode,
        "coord_type": "bd09ll",
        "output": "html",
        "src": SOURCE_APP,
    }
    return "https://api.map.baidu.com/direction?" + urlencode(params, quote_via=quote)


def navigation_links(
    lon: float, lat: float, name: str, origin: tuple[float, float] | None = None
) -> dict[str, str]:
    """Amap and Baidu links (ride and walk) to a station at WGS84 ``lon``, ``lat``.

    Parameters
    ----------
    lon, lat
        The station in WGS84 degrees.
    name
        Shown as the destination's label.
    origin
        The rider's WGS84 position, when known; otherwise the apps start from "my location".
    """
    return {
        "amap_ride": _amap(lon, lat, name, "ride", origin),
        "amap_walk": _amap(lon, lat, name, "walk", origin),
        "baidu_ride": _baidu(lon, lat, name, "riding", origin),
        "baidu_walk": _baidu(lon, lat, name, "walking", origin),
    }
