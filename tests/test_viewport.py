"""Viewport answers: every station in view counted once, as itself or in a cluster."""

import numpy as np
import pytest

from conftest import collection, station
from stations.catalog import Catalog
from stations.coords import CRS, from_wgs84
from stations.errors import InvalidInput
from stations.models import Kind
from stations.storage.loading import parse_stations
from stations.viewport import viewport


@pytest.fixture(scope="module")
def dense() -> Catalog:
    rng = np.random.default_rng(7)
    lons = rng.uniform(100.0, 115.0, 3000)
    lats = rng.uniform(22.0, 35.0, 3000)
    kinds = ["union_station", "warm_station", "cold_drink_fridge"]
    feats = [
        station(f"s{i}", round(float(x), 6), round(float(y), 6), kind=kinds[i % 3])
        for i, (x, y) in enumerate(zip(lons, lats, strict=True))
    ]
    return Catalog(parse_stations(collection(*feats), "dense").stations)


def total(fc):
    return sum(f["properties"].get("count", 1) for f in fc["features"])


@pytest.mark.parametrize("zoom", [3, 5, 7, 9])
def test_clusters_count_every_station_once(dense, zoom):
    bbox = (104.0, 25.0, 112.0, 31.0)
    lons, lats = dense.index.lons, dense.index.lats
    inside = int(((lons >= 104) & (lons <= 112) & (lats >= 25) & (lats <= 31)).sum())
    fc = viewport(dense, bbox, zoom, max_markers=100)
    assert fc["clustered"] and fc["numberMatched"] == inside
    assert total(fc) == inside
    ids = [f["id"] for f in fc["features"] if "id" in f]
    assert len(ids) == len(set(ids))


def test_few_stations_come_back_as_themselves(dense):
    fc = viewport(dense, (104.0, 25.0, 104.5, 25.5), 12, max_markers=100)
    assert not fc["clustered"]
    assert all(not f["properties"].get("cluster") for f in fc["features"])
    assert all(104.0 <= f["geometry"]["coordinates"][0] <= 104.5 for f in fc["features"])


def test_kind_filter_and_zoom_check(dense):
    fc = viewport(dense, (100, 22, 115, 35), 4, kinds=[Kind.WARM_STATION], max_markers=5000)
    assert fc["numberMatched"] == 1000
    assert {f["properties"]["kind"] for f in fc["features"]} == {"warm_station"}
    with pytest.raises(InvalidInput, match="zoom"):
        viewport(dense, (100, 22, 115, 35), 40)


def test_gcj02_view_finds_stations_near_its_edge(bundled):
    delong = bundled.by_id["delong-yinxing-union-station"]
    gx, gy = from_wgs84(delong.lon, delong.lat, CRS.GCJ02)
    # A small GCJ-02 view around the station's GCJ-02 position (~500 m from its WGS84 one).
    box = (gx - 0.002, gy - 0.002, gx + 0.002, gy + 0.002)
    fc = viewport(bundled, box, 16, crs=CRS.GCJ02)
    (feature,) = fc["features"]
    assert feature["id"] == delong.id
    assert feature["geometry"]["coordinates"] == pytest.approx([gx, gy], abs=1e-6)
    assert viewport(bundled, box, 16)["numberMatched"] == 0  # the same numbers read as WGS84
