"""The offline rider app in a real headless Chromium (Debian's), driven by Playwright.

A real server (`stations serve`) on 127.0.0.1 with its own copy of the data; the browser
resolves no other host (``--host-resolver-rules``) and every request it makes, the service
worker's included, is recorded and checked. Screenshots land in tests/artifacts/.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page

from conftest import collection, station
from helpers import serve
from stations.catalog import Catalog
from stations.settings import DEFAULT_GEODATA
from test_browser import ARTIFACTS, DELONG, chromium
from test_nearer_closed import closed_hours

TOKEN = "offline-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
DELONG_NAME = "德隆银杏村工会驿站"


@pytest.fixture(scope="module")
def browser():
    with chromium("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1") as b:
        yield b  # nothing but 127.0.0.1 can even be resolved


def _data(tmp_path: Path, stations: dict[str, Any] | None = None) -> dict[str, str]:
    """Settings for a server on its own copy of the data (writes and reports allowed)."""
    path = tmp_path / "stations.geojson"
    if stations is None:
        shutil.copy(DEFAULT_GEODATA / "stations.geojson", path)
    else:
        path.write_text(json.dumps(stations, ensure_ascii=False), encoding="utf-8")
    return {
        "STATIONS_STATIONS_PATH": str(path),
        "STATIONS_LOOP_PATH": str(DEFAULT_GEODATA / "loop178.geojson"),
        "STATIONS_REPORTS_PATH": str(tmp_path / "reports.sqlite3"),
        "STATIONS_ADMIN_TOKEN": TOKEN,
        "STATIONS_TILES": "none",
        "STATIONS_COMPACT_IDLE_S": "0.2",
    }


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    with serve(_data(tmp_path)) as base:
        yield base


class Requests:
    """Every URL the context asked for (pages, workers), and its console errors."""

    def __init__(self, context: BrowserContext) -> None:
        self.urls: list[str] = []
        self.errors: list[str] = []
        context.on("request", lambda r: self.urls.append(r.url))

    def watch(self, page: Page) -> Page:
        def console(message: Any) -> None:
            # a request failing with no network is what offline means: anything else is an error
            if message.type == "error" and "ERR_INTERNET_DISCONNECTED" not in message.text:
                self.errors.append(message.text)

        page.on("console", console)
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        return page

    def only_local(self) -> None:
        hosts = {urlsplit(u).hostname for u in self.urls if not u.startswith(("data:", "blob:"))}
        assert hosts <= {"127.0.0.1"}, hosts


@pytest.fixture
def context(browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(
        viewport={"width": 360, "height": 740},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
        geolocation={"longitude": DELONG[0], "latitude": DELONG[1], "accuracy": 20},
        permissions=["geolocation"],
    )
    yield ctx
    ctx.close()


def first_visit(page: Page, url: str) -> None:
    """Open the page online and wait until it works offline: worker in control, data kept."""
    page.goto(url)
    page.wait_for_selector("[data-stations-ready]", state="attached", timeout=20_000)
    page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=20_000)
    version = page.evaluate(
        "async () => { await riderPage.offline.ready; return riderPage.offline.version(); }"
    )
    assert version


def reload(page: Page) -> None:
    page.reload()
    page.wait_for_selector("[data-stations-ready]", state="attached", timeout=20_000)
    page.evaluate("() => riderPage.offline.ready")


def find(page: Page) -> list[str]:
    """Tap 找最近的驿站; the names listed."""
    page.click("#find")
    page.wait_for_selector("#results li")
    return page.locator("#results li h2").all_inner_texts()


def cached_paths(page: Page) -> set[str]:
    """The paths the service worker's caches hold."""
    urls = page.evaluate(
        """async () => {
            const urls = [];
            for (const name of await caches.keys())
                for (const r of await (await caches.open(name)).keys()) urls.push(r.url);
            return urls;
        }"""
    )
    return {urlsplit(u).path for u in urls}


def reports(base: str) -> list[dict[str, Any]]:
    return httpx.get(f"{base}/api/reports", headers=AUTH).json()["reports"]


def test_offline_visit_finds_delong_and_queues_a_report(context, server):
    requests = Requests(context)
    page = requests.watch(context.new_page())
    first_visit(page, server + "/")
    context.set_offline(True)
    reload(page)
    names = find(page)
    assert names[0] == f"1. {DELONG_NAME}"
    first = page.locator("#results li").first
    assert first.locator(".st-distance").inner_text().startswith("56 米")
    note = page.locator("#offline-note")
    assert note.is_visible()
    assert re.fullmatch(r"离线数据，更新于 \d{1,2}月\d{1,2}日 \d\d:\d\d", note.inner_text())
    assert re.fullmatch(r"你在环线 km \d+\.\d", page.locator("#status").inner_text())
    assert page.evaluate("document.body.dataset.offline") == "1"
    assert (
        first.locator("a.st-nav")
        .first.get_attribute("href")
        .startswith("https://uri.amap.com/navigation?to=")
    )
    # the loop drawn from the kept data, without tiles
    assert page.locator("path.leaflet-interactive, .leaflet-overlay-pane path").count() >= 1
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "rider-offline-zh.png"), full_page=True)

    # a report sent with no signal waits, and arrives once when the signal returns
    first.locator("summary").click()
    first.locator("select[name=category]").select_option("no_water")
    first.locator("textarea[name=text]").fill("offline report 1")
    first.locator(".st-report-form button[type=submit]").click()
    page.wait_for_function("() => document.querySelector('.st-report-form[data-queued]')")
    assert first.locator(".st-report-result").inner_text() == "已保存，有信号时自动提交。"
    assert reports(server) == []
    context.set_offline(False)
    deadline = time.monotonic() + 30
    while not reports(server) and time.monotonic() < deadline:
        time.sleep(0.2)
    page.wait_for_function("async () => (await StationsOutbox.queued()).length === 0")
    page.evaluate("() => StationsOutbox.flush()")  # a second flush has nothing to send
    key = page.locator(".st-report-form").first.get_attribute("data-queued")
    again = httpx.post(  # and the same report sent again is still one
        f"{server}/api/stations/delong-yinxing-union-station/reports",
        json={"category": "no_water", "text": "offline report 1"},
        headers={"Idempotency-Key": key},
    )
    assert again.status_code == 201
    stored = reports(server)
    assert [(r["station_id"], r["category"], r["text"]) for r in stored] == [
        ("delong-yinxing-union-station", "no_water", "offline report 1")
    ]
    assert again.json()["id"] == stored[0]["id"]
    assert requests.errors == [] and [u for u in requests.urls if "/tiles/" in u] == []
    requests.only_local()


def test_a_data_change_shows_on_the_next_online_visit(context, server):
    requests = Requests(context)
    page = requests.watch(context.new_page())
    first_visit(page, server + "/")
    new = station("delong-new-station", DELONG[0] + 0.0001, DELONG[1] + 0.0001, name="德隆新驿站")
    r = httpx.post(f"{server}/api/stations", json=new, headers=AUTH)
    assert r.status_code == 201, r.text
    reload(page)  # online: the page, and the data kept for offline, are the new ones
    assert find(page)[0] == "1. 德隆新驿站"
    context.set_offline(True)
    reload(page)
    assert find(page)[0] == "1. 德隆新驿站"
    assert page.evaluate("document.body.dataset.offline") == "1"
    assert requests.errors == []
    requests.only_local()


def test_a_stale_page_is_never_served_online(context, server):
    """An online visit gets the server's page (and keeps it), whatever the worker kept."""
    page = context.new_page()
    first_visit(page, server + "/")
    stale = "<!DOCTYPE html><title>stale</title><p id=stale>an old page</p>"
    page.evaluate(
        """async (html) => {
            for (const name of await caches.keys()) {
                const cache = await caches.open(name);
                await cache.put("/", new Response(html, {headers: {"Content-Type": "text/html"}}));
            }
        }""",
        stale,
    )
    reload(page)
    assert page.locator("#stale").count() == 0 and page.locator("#find").count() == 1
    context.set_offline(True)
    reload(page)  # offline: the kept page is the one the last online visit got
    assert page.locator("#stale").count() == 0 and page.locator("#find").count() == 1


def test_installable(context, server):
    """Lighthouse's installability, from Chromium itself: manifest, icons, worker in control."""
    page = context.new_page()
    first_visit(page, server + "/")
    cdp = context.new_cdp_session(page)
    errors = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
    # a test context is a fresh profile, which Chromium counts as incognito: nothing else
    assert [e for e in errors if e["errorId"] != "in-incognito"] == [], errors
    manifest = cdp.send("Page.getAppManifest")
    assert manifest["errors"] == [], manifest["errors"]
    doc = json.loads(manifest["data"])
    assert doc["display"] == "standalone" and doc["name"].startswith("工会驿站")
    paths = cached_paths(page)
    assert {"/", "/static/stations/rider.js", "/static/stations/icon-192.png"} <= paths
    assert not [p for p in paths if p.startswith("/api/")]  # data lives in IndexedDB
    # no station has opening hours: the 1.2 MB parser was never fetched
    assert "/static/stations/opening_hours.js" not in paths


def _hours(i: int) -> str | None:
    closed_now, _ = closed_hours(datetime.now(ZoneInfo("Asia/Shanghai")))
    kinds = [None, "24/7", "Mo-Su 08:00-18:00", "Mo-Fr 09:00-17:00", "Sa-Su 06:00-22:00"]
    return [*kinds, closed_now, "off"][i % 7]


def test_offline_answers_equal_the_servers(context, tmp_path):
    """200 random points: the browser's offline answer and /api/nearest agree."""
    rng = random.Random(20)
    features = [
        station(
            f"s{i}",
            round(rng.uniform(106.9, 107.6), 6),
            round(rng.uniform(28.7, 29.4), 6),
            opening_hours=_hours(i),
            status="closed" if i % 17 == 0 else "open",
        )
        for i in range(400)
    ]
    features += [station("twin-a", 107.25, 29.0), station("twin-b", 107.25, 29.0)]  # a tie
    with serve(_data(tmp_path, collection(*features))) as base:
        page = context.new_page()
        first_visit(page, base + "/")
        points = [(rng.uniform(106.8, 107.7), rng.uniform(28.6, 29.5)) for _ in range(197)]
        points += [(107.25, 29.0), (107.2501, 29.0001), (116.4, 39.9)]  # the tie; far away
        # stations with hours: the parser was loaded, and is kept for offline use
        page.wait_for_function(
            """async () => {
                for (const name of await caches.keys())
                    if (await (await caches.open(name)).match("/static/stations/opening_hours.js"))
                        return true;
                return false;
            }"""
        )
        context.set_offline(True)  # the answers below come from the kept data and scripts
        reload(page)
        offline = page.evaluate(
            """(points) => points.map(([x, y]) => ({
                answer: riderPage.offline.nearest(x, y, 3),
                snap: riderPage.offline.snap(x, y),
            }))""",
            [list(p) for p in points],
        )
        loop = Catalog.from_paths(
            tmp_path / "stations.geojson", DEFAULT_GEODATA / "loop178.geojson"
        ).loop
        assert loop is not None
        told = 0
        for (x, y), mine in zip(points, offline, strict=True):
            params = {"lon": x, "lat": y, "k": 3, "open_now": "true"}
            answer = httpx.get(f"{base}/api/nearest", params=params).json()
            server = answer["features"]
            got = mine["answer"]["features"]
            closed, mine_closed = answer.get("nearer_closed"), mine["answer"]["nearer_closed"]
            assert (closed is None) == (mine_closed is None), (x, y, closed, mine_closed)
            if closed is not None:
                told += closed["opens_at"] is not None
                assert abs(closed.pop("distance_m") - mine_closed.pop("distance_m")) <= 0.01
                assert closed == mine_closed, (x, y)
            assert [f["id"] for f in got] == [f["id"] for f in server], (x, y)
            for a, b in zip(got, server, strict=True):
                pa, pb = a["properties"], b["properties"]
                assert abs(pa["distance_m"] - pb["distance_m"]) <= 0.01, (x, y, pa, pb)
                assert abs(pa["bearing_deg"] - pb["bearing_deg"]) <= 0.1
                assert pa["open_now"] == pb["open_now"], (pa["id"], pa["opening_hours"])
                assert pa["loop_km"] == pb["loop_km"]
                assert a["geometry"] == b["geometry"]
                assert pa["navigation"] == pb["navigation"]
            snap = loop.snap(x, y)
            assert abs(mine["snap"]["chainage_m"] - snap.chainage_m) <= 0.01
            assert abs(mine["snap"]["offroute_m"] - snap.offroute_m) <= 0.01
        assert told > 5  # closed stations nearer than the first open one, with an opening time


def test_typed_amap_and_baidu_coordinates_offline(context, server):
    """With no network the page converts typed GCJ-02 and BD-09 positions itself."""
    requests = Requests(context)
    page = requests.watch(context.new_page())
    first_visit(page, server + "/")
    context.set_offline(True)
    reload(page)
    # the rider near Delong as Amap and as Baidu show the place (the API's own conversions)
    for crs, typed in (("gcj02", "107.266115, 28.908871"), ("bd09", "107.272539, 28.915108")):
        page.fill("#coords", typed)
        page.select_option("#crs", crs)
        page.locator("#manual button[type=submit]").click()
        page.wait_for_function("() => document.body.dataset.offline === '1'")
        first = page.locator("#results li").first
        first.wait_for()
        assert first.locator("h2").inner_text() == f"1. {DELONG_NAME}"
        assert first.locator(".st-distance").inner_text().startswith("56 米")
        page.evaluate("() => { delete document.body.dataset.offline; }")
    assert requests.errors == []
    requests.only_local()
