from stations.storage.loading import parse_feature


def test_healthz(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok", "stations": 10}


def test_list_stations_is_geojson_and_valid(client):
    r = client.get("/api/stations")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/geo+json"
    body = r.json()
    assert body["type"] == "FeatureCollection" and body["numberMatched"] == 10
    for i, feat in enumerate(body["features"]):
        stored = dict(feat)
        derived = ("open_now", "loop_km", "navigation")
        stored["properties"] = {k: v for k, v in feat["properties"].items() if k not in derived}
        station, problems, _ = parse_feature(stored, f"feature {i}")
        assert problems == [] and station is not None  # what we serve re-validates


def test_filters_bbox_and_paging(client):
    union = client.get("/api/stations", params={"kind": "union_station"}).json()
    assert union["numberMatched"] == 8
    box = client.get("/api/stations", params={"bbox": "107.2,28.85,107.3,28.95"}).json()
    assert [f["id"] for f in box["features"]] == ["delong-yinxing-union-station"]
    page = client.get("/api/stations", params={"limit": 3, "offset": 3}).json()
    everything = client.get("/api/stations").json()
    assert [f["id"] for f in page["features"]] == [f["id"] for f in everything["features"][3:6]]
    fridge = client.get("/api/stations", params={"amenity": "cold_drinks"}).json()
    assert [f["id"] for f in fridge["features"]] == ["nanchuan-cold-drink-fridge"]


def test_one_station_and_404(client):
    r = client.get("/api/stations/delong-yinxing-union-station", params={"crs": "gcj02"})
    assert r.status_code == 200 and r.json()["id"] == "delong-yinxing-union-station"
    missing = client.get("/api/stations/nowhere")
    assert missing.status_code == 404 and "nowhere" in missing.json()["detail"]


def test_etag_and_conditional_get(client):
    r = client.get("/api/stations")
    etag = r.headers["etag"]
    assert "max-age" in r.headers["cache-control"]
    again = client.get("/api/stations", headers={"If-None-Match": etag})
    assert again.status_code == 304
    other = client.get("/api/stations?limit=1", headers={"If-None-Match": etag})
    assert other.status_code == 200


def test_loop(client):
    r = client.get("/api/loop")
    assert r.status_code == 200
    props = r.json()["properties"]
    assert props["official_length_m"] == 178000 and props["accuracy"] == "schematic"
    assert props["loop_calibration"]["basis"] == "official_length"
    assert len(props["station_marks"]) == 6


def test_security_headers_and_cors(client):
    r = client.get("/healthz", headers={"Origin": "https://example.org"})
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["access-control-allow-origin"] == "https://example.org"
    other = client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


def test_docs_need_no_cdn(client):
    html = client.get("/docs").text
    assert "/static/swagger-ui/swagger-ui-bundle.js" in html and "cdn" not in html.lower()
    assert client.get("/static/swagger-ui/swagger-ui-bundle.js").status_code == 200


def test_oversized_body_is_refused(client):
    r = client.post("/api/stations", content=b"x" * 1_100_000)
    assert r.status_code == 413 and "larger than" in r.json()["detail"]
