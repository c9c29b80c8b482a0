import shutil

from fastapi.testclient import TestClient

from conftest import BUNDLED_LOOP, BUNDLED_STATIONS
from stations.api import create_app
from stations.settings import Settings

TOKEN = "s3cret-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_landing_and_conformance(client):
    landing = client.get("/ogc").json()
    rels = {link["rel"] for link in landing["links"]}
    assert {"self", "service-desc", "service-doc", "conformance", "data"} <= rels
    conf = client.get("/ogc/conformance").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in conf
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson" in conf


def test_collections(client):
    cols = client.get("/ogc/collections").json()["collections"]
    assert [c["id"] for c in cols] == ["stations", "loop"]
    stations = client.get("/ogc/collections/stations").json()
    bbox = stations["extent"]["spatial"]["bbox"][0]
    assert 107 < bbox[0] < bbox[2] < 107.5 and stations["itemType"] == "feature"
    assert client.get("/ogc/collections/rivers").status_code == 404


def test_items_paging_links(client):
    first = client.get("/ogc/collections/stations/items", params={"limit": 4}).json()
    assert first["numberMatched"] == 10 and first["numberReturned"] == 4
    assert first["timeStamp"].endswith("Z")
    nxt = next(link["href"] for link in first["links"] if link["rel"] == "next")
    second = client.get(nxt).json()
    assert second["numberReturned"] == 4
    assert any(link["rel"] == "prev" for link in second["links"])
    assert {f["id"] for f in first["features"]}.isdisjoint(f["id"] for f in second["features"])


def test_items_bbox_item_and_errors(client):
    box = client.get("/ogc/collections/stations/items", params={"bbox": "107.2,28.85,107.3,28.95"})
    assert [f["id"] for f in box.json()["features"]] == ["delong-yinxing-union-station"]
    item = client.get("/ogc/collections/stations/items/toudu-union-station")
    assert item.status_code == 200 and item.headers["content-type"] == "application/geo+json"
    assert client.get("/ogc/collections/loop/items/loop178").status_code == 200
    assert client.get("/ogc/collections/stations/items/nope").status_code == 404
    clamped = client.get("/ogc/collections/stations/items", params={"limit": 100_000})
    assert clamped.status_code == 200 and clamped.json()["numberReturned"] == 10  # to the maximum
    assert "limit=10000&" in clamped.json()["links"][0]["href"]
    assert client.get("/ogc/collections/stations/items", params={"f": "xml"}).status_code == 400


def test_stations_extent_follows_writes(tmp_path):
    """After writes delete the easternmost station and move the southernmost, the extent
    covers the live stations only (it once came from index arrays still holding old positions)."""
    data = tmp_path / "stations.geojson"
    shutil.copy(BUNDLED_STATIONS, data)
    settings = Settings(
        _env_file=None, stations_path=data, loop_path=BUNDLED_LOOP, admin_token=f"office:{TOKEN}"
    )

    def extent(api: TestClient) -> list[float]:
        return api.get("/ogc/collections/stations").json()["extent"]["spatial"]["bbox"][0]

    def located(api: TestClient) -> list[dict]:
        feats = api.get("/api/stations", params={"limit": 10000}).json()["features"]
        return [f for f in feats if f["geometry"]]

    def live(api: TestClient) -> list[float]:
        xs, ys = zip(*(f["geometry"]["coordinates"] for f in located(api)), strict=True)
        return [min(xs), min(ys), max(xs), max(ys)]

    with TestClient(create_app(settings)) as api:
        before = extent(api)
        assert before == live(api)
        east = max(located(api), key=lambda f: f["geometry"]["coordinates"][0])
        south = min(located(api), key=lambda f: f["geometry"]["coordinates"][1])
        assert api.delete(f"/api/stations/{east['id']}?purge=true", headers=AUTH).status_code == 200
        moved = {"geometry": {"type": "Point", "coordinates": [107.2, 29.0]}}
        assert (
            api.patch(f"/api/stations/{south['id']}", json=moved, headers=AUTH).status_code == 200
        )
        after = extent(api)
        assert after == live(api)
        assert after[2] < before[2] and after[1] > before[1]
