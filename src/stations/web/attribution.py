"""Where a map's overlays come from: the credit line, read from the data itself.

The base map's own credit comes with its tile source (`web.tiles`); this is the loop's and the
stations', which change when the office records the loop or surveys a station.
"""

from __future__ import annotations

import html
from typing import Any

from stations.catalog import Catalog
from stations.models import PositionAccuracy

#: Shown with a map whose loop and station positions both come from GeoNames (the bundled data).
DATA_ATTRIBUTION = "Loop &amp; sites: GeoNames CC BY 4.0 (approximate)"

_GEONAMES = "GeoNames CC BY 4.0 (approximate)"


def _loop_credit(props: dict[str, Any]) -> str:
    """Where the loop comes from, by its ``accuracy``."""
    if props.get("accuracy") == "gps_track":  # a GPS track names the day it was imported
        day = str(props.get("imported") or "")[:10]
        return "GPS track" + (f", {day}" if day else "")
    if "GeoNames" in str(props.get("accuracy_note") or ""):  # drawn between GeoNames seats
        return _GEONAMES
    return str(props.get("accuracy") or "drawn")


def data_attribution(catalog: Catalog) -> str:
    """Where the map's overlays come from, as HTML for Leaflet: read from the data itself.

    The loop by its ``accuracy`` (`_loop_credit`), the stations by their positions' accuracy
    and ``source``. Short, as it sits in the map's corner.
    """
    loop = _loop_credit(catalog.loop.properties) if catalog.loop is not None else None
    surveyed = PositionAccuracy.SURVEYED
    rough = [s for s in catalog.located if s.props.position_accuracy is not surveyed]
    sites: str | None = "surveyed on site" if catalog.located else None
    if any("GeoNames" in s.props.source for s in rough):
        sites = _GEONAMES
    elif rough:
        sites = "approximate"
    if loop == sites == _GEONAMES:
        return DATA_ATTRIBUTION
    parts = [f"Loop: {loop}" if loop else "", f"Sites: {sites}" if sites else ""]
    return html.escape(" · ".join(p for p in parts if p), quote=False)
