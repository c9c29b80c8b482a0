"""Files for other programs, chosen by suffix: stations for a spreadsheet or a GIS, and layers.

``export_stations`` writes the stations in the import's column layout (CSV, XLSX) or as GeoJSON or
a GeoPackage; ``write_features`` writes any FeatureCollection (coverage gaps, suggested sites) for
QGIS. geopandas is imported only when a GeoPackage or GeoJSON layer is written: it takes longer to
import than the rest of the command line needs to start.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson

from stations.coords import CRS
from stations.errors import InvalidInput, StationsError
from stations.storage.files import atomic_write_bytes
from stations.storage.loading import read_checked
from stations.storage.snapshot import COMPACTED
from stations.storage.tabular import feature_to_row, write_rows


def export_stations(source: Path, target: Path, crs: CRS = CRS.WGS84) -> int:
    """Write the stations of ``source`` to ``target`` by its suffix; return how many.

    Parameters
    ----------
    source
        The stations GeoJSON; writes still in its journal are included.
    target
        ``.csv`` or ``.xlsx`` (one row per station, the import's columns), ``.geojson`` (the
        document as stored) or ``.gpkg`` (the stations with a position).
    crs
        Datum of lon/lat in CSV and XLSX.

    Raises
    ------
    StationsError
        `DataError` when the stations are not valid (only valid data leaves); another suffix.
    """
    doc, _ = read_checked(source)
    return export_document({k: v for k, v in doc.items() if k != COMPACTED}, target, crs)


def export_document(doc: dict[str, Any], target: Path, crs: CRS = CRS.WGS84) -> int:
    """Write a valid stations FeatureCollection to ``target`` by its suffix (`export_stations`).

    The stations of any store (`storage.store.stored_document`); returns how many.
    """
    suffix = target.suffix.lower()
    if suffix in (".csv", ".xlsx"):
        write_rows([feature_to_row(f, crs) for f in doc["features"]], target)
    elif suffix == ".geojson":
        atomic_write_bytes(target, orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
    elif suffix == ".gpkg":
        located = {**doc, "features": [f for f in doc["features"] if f.get("geometry")]}
        write_features(located, target, "stations")
    else:
        raise StationsError(f"export to .csv, .xlsx, .geojson or .gpkg; got {target.name!r}")
    return len(doc["features"])


def write_features(collection: dict[str, Any], path: Path, layer: str) -> Path:
    """Write a FeatureCollection as GeoJSON or GeoPackage (by suffix), for QGIS.

    Nested properties (objects, lists) are written as JSON text; the file appears whole or not at
    all (written beside it, then renamed).
    """
    import geopandas as gpd  # start-up cost: see the module docstring

    suffix = path.suffix.lower()
    if suffix not in (".geojson", ".json", ".gpkg"):
        raise InvalidInput(f"export to .geojson or .gpkg; got {path.name!r}")
    features = []
    for f in collection["features"]:
        props = {
            k: (v if not isinstance(v, dict | list) else _flat(v))
            for k, v in f["properties"].items()
        }
        features.append({**f, "properties": props})
    frame = gpd.GeoDataFrame.from_features(features, crs="EPSG:4326")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{suffix}")  # GDAL picks the format by suffix
    driver = "GPKG" if suffix == ".gpkg" else "GeoJSON"
    tmp.unlink(missing_ok=True)
    try:
        frame.to_file(tmp, layer=layer, driver=driver, engine="pyogrio")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _flat(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
