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
    assert client.get("/ogc/collections/stations/items", params={"limit": 10001}).status_code == 400
    assert client.get("/ogc/collections/stations/items", params={"f": "xml"}).status_code == 400
