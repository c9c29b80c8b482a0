"""Pages and map routes through TestClient: headers, CSP, framing, parameters, static assets."""

import asyncio
import re
import threading
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from stations.api import create_app
from stations.api.routes import pages as pages_module
from stations.settings import Settings
from stations.web.pages import embed_template, fill_embed, map_page, page_center
from stations.web.tiles import tile_source


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


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_embed_of_a_missing_station_is_a_page_in_the_frame(embed_client, lang):
    """A website's iframe gets a page (still 404), not the API's JSON."""
    browser = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    station = "no-such-<b>station"
    r = embed_client.get("/embed", params={"station": station, "lang": lang}, headers=browser)
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/html")
    policy = csp(r)
    assert policy["frame-ancestors"] == "'self' https://news.example.cn"  # as /embed
    assert "script-src 'self' 'nonce-" in r.headers["content-security-policy"]
    page = r.text
    assert "没有找到这个驿站" in page and "Station not found" in page
    first = page.index("没有找到") < page.index("Station not found")
    assert first == (lang == "zh")  # the asked language first
    assert f'<a href="/embed?lang={lang}">' in page  # the whole map, in the same frame
    assert "no-such-&lt;b&gt;station" in page and "<b>" not in page
    assert "<script" not in page
    script = embed_client.get("/embed", params={"station": "x"})  # no text/html: JSON
    assert script.status_code == 404 and "'x'" in script.json()["detail"]


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


def pages_app(**limits):
    settings = Settings(_env_file=None, **limits)
    return create_app(settings)


def without_nonce(page: str) -> str:
    return re.sub(r'nonce="[^"]+"', "", re.sub(r"map_[0-9a-f]{32}", "map", page))


def test_every_centre_shares_one_cached_page_per_view():
    with TestClient(pages_app()) as c:
        pages = c.app.services.pages
        a = c.get("/embed", params={"lon": 107.26181, "lat": 28.91201, "zoom": 13})
        b = c.get("/embed", params={"lon": 107.26184, "lat": 28.91198, "zoom": 13.0})
        assert a.status_code == b.status_code == 200
        assert len(pages) == 1 and without_nonce(a.text) == without_nonce(b.text)
        assert "[28.912, 107.2618]" in a.text  # the centre the page shows, rounded
        far = c.get("/embed", params={"lon": 106.5, "lat": 29.5, "zoom": 13})
        assert "[29.5, 106.5]" in far.text and "[28.912, 107.2618]" not in far.text
        assert len(pages) == 1  # a new centre is filled in, not built
        c.get("/embed", params={"lon": 107.26181, "lat": 28.91201, "zoom": 18})
        assert len(pages) == 2  # closer in: another view


@pytest.mark.parametrize("tiles", ["osm", "amap"])
@pytest.mark.parametrize(
    ("center", "zoom", "focus"),
    [
        ((107.2618, 28.912), 13, None),
        ((107.0989, 29.1581), 15, "nanchuan-cold-drink-fridge"),
        ((-70.5, -33.25), 3, None),
    ],  # fmt: skip
)
def test_a_filled_embed_page_is_the_page_built_for_its_centre(bundled, tiles, center, zoom, focus):
    source = tile_source(tiles)
    template = embed_template(bundled, source, "zh", 5.0, zoom, focus is not None)
    filled = fill_embed(template, source, center, focus)
    built = map_page(bundled, source, "zh", 5.0, center, zoom, focus)
    ids = re.compile(r"_[0-9a-f]{32}(?![0-9a-f])")  # folium names each element afresh per build
    assert ids.sub("_id", filled) == ids.sub("_id", built)


@pytest.mark.parametrize(
    ("lon", "lat", "zoom", "centre"),
    [
        (107.123456789, 28.987654321, 0, (107.0, 29.0)),
        (107.123456789, 28.987654321, 13, (107.1235, 28.9877)),
        (107.123456789, 28.987654321, 19, (107.123457, 28.987654)),
    ],
)
def test_centres_are_rounded_to_half_a_pixel(lon, lat, zoom, centre):
    assert page_center(lon, lat, zoom) == centre
    pixel = 360 / (256 * 2**zoom)
    assert all(abs(r - x) <= pixel / 2 for r, x in zip(centre, (lon, lat), strict=True))


def test_the_page_cache_is_bounded_in_entries_and_bytes():
    with TestClient(pages_app(page_cache_entries=3)) as c:
        for zoom in range(6):
            assert c.get("/embed", params={"lon": 107, "lat": 29, "zoom": zoom}).status_code == 200
        pages = c.app.services.pages
        assert len(pages) == 3
        assert any(5 in key for key in pages)  # the newest view is kept
    with TestClient(pages_app(page_cache_bytes=1_048_576)) as c:
        pages = c.app.services.pages
        for zoom in range(12):
            assert c.get("/embed", params={"lon": 107, "lat": 29, "zoom": zoom}).status_code == 200
        assert 1 <= len(pages) < 12 and pages.nbytes <= 1_048_576


def test_page_builds_run_in_threads_a_bounded_number_at_once(monkeypatch):
    loop_thread = threading.get_ident()
    running, seen = [0], []
    lock = threading.Lock()
    build = pages_module.map_page

    def watched(*args, **kwargs):
        with lock:
            running[0] += 1
            seen.append((threading.get_ident(), running[0]))
        try:
            time.sleep(0.05)  # long enough for builds to overlap if they could
            return build(*args, **kwargs)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(pages_module, "map_page", watched)

    async def flood() -> list[int]:
        app = pages_app(page_builds=2)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                asks = [client.get("/map", params={"coverage_km": 1 + i}) for i in range(6)]
                same = [client.get("/map", params={"coverage_km": 7}) for _ in range(3)]
                answers = await asyncio.gather(*asks, *same)
        return [r.status_code for r in answers]

    assert asyncio.run(flood()) == [200] * 9
    assert len(seen) == 7  # six coverages, and the map asked three times at once built once
    assert all(thread != loop_thread for thread, _ in seen)
    assert max(count for _, count in seen) <= 2


def test_one_client_causes_a_bounded_number_of_builds():
    with TestClient(pages_app(page_builds_per_minute=3)) as c:
        for km in (1, 2, 3):
            assert c.get("/map", params={"coverage_km": km}).status_code == 200
        refused = c.get("/map", params={"coverage_km": 4})
        assert refused.status_code == 429
        assert "too many different pages" in refused.json()["detail"]
        assert int(refused.headers["retry-after"]) > 0
        assert c.get("/map", params={"coverage_km": 2}).status_code == 200  # built: free
        centre = {"lon": 106.9, "lat": 29.3, "zoom": 3}
        assert c.get("/embed", params=centre).status_code == 429  # a new view is a build
        assert c.get("/embed", params={**centre, "zoom": 13}).status_code == 429
