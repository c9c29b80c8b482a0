"""What a map shows in its current view: the stations, or grid clusters when there are too many.

A national map cannot carry every station as a marker (client-side clustering of a national
file is far too slow and heavy). The page asks for its viewport instead; up to ``max_markers``
stations come back as they are, and beyond that stations are counted in screen-sized grid cells
(64 px at the requested zoom), vectorised with numpy. Cells holding one station return the
station itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from stations.catalog import Catalog
from stations.coords import CRS, from_wgs84, in_bbox, to_wgs84
from stations.errors import InvalidInput
from stations.features import QueryContext, station_feature
from stations.index import IntArray
from stations.models import Kind, Status

#: Cluster cell size in screen pixels.
CELL_PX = 64
#: Web Mercator's latitude limit.
MERCATOR_LAT = 85.0511287798


def wgs84_bbox(
    bbox: tuple[float, float, float, float], crs: CRS
) -> tuple[float, float, float, float]:
    """A bbox given in ``crs`` as a WGS84 bbox that contains it.

    The datum shift varies by a few metres across a city, so the converted corners are padded by
    0.001 degrees (~100 m), and the station filter is exact again after the shift back.
    """
    if crs is CRS.WGS84:
        return bbox
    x0, y0, x1, y1 = bbox
    corners = [to_wgs84(x, y, crs) for x, y in ((x0, y0), (x0, y1), (x1, y0), (x1, y1))]
    xs, ys = [c[0] for c in corners], [c[1] for c in corners]
    pad = 0.001
    return (
        max(-180.0, float(min(xs)) - pad),
        max(-90.0, float(min(ys)) - pad),
        min(180.0, float(max(xs)) + pad),
        min(90.0, float(max(ys)) + pad),
    )


def viewport(
    catalog: Catalog,
    bbox: tuple[float, float, float, float],
    zoom: int,
    *,
    kinds: Iterable[Kind] = (),
    statuses: Iterable[Status] = (),
    crs: CRS = CRS.WGS84,
    max_markers: int = 500,
    ctx: QueryContext | None = None,
) -> dict[str, Any]:
    """Stations (or clusters of them) inside ``bbox`` (given in ``crs``) for a map at ``zoom``.

    Returns a FeatureCollection: station features as `station_feature` builds them, and cluster
    features with ``{"cluster": true, "count": n}`` at their stations' mean position.
    """
    if not 0 <= zoom <= 22:
        raise InvalidInput(f"zoom must be a whole number from 0 to 22; got {zoom}")
    lons, lats = catalog.index.lons, catalog.index.lats
    keep = in_bbox(lons, lats, wgs84_bbox(bbox, crs))
    mask = catalog.mask(kinds, (), statuses)
    if mask is not None:
        keep &= mask
    hits = np.flatnonzero(keep)
    ctx = ctx or QueryContext()
    clustered = len(hits) > max_markers
    if clustered:
        features = _clusters(catalog, hits, zoom, crs, ctx)
    else:
        hits = hits[np.argsort(catalog.index.rank[hits], kind="stable")]  # file order
        at = catalog.station_at
        features = [station_feature(catalog, at(i), crs, ctx) for i in hits.tolist()]
    return {
        "type": "FeatureCollection",
        "features": features,
        "numberMatched": int(len(hits)),
        "numberReturned": len(features),
        "clustered": clustered,
    }


def _clusters(
    catalog: Catalog, hits: IntArray, zoom: int, crs: CRS, ctx: QueryContext
) -> list[dict[str, Any]]:
    """The stations at positions ``hits`` counted in grid cells of `CELL_PX` at ``zoom``.

    A cell of one station gives the station's feature; others a cluster feature at their
    stations' mean position.
    """
    cell = CELL_PX * 360.0 / (256.0 * 2.0**zoom)  # degrees of longitude per cell
    hx, hy = catalog.index.lons[hits], catalog.index.lats[hits]
    # Cells square on screen: latitude measured in Mercator units, in degrees of longitude.
    my = np.degrees(np.log(np.tan(np.pi / 4 + np.radians(np.clip(hy, -85.0, 85.0)) / 2)))
    cx = np.floor((hx + 180.0) / cell).astype(np.int64)
    cy = np.floor((my + 180.0) / cell).astype(np.int64)
    keys = cx * (int(360.0 / cell) + 2) + cy
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    mean_x = np.bincount(inverse, weights=hx) / counts
    mean_y = np.bincount(inverse, weights=hy) / counts
    first = np.full(len(counts), -1, dtype=np.int64)
    first[inverse[::-1]] = hits[::-1]  # some station of each cell (for single-station cells)
    features = []
    for c in range(len(counts)):
        if counts[c] == 1:
            station = catalog.station_at(int(first[c]))
            features.append(station_feature(catalog, station, crs, ctx))
            continue
        x, y = from_wgs84(float(mean_x[c]), float(mean_y[c]), crs)
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [round(x, 6), round(y, 6)]},
                "properties": {"cluster": True, "count": int(counts[c])},
            }
        )
    return features
