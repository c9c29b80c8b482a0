"""Pages and map routes through TestClient: headers, CSP, framing, parameters, static assets."""

import re

import pytest
from fastapi.testclient import TestClient

from stations.api import create_app
from stations.settings import Settings


@pytest.fixture(scope="module")
def embed_client():
    settings = Settings(_env_file=None, embed_origins=["https://news.example.cn"], tiles="amap")
    with TestClient(create_app(settings)) as c:
        yield c


def csp(response) -> dict[str, str]:
    parts = [
        p.strip().split(" ", 1) for p in response.headers["content-security-policy"].split(";")
    ]
    return {p[0]: p[1] if len(p) > 1 else "" for p in parts}


@pytest.mark.parametrize("path", ["/", "/map", "/embed", "/?lang=en", "/map?tiles=none"])
def test_pages_answer_html_with_a_strict_policy(client, path):
    r = client.get(path)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    policy = csp(r)
    nonce = re.search(r"'nonce-([^']+)'", policy["script-src"]).group(1)
    assert "'unsafe-inline'" not in policy["script-src"]
    scripts = re.findall(r"<script\b[^>]*>", r.text)
    executable = [s for s in scripts if "application/json" not in s]
    assert executable and all(f'nonce="{nonce}"' in s for s in executable)
    assert policy["frame-ancestors"] == "'self'"
    assert policy["object-src"] == "'none'"
    assert "__NONCE__" not in r.text
    assert (
        client.get(path).headers["content-security-policy"] != r.headers["content-security-policy"]
    )  # a fresh nonce every time


def test_tile_origin_is_the_only_other_image_source(client, embed_client):
    assert csp(client.get("/map"))["img-src"] == "'self' data: https://tile.openstreetmap.org"
    amap = csp(embed_client.get("/map"))["img-src"]
    assert amap.startswith("'self' data: https://webrd01.is.autonavi.com")
    assert csp(client.get("/map?tiles=none"))["img-src"] == "'self' data:"


def test_embed_may_be_framed_by_configured_origins_only(embed_client):
    r = embed_client.get("/embed", params={"station": "delong-yinxing-union-station"})
    assert r.status_code == 200
    assert csp(r)["frame-ancestors"] == "'self' https://news.example.cn"
    assert csp(embed_client.get("/map"))["frame-ancestors"] == "'self'"
    assert "x-frame-options" not in r.headers


def test_rider_page_texts_follow_lang(client):
    zh = client.get("/").text
    en = client.get("/?lang=en").text
    assert '<html lang="zh-CN">' in zh and "找最近的驿站" in zh
    assert '<html lang="en">' in en and "Find the nearest station" in en


@pytest.mark.parametrize(
    ("path", "status", "needle"),
    [
        ("/?lang=fr", 400, "lang"),
        ("/map?tiles=bogus", 400, "tiles must be one of"),
        ("/map?tiles=tianditu", 400, "tiles must be one of"),
        ("/embed?lon=107.2", 400, "both lon and lat"),
        ("/embed?lon=200&lat=29", 400, "lon"),
        ("/embed?lon=nan&lat=29", 400, "lon"),
        ("/embed?station=nope", 404, "nope"),
        ("/embed?zoom=30", 400, "zoom"),
        ("/map?colour=red", 400, "unknown query parameter"),
        ("/map?coverage_km=-1", 400, "coverage_km"),
    ],
)
def test_page_parameters_are_checked(client, path, status, needle):
    r = client.get(path)
    assert r.status_code == status
    assert needle in r.json()["detail"]


def test_static_assets_are_served(client):
    for path in (
        "/static/leaflet/leaflet.js",
        "/static/leaflet/images/marker-icon.png",
        "/static/markercluster/leaflet.markercluster.js",
        "/static/stations/stations.js",
        "/static/stations/rider.js",
    ):
        r = client.get(path)
        assert r.status_code == 200, path
    assert client.get("/static/stations/../settings.py").status_code == 404


def test_viewport_route(client):
    r = client.get("/api/map/stations", params={"bbox": "106.9,28.7,107.6,29.3", "zoom": 10})
    assert r.status_code == 200 and r.headers["content-type"] == "application/geo+json"
    body = r.json()
    assert body["numberMatched"] == 8 and not body["clustered"]
    assert all(f["properties"]["status"] == "open" for f in body["features"])
    only = client.get(
        "/api/map/stations",
        params={"bbox": "106.9,28.7,107.6,29.3", "zoom": 10, "kind": "warm_station"},
    ).json()
    assert [f["properties"]["kind"] for f in only["features"]] == ["warm_station"]
    for params, needle in (
        ({"bbox": "1,2,3", "zoom": 3}, "bbox"),
        ({"bbox": "0,0,1,1", "zoom": 99}, "zoom"),
        ({"bbox": "0,0,1,1"}, "zoom"),
        ({"bbox": "0,0,1,1", "zoom": 3, "crs": "utm"}, "crs"),
        ({"bbox": "0,0,1,1", "zoom": 3, "x": 1}, "unknown query parameter"),
    ):
        bad = client.get("/api/map/stations", params=params)
        assert bad.status_code == 400 and needle in bad.json()["detail"]


def test_convert_route_round_trips(client):
    there = client.get("/api/convert", params={"lon": 107.2618, "lat": 28.912, "to": "bd09"}).json()
    back = client.get(
        "/api/convert", params={"lon": there["lon"], "lat": there["lat"], "crs": "bd09"}
    ).json()
    assert there["crs"] == "bd09" and abs(there["lon"] - 107.2618) > 0.005
    assert back == {
        "lon": pytest.approx(107.2618, abs=1e-6),
        "lat": pytest.approx(28.912, abs=1e-6),
        "crs": "wgs84",
    }
    bad = client.get("/api/convert", params={"lon": 107, "lat": 95})
    assert bad.status_code == 400 and "lat" in bad.json()["detail"]
