"""The pages in a real headless Chromium (Debian's), driven by Playwright, against real servers.

No request may leave 127.0.0.1: tiles come from a local stub server, anything else is recorded
and aborted, and every test asserts none was made. Screenshots land in tests/artifacts/.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import numpy as np
import pytest
from playwright.sync_api import Browser, Locator, Page, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from conftest import collection, station
from helpers import serve
from stations.coords import CRS, from_wgs84
from stations.settings import DEFAULT_GEODATA

CHROMIUM = os.environ.get("STATIONS_TEST_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).parent / "artifacts"
XSS = "<img src=x onerror=alert(1)>"
DELONG = (107.2618, 28.912)  # a rider standing 56 m from 德隆银杏村工会驿站
# A valid 1x1 PNG.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cf00000301010018dd8db00000000049454e44ae426082"
)


class _Tiles(BaseHTTPRequestHandler):
    hits = 0

    def do_GET(self) -> None:  # noqa: N802
        type(self).hits += 1
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(PNG)))
        self.end_headers()
        self.wfile.write(PNG)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def tiles():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Tiles)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def tile_env(tiles: str, **extra: str) -> dict[str, str]:
    return {
        "STATIONS_TILES": f"{tiles}/tiles/{{z}}/{{x}}/{{y}}.png",
        "STATIONS_TILES_ATTRIBUTION": "local test tiles",
        **extra,
    }


@pytest.fixture(scope="module")
def server(tiles):
    with serve(tile_env(tiles)) as base:
        yield base


CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


@contextmanager
def chromium(*extra_args: str) -> Iterator[Browser]:
    """Debian's chromium driven by Playwright (never a downloaded browser); fails if absent."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (`.ci/run` does)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *extra_args])
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


class Watch:
    """What a page did: console errors, page errors, dialogs, requests that left 127.0.0.1."""

    def __init__(self, page: Page, allow_osm: bool = False) -> None:
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.external: list[str] = []
        self.osm_tiles = 0
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))

        def route(r):
            url = r.request.url
            host = urlsplit(url).hostname
            if url.startswith(("file:", "data:")) or host == "127.0.0.1":
                return r.continue_()
            if allow_osm and host == "tile.openstreetmap.org":
                self.osm_tiles += 1  # answered here, standing in for the tile server
                return r.fulfill(body=PNG, content_type="image/png")
            self.external.append(url)
            return r.abort()

        page.route("**/*", route)

    def clean(self) -> None:
        assert self.errors == [], self.errors
        assert self.dialogs == [], self.dialogs
        assert self.external == [], self.external


@pytest.fixture
def context(browser):
    ctx = browser.new_context(
        viewport={"width": 360, "height": 740},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
        geolocation={"longitude": DELONG[0], "latitude": DELONG[1], "accuracy": 20},
        permissions=["geolocation"],
    )
    yield ctx
    ctx.close()


def shown(page: Page) -> int:
    """Stations on screen: single markers plus the counts on cluster icons."""
    singles = page.locator(".st-marker").count()
    clusters = page.locator(".marker-cluster span").all_inner_texts()
    return singles + sum(int(c) for c in clusters)


def ready(page: Page) -> None:
    page.wait_for_selector("[data-stations-ready]", state="attached", timeout=20_000)


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


@pytest.mark.parametrize("path", ["/", "/map", "/map?lang=en", "/map?tiles=none", "/?tiles=none"])
def test_pages_load_clean_with_every_station(context, server, tiles, path):
    page = context.new_page()
    watch = Watch(page)
    before = _Tiles.hits
    page.goto(server + path)
    ready(page)
    assert shown(page) == 8  # the 8 located, open stations
    assert page.locator(".leaflet-control-attribution").inner_text().count("GeoNames") == 1
    if "tiles=none" not in path:
        page.wait_for_function(
            "() => document.querySelectorAll('img.leaflet-tile-loaded').length > 0"
        )
        assert _Tiles.hits > before  # tiles came from the configured (local) server
    watch.clean()
    screenshot(page, f"page{path.replace('/', '-').replace('?', '-')}.png")


def test_embed_opens_the_asked_station(context, server):
    page = context.new_page()
    watch = Watch(page)
    page.goto(f"{server}/embed?station=delong-yinxing-union-station&lang=en")
    ready(page)
    popup = page.locator(".leaflet-popup .st-popup")
    popup.wait_for()
    assert popup.locator(".st-name").inner_text() == "德隆银杏村工会驿站"
    assert "Delong" in popup.locator(".st-name-en").inner_text()
    links = popup.locator("a.st-nav")
    assert links.count() == 2
    assert links.nth(0).get_attribute("href").startswith("https://uri.amap.com/navigation?")
    watch.clean()
    screenshot(page, "embed-station.png")


def test_rider_finds_the_nearest_station_from_geolocation(context, server):
    page = context.new_page()
    watch = Watch(page)
    page.goto(server + "/")
    ready(page)
    page.click("#find")
    page.wait_for_selector("#results li")
    items = page.locator("#results li")
    assert items.count() == 3
    first = items.nth(0)
    assert first.get_attribute("data-station") == "delong-yinxing-union-station"
    assert "56 米" in first.inner_text() and "西南" in first.inner_text()
    assert first.locator("a.st-nav").first.get_attribute("href").startswith("https://uri.amap")
    assert page.locator(".st-highlight").count() == 3  # the three highlighted on the map
    # Phone width: nothing wider than the screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    screenshot(page, "rider-360-zh.png")
    page.click("#lang-switch")
    assert page.locator("#find").inner_text() == "Find the nearest station"
    assert "56 m" in items.nth(0).inner_text() and "SW" in items.nth(0).inner_text()
    assert "lang=en" in page.url
    watch.clean()
    screenshot(page, "rider-360-en.png")


def test_rider_reports_a_problem_from_the_results(context, tiles, tmp_path):
    """A rider opens "report a problem" under the nearest station and sends it; the report is
    stored with the rider's position and text (kept as text), and the map marks the station."""
    token = "browser-test-token"
    env = tile_env(
        tiles, STATIONS_REPORTS_PATH=str(tmp_path / "reports.sqlite"), STATIONS_ADMIN_TOKEN=token
    )
    with serve(env) as base:
        page = context.new_page()
        watch = Watch(page)
        page.goto(base + "/")
        ready(page)
        page.click("#find")
        page.wait_for_selector("#results li")
        first = page.locator("#results li").nth(0)
        first.locator(".st-report summary").click()
        form = first.locator(".st-report-form")
        options = form.locator("select option")
        assert options.count() == 6 and "没有水" in form.locator("select").inner_text()
        form.locator("select").select_option("no_water")
        form.locator("textarea").fill(XSS)
        screenshot(page, "rider-report-form.png")
        form.locator("button").click()
        page.wait_for_selector(".st-report-form[data-sent]")
        assert "谢谢" in form.locator(".st-report-result").inner_text()
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        reports = httpx.get(
            base + "/api/reports", headers={"Authorization": f"Bearer {token}"}
        ).json()["reports"]
        assert len(reports) == 1
        report = reports[0]
        assert report["station_id"] == "delong-yinxing-union-station"
        assert report["category"] == "no_water" and report["text"] == XSS
        assert report["lon"] == pytest.approx(DELONG[0], abs=1e-5)  # sent in the map's datum
        assert report["lat"] == pytest.approx(DELONG[1], abs=1e-5)  # and stored in WGS84
        box = "107.0,28.8,107.5,29.2"
        marked = httpx.get(base + "/api/map/stations", params={"bbox": box, "zoom": 12}).json()
        flagged = {f["id"]: f["properties"].get("open_reports") for f in marked["features"]}
        assert flagged["delong-yinxing-union-station"] == 1
        watch.clean()


def test_rider_without_location_taps_the_map_or_types(browser, server):
    ctx = browser.new_context(viewport={"width": 360, "height": 740}, permissions=[])
    page = ctx.new_page()
    watch = Watch(page)
    page.goto(server + "/")
    ready(page)
    page.click("#find")
    page.wait_for_function(
        "() => document.getElementById('status').textContent.includes('无法获取位置')"
    )
    assert page.evaluate("document.activeElement.id") == "coords"
    # Typed in GCJ-02, as Amap shows the same spot: converted by the API, same answer.
    gx, gy = from_wgs84(*DELONG, CRS.GCJ02)
    page.fill("#coords", f"{gx:.6f}, {gy:.6f}")
    page.select_option("#crs", "gcj02")
    page.click("#manual button[type=submit]")
    page.wait_for_selector("#results li")
    assert page.locator("#results li").first.get_attribute("data-station") == (
        "delong-yinxing-union-station"
    )
    page.fill("#coords", "north, 28")
    page.click("#manual button[type=submit]")
    assert "经度, 纬度" in page.locator("#status").inner_text()
    # A tap on the map asks about that spot.
    page.evaluate("window.riderPage.map.setView([29.16, 107.19], 12)")
    page.locator("#map").click(position={"x": 180, "y": 100})
    page.wait_for_function("() => document.getElementById('status').textContent === ''")
    assert page.locator("#results li").count() == 3
    watch.clean()
    ctx.close()


def test_gcj02_in_the_browser_matches_python(context, server):
    page = context.new_page()
    page.goto(server + "/")
    ready(page)
    rng = np.random.default_rng(3)
    points = [
        (float(x), float(y))
        for x, y in zip(rng.uniform(74, 134, 50), rng.uniform(18, 53, 50), strict=True)
    ]
    got = page.evaluate(
        "pts => pts.map(([x, y]) => Stations.toMapCrs(x, y, 'gcj02'))", [list(p) for p in points]
    )
    for (x, y), (gx, gy) in zip(points, got, strict=True):
        ex, ey = from_wgs84(x, y, CRS.GCJ02)
        assert abs(gx - ex) < 1e-9 and abs(gy - ey) < 1e-9
    assert page.evaluate("Stations.toMapCrs(2.35, 48.85, 'gcj02')") == [2.35, 48.85]


@pytest.fixture(scope="module")
def evil_data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("evil")
    feats = [
        station(
            "evil",
            107.2618,
            28.9125,
            name=XSS,
            name_en='"><svg onload=alert(2)>',
            address="<script>alert(3)</script>",
            awards=["<b onmouseover=alert(4)>award</b>"],
        ),
        station("plain", 107.30, 28.95, kind="warm_station"),
    ]
    path = folder / "stations.geojson"
    path.write_text(json.dumps(collection(*feats), ensure_ascii=False), encoding="utf-8")
    return path


def open_popup(page: Page, marker: str) -> Locator:
    """Click ``marker`` until its popup shows (3 tries).

    Once in a full CI run (2026-11-26) the first click found no popup within 30 s and the test
    passed alone; the cause was not found (perhaps a click landing while the map settles after
    loading). The popup's contents, not the first click's timing, are what the tests check.
    """
    popup = page.locator(".leaflet-popup .st-popup")
    for _ in range(3):
        page.locator(marker).first.click()
        try:
            popup.wait_for(timeout=5_000)
            return popup
        except PlaywrightTimeoutError:
            continue
    popup.wait_for(timeout=5_000)
    return popup


def assert_popup_is_text(page: Page, watch: Watch) -> None:
    # Every kind shares one cluster: at the fitted zoom the evil station and its neighbour of
    # another kind are one cluster, so zoom in to where the evil one stands alone.
    page.evaluate("window.stationsMap.map.setView([28.9125, 107.2618], 15)")
    page.locator(".st-marker[title^='<img']").first.wait_for(timeout=10_000)
    popup = open_popup(page, ".st-marker[title^='<img']")
    assert popup.locator(".st-name").inner_text() == XSS
    assert popup.locator(".st-name-en").inner_text() == '"><svg onload=alert(2)>'
    assert "<script>alert(3)</script>" in popup.inner_text()
    assert popup.locator("img, svg, script, b[onmouseover]").count() == 0
    page.mouse.move(10, 10)
    page.wait_for_timeout(300)
    assert page.evaluate("document.querySelectorAll('img[src=\"x\"]').length") == 0
    assert watch.dialogs == []  # alert() never ran
    watch.clean()


def test_markup_in_station_data_stays_text_in_the_browser(context, tiles, evil_data, tmp_path):
    with serve(tile_env(tiles, STATIONS_STATIONS_PATH=str(evil_data))) as base:
        page = context.new_page()
        watch = Watch(page)
        page.goto(base + "/map")
        ready(page)
        assert_popup_is_text(page, watch)
        screenshot(page, "xss-popup.png")
        rider = context.new_page()
        watch = Watch(rider)
        rider.goto(base + "/")
        ready(rider)
        rider.click("#find")
        rider.wait_for_selector("#results li")
        assert rider.locator("#results li h2").first.inner_text() == f"1. {XSS}"
        watch.clean()
    # The standalone file, opened from disk.
    from typer.testing import CliRunner

    from stations.cli import app

    out = tmp_path / "evil.html"
    assert (
        CliRunner().invoke(app, ["map", "-o", str(out), "--stations", str(evil_data)]).exit_code
        == 0
    )
    page = context.new_page()
    watch = Watch(page, allow_osm=True)
    page.goto(out.as_uri())
    ready(page)
    assert_popup_is_text(page, watch)


def test_bundled_standalone_map_works_from_disk(context):
    page = context.new_page()
    watch = Watch(page, allow_osm=True)
    page.goto((DEFAULT_GEODATA.parent / "maps" / "loop178.html").as_uri())
    ready(page)
    assert shown(page) == 8
    assert page.locator(".st-legend").count() == 1
    assert page.locator(".leaflet-control-layers").count() == 1
    page.wait_for_function("() => document.querySelectorAll('img.leaflet-tile-loaded').length > 0")
    assert watch.osm_tiles > 0  # the only thing fetched: tiles, answered by the stub
    watch.clean()
    screenshot(page, "standalone-loop178.png")


def test_national_scale_map_stays_small_and_clusters(context, tiles, tmp_path):
    rng = np.random.default_rng(11)
    n = 20_000
    lons, lats = rng.uniform(75, 130, n), rng.uniform(20, 48, n)
    feats = [
        station(f"n{i}", round(float(x), 5), round(float(y), 5))
        for i, (x, y) in enumerate(zip(lons, lats, strict=True))
    ]
    path = tmp_path / "national.geojson"
    path.write_text(json.dumps(collection(*feats)), encoding="utf-8")
    with serve(tile_env(tiles, STATIONS_STATIONS_PATH=str(path))) as base:
        html = httpx.get(base + "/map").text
        assert len(html.encode()) < 200_000  # no station is inlined
        page = context.new_page()
        watch = Watch(page)
        page.goto(base + "/map")
        ready(page)
        assert page.locator(".st-server-cluster").count() > 0
        assert page.locator(".st-marker").count() < 600
        in_view = page.evaluate("window.stationsMap.shown")
        assert shown(page) == in_view and 0 < in_view <= n
        # Zoomed into one cluster: fewer stations, now single markers.
        page.evaluate("window.stationsMap.map.setView([30.0, 104.0], 11)")
        page.wait_for_function("() => window.stationsMap.shown < 500", timeout=10_000)
        watch.clean()


def test_locate_and_fullscreen_buttons(context, server):
    page = context.new_page()
    watch = Watch(page)
    page.goto(server + "/map")
    ready(page)
    page.click("a[title='定位我的位置']")
    page.wait_for_function("() => window.stationsMap.map.getZoom() >= 14")
    centre = page.evaluate("() => window.stationsMap.map.getCenter()")
    assert abs(centre["lng"] - DELONG[0]) < 1e-4 and abs(centre["lat"] - DELONG[1]) < 1e-4
    assert page.locator("path.leaflet-interactive").count() > 0
    page.click("a[title='全屏']")
    page.wait_for_timeout(300)
    fullscreen = page.evaluate(
        "() => !!document.fullscreenElement"
        " || document.querySelector('.folium-map').classList.contains('st-pseudo-fullscreen')"
    )
    assert fullscreen
    watch.clean()


def test_api_docs_list_the_operations_and_try_it_out_answers(browser, server):
    """/docs renders the OpenAPI 3.1 schema (Swagger UI 4 could not) and "Try it out" on
    /api/nearest sends the request and shows the stations it answered."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    watch = Watch(page)
    page.goto(server + "/docs")
    page.wait_for_selector(".opblock", timeout=20_000)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert "/api/nearest" in [p.replace("\u200b", "") for p in paths]
    assert page.locator(".opblock").count() >= 20
    assert "Unable to render" not in page.inner_text("body")
    nearest = page.locator(".opblock:has(.opblock-summary-path[data-path='/api/nearest'])").first
    nearest.locator(".opblock-summary").first.click()
    nearest.locator(".try-out__btn").click()
    nearest.locator("tr[data-param-name='lon'] input").fill(str(DELONG[0]))
    nearest.locator("tr[data-param-name='lat'] input").fill(str(DELONG[1]))
    nearest.locator("button.execute").click()
    answer = nearest.locator(".live-responses-table")
    answer.wait_for(timeout=20_000)
    assert answer.locator("tr.response .response-col_status").inner_text().strip() == "200"
    shown_body = answer.locator("tr.response .response-col_description pre").first.inner_text()
    body = json.loads(shown_body)
    assert body["type"] == "FeatureCollection"
    assert body["features"][0]["id"] == "delong-yinxing-union-station"
    screenshot(page, "api-docs-try-nearest.png")
    watch.clean()
    ctx.close()


def test_redoc_reads_the_schema_without_leaving_the_server(browser, server):
    """/redoc renders every operation from our own copy of ReDoc; the only thing it would fetch
    from elsewhere (Redocly's logo in its footer) is blocked by the CSP before any request."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    watch = Watch(page)
    page.goto(server + "/redoc")
    page.wait_for_selector("[data-section-id]", timeout=30_000)
    page.get_by_text("/api/nearest", exact=True).first.wait_for(state="attached", timeout=20_000)
    assert "stations" in page.locator("h1").first.inner_text()
    assert page.locator("[data-section-id^='operation/']").count() >= 20
    watch.errors = [e for e in watch.errors if "cdn.redoc.ly" not in e]
    screenshot(page, "api-redoc.png")
    watch.clean()
    ctx.close()


def _search(page: Page, typed: str) -> str:
    """Type coordinates on the rider page, search, and return the status line once settled."""
    page.fill("#coords", typed)
    page.click("#manual button[type=submit]")
    page.wait_for_function(
        "() => !['', '正在查找…', 'Searching…'].includes(document.getElementById('status')"
        ".textContent)"
    )
    return page.locator("#status").inner_text()


def test_rider_page_explains_swapped_far_and_bad_positions_in_its_language(browser, server):
    ctx = browser.new_context(viewport={"width": 360, "height": 740}, locale="zh-CN")
    page = ctx.new_page()
    watch = Watch(page)
    page.goto(server + "/")
    ready(page)
    page.fill("#coords", "107.2618, 28.912")
    page.click("#manual button[type=submit]")
    page.wait_for_selector("#results li")
    assert page.locator("#results li").count() == 3
    # Latitude first: asked about, in Chinese, and the previous results are gone.
    status = _search(page, "28.912, 107.2618")
    assert "你是否把经度和纬度填反了" in status
    assert page.locator("#results li").count() == 0
    assert page.locator(".st-highlight").count() == 0
    screenshot(page, "rider-swapped-zh.png")
    # Out of range and not a swap: the API's 400, said in Chinese, not its English message.
    page.fill("#coords", "107.2618, 28.912")
    page.click("#manual button[type=submit]")
    page.wait_for_selector("#results li")
    status = _search(page, "200, 28")
    said, detail = status.split("\n")  # said in Chinese; the server's words on a second line
    assert "坐标无效" in said and "must be" not in said
    assert "lon must be within" in page.locator("#status .st-detail").inner_text() in detail
    assert page.locator("#results li").count() == 0
    # Thousands of km from every station: the stations, and a note that none is near.
    page.fill("#coords", "28.912, 50")
    page.click("#manual button[type=submit]")
    page.wait_for_selector("#results li")
    page.wait_for_function("() => document.getElementById('status').textContent.includes('公里')")
    assert "附近 200 公里内没有驿站" in page.locator("#status").inner_text()
    assert " 公里外" in page.locator("#status").inner_text()  # no space before 外
    screenshot(page, "rider-far-zh.png")
    page.click("#lang-switch")
    page.fill("#coords", "28.912, 107.2618")
    page.click("#manual button[type=submit]")
    page.wait_for_function(
        "() => document.getElementById('status').textContent.includes('swap longitude')"
    )
    refused = [e for e in watch.errors if "status of 400" in e]
    assert len(refused) == 1  # the one bad position sent (the browser logs the 400 it got)
    watch.errors = [e for e in watch.errors if e not in refused]
    watch.clean()
    ctx.close()


def test_a_geolocation_error_is_said_in_the_pages_language(browser, server):
    ctx = browser.new_context(viewport={"width": 360, "height": 740}, permissions=[])
    for path in ("/", "/map"):
        page = ctx.new_page()
        watch = Watch(page)
        page.goto(server + path)
        ready(page)
        if path == "/":
            page.click("#find")
            status = page.locator("#status")
        else:
            page.click("a[title='定位我的位置']")
            status = page.locator(".st-notice")
        page.wait_for_function(
            "el => el.textContent.includes('无法获取位置')", arg=status.element_handle()
        )
        text = status.inner_text()
        assert not any("a" <= c.lower() <= "z" for c in text), text  # no browser English
        watch.clean()
    ctx.close()


SAME_SPOT = (107.10335, 29.15201)  # the warm station and the cold-drink fridge share it
CO_LOCATED = {"南川工会暖心小站": "nanchuan-warm-station", "爱心冰柜": "nanchuan-cold-drink-fridge"}


def assert_both_co_located_stations_open(page: Page, map_js: str, watch: Watch) -> None:
    """At zoom 18 the two stations at one spot are one cluster; a click spreads them apart and
    each of the two opens its own popup."""
    if map_js:
        page.evaluate(f"{map_js}.setView([{SAME_SPOT[1]}, {SAME_SPOT[0]}], 18)")
    cluster = page.locator(".marker-cluster:not(.st-server-cluster)")
    cluster.first.wait_for(timeout=10_000)
    assert cluster.locator("span").first.inner_text() == "2"
    for name, station_id in CO_LOCATED.items():
        popup = page.locator(f".leaflet-popup .st-popup[data-station='{station_id}']")
        marker = page.locator(f".st-marker[title^='{name}']")
        for _ in range(4):  # clicks on the cluster zoom in to the last level, then spread it
            try:
                if marker.count() == 0:
                    cluster.first.click(timeout=5_000)
                    marker.first.wait_for(timeout=3_000)
                marker.first.click(timeout=5_000)
                popup.wait_for(timeout=5_000)
                break
            except PlaywrightTimeoutError:
                continue
        assert popup.locator(".st-name").inner_text().startswith(name)
    watch.clean()


@pytest.mark.parametrize("path", ["/", "/map", "/embed?lon=107.10335&lat=29.15201&zoom=18"])
def test_co_located_stations_are_each_reachable(browser, server, path):
    ctx = browser.new_context(viewport={"width": 800, "height": 700})
    page = ctx.new_page()
    watch = Watch(page)
    page.goto(server + path)
    ready(page)
    map_js = {"/": "window.riderPage.map", "/map": "window.stationsMap.map"}.get(path, "")
    assert_both_co_located_stations_open(page, map_js, watch)
    screenshot(page, f"co-located{path.split('?')[0].replace('/', '-') or '-rider'}.png")
    ctx.close()


def test_co_located_stations_are_each_reachable_in_the_standalone_file(browser):
    ctx = browser.new_context(viewport={"width": 800, "height": 700})
    page = ctx.new_page()
    watch = Watch(page, allow_osm=True)
    page.goto((DEFAULT_GEODATA.parent / "maps" / "loop178.html").as_uri())
    ready(page)
    assert_both_co_located_stations_open(page, "window.stationsMap.map", watch)
    ctx.close()


def test_planning_map_legend_lists_the_suggested_sites(browser, server):
    ctx = browser.new_context(viewport={"width": 1000, "height": 700})
    page = ctx.new_page()
    watch = Watch(page)
    page.goto(server + "/map?planning=true&count=3")
    ready(page)
    legend = page.locator(".st-legend")
    assert "建议新站点" in legend.inner_text()
    assert legend.locator(".st-legend-suggested svg circle").count() == 1
    assert page.locator("path.st-suggested").count() == 3  # the sites the legend explains
    plain = ctx.new_page()
    plain.goto(server + "/map")
    ready(plain)
    assert "建议新站点" not in plain.locator(".st-legend").inner_text()
    screenshot(page, "planning-legend.png")
    watch.clean()
    ctx.close()
