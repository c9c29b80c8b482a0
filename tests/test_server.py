"""The real thing: `stations serve` on a free port, read over HTTP by httpx, GDAL and OWSLib."""

import httpx
import pyogrio
import pytest
from owslib.ogcapi.features import Features

from helpers import serve


@pytest.fixture(scope="module")
def server():
    with serve() as base:
        yield base


def test_nearest_over_http(server):
    r = httpx.get(f"{server}/api/nearest", params={"lon": 107.2618, "lat": 28.912})
    assert r.status_code == 200
    assert r.json()["features"][0]["id"] == "delong-yinxing-union-station"
    bad = httpx.get(f"{server}/api/nearest", params={"lon": 107, "lat": "north"})
    assert bad.status_code == 400 and "lat" in bad.json()["detail"]


def test_gdal_reads_every_station_across_pages(server):
    # GDAL's OAPIF driver (bundled in pyogrio's wheels) pages with limit/next itself.
    df = pyogrio.read_dataframe(f"OAPIF:{server}/ogc", layer="stations", read_geometry=True)
    assert len(df) == 10
    assert set(df["id"]) >= {"delong-yinxing-union-station", "loop178-union-station-7"}
    row = df[df["id"] == "delong-yinxing-union-station"].iloc[0]
    assert row["name"] == "德隆银杏村工会驿站" and row["kind"] == "union_station"
    assert abs(row.geometry.x - 107.26137) < 1e-6 and abs(row.geometry.y - 28.91167) < 1e-6


def test_gdal_small_pages_and_bbox(server):
    url = f"OAPIF:{server}/ogc"
    paged = pyogrio.read_dataframe(url, layer="stations", PAGE_SIZE="3")
    assert len(paged) == 10
    boxed = pyogrio.read_dataframe(url, layer="stations", bbox=(107.2, 28.85, 107.3, 28.95))
    assert list(boxed["id"]) == ["delong-yinxing-union-station"]
    layers = {name for name, _ in pyogrio.list_layers(url)}
    assert layers == {"stations", "loop"}


def test_owslib_features_client(server):
    api = Features(f"{server}/ogc")
    ids = [c["id"] for c in api.collections()["collections"]]
    assert ids == ["stations", "loop"]
    items = api.collection_items("stations", limit=5)
    assert items["numberReturned"] == 5 and items["numberMatched"] == 10
    one = api.collection_item("stations", "toudu-union-station")
    assert one["properties"]["town"] == "头渡镇"
    assert api.conformance()["conformsTo"]
