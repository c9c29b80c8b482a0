"""The rider page and the maps as a new user met them (a trial on a phone, 390 x 844), in a
real headless Chromium: a closed station next to the rider, English pages, the phone layout,
the report form's refusals, the km marks on the cards. README screenshots go to
docs/screenshots/."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import BrowserContext, Locator, Page

from helpers import serve
from stations.settings import DEFAULT_GEODATA
from test_browser import DELONG, Watch, chromium, ready, tile_env, tiles  # noqa: F401
from test_nearer_closed import DELONG_ID, closed_hours
from test_offline_browser import first_visit, reload

SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
PHONE = {"width": 390, "height": 844}
CJK = re.compile(r"[\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef\u3000-\u303f]")
DELONG_NAME = "德隆银杏村工会驿站"


def readme_shot(page: Page, name: str) -> None:
    """A screenshot the README shows (docs/screenshots/), rewritten by every run."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name))


@pytest.fixture(scope="module")
def browser():
    with chromium("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1") as b:
        yield b


@pytest.fixture
def phone(browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(
        viewport=PHONE,
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


@pytest.fixture(scope="module")
def server(tiles):  # noqa: F811
    with serve(tile_env(tiles)) as base:
        yield base


def _env(tmp_path: Path, tile_url: str, **extra: str) -> dict[str, str]:
    return tile_env(
        tile_url,
        STATIONS_STATIONS_PATH=str(tmp_path / "stations.geojson"),
        STATIONS_LOOP_PATH=str(DEFAULT_GEODATA / "loop178.geojson"),
        STATIONS_REPORTS_PATH=str(tmp_path / "reports.sqlite3"),
        **extra,
    )


def _with_delong_hours(tmp_path: Path, hours: str) -> None:
    doc = json.loads((DEFAULT_GEODATA / "stations.geojson").read_text(encoding="utf-8"))
    for feature in doc["features"]:
        if feature["id"] == DELONG_ID:
            feature["properties"]["opening_hours"] = hours
    text = json.dumps(doc, ensure_ascii=False)
    (tmp_path / "stations.geojson").write_text(text, encoding="utf-8")


def _find(page: Page) -> None:
    page.click("#find")
    page.wait_for_selector("#results li")


def test_a_closed_station_next_to_the_rider_is_named_online_and_offline(phone, tiles, tmp_path):  # noqa: F811
    hours, opens = closed_hours(datetime.now(ZoneInfo("Asia/Shanghai")))
    _with_delong_hours(tmp_path, hours)
    weekday_zh = "周一 周二 周三 周四 周五 周六 周日".split()[opens.weekday()]
    weekday_en = "Mon Tue Wed Thu Fri Sat Sun".split()[opens.weekday()]
    with serve(_env(tmp_path, tiles)) as base:
        page = phone.new_page()
        watch = Watch(page)
        first_visit(page, base + "/")
        _find(page)
        assert page.locator("#results li").first.get_attribute("data-station") != DELONG_ID
        note = page.locator("#closed-note")
        online = note.inner_text()
        assert online == f"最近的 {DELONG_NAME}（56 米）现在关门，{weekday_zh} {opens:%H:%M} 开门。"
        readme_shot(page, "rider-closed-nearest.png")
        page.click("#lang-switch")
        english = note.inner_text()
        assert english.startswith("The nearest, Delong Yinxing Village union rest station (56 m)")
        assert english.endswith(f"is closed now; it opens {weekday_en} {opens:%H:%M}.")
        page.click("#lang-switch")
        phone.set_offline(True)
        reload(page)
        _find(page)
        page.wait_for_function("() => document.body.dataset.offline === '1'")
        assert note.inner_text() == online  # the same words from the kept data
        phone.set_offline(False)
        watch.errors = [e for e in watch.errors if "ERR_INTERNET_DISCONNECTED" not in e]
        watch.clean()


def test_cards_show_their_km_mark_online_and_offline(phone, tiles, tmp_path):  # noqa: F811
    shutil.copy(DEFAULT_GEODATA / "stations.geojson", tmp_path / "stations.geojson")
    with serve(_env(tmp_path, tiles)) as base:
        answer = httpx.get(base + "/api/nearest", params={"lon": DELONG[0], "lat": DELONG[1]})
        marks = [f["properties"]["loop_km"] for f in answer.json()["features"]]
        page = phone.new_page()
        first_visit(page, base + "/")
        _find(page)
        cards = page.locator("#results li .st-km").all_inner_texts()
        assert cards == [f"环线 km {km:.1f}" for km in marks]
        phone.set_offline(True)
        reload(page)
        _find(page)
        page.wait_for_function("() => document.body.dataset.offline === '1'")
        assert page.locator("#results li .st-km").all_inner_texts() == cards
        phone.set_offline(False)


def _station_strings(base: str) -> list[str]:
    """Every text of the data (names, towns, addresses...): these may be Chinese anywhere."""
    body = httpx.get(base + "/api/stations", params={"limit": 1000}).json()
    found: list[str] = []
    for f in body["features"]:
        for value in f["properties"].values():
            items = value if isinstance(value, list) else [value]
            found += [v for v in items if isinstance(v, str) and CJK.search(v)]
    return sorted(set(found), key=len, reverse=True)


VISIBLE_TEXT = """() => {
    // text of visible elements, titles, labels and placeholders; pin glyphs (工, 暖, 冰, 服)
    // are icons, and the language switch names Chinese in Chinese
    const skip = ".st-marker, .marker-cluster, .st-legend-icon, #lang-switch";
    const out = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
        const el = n.parentElement;
        if (!el || el.closest(skip) || el.closest("script, style")) continue;
        if (el.checkVisibility && !el.checkVisibility()) continue;
        if (n.textContent.trim()) out.push(n.textContent.trim());
    }
    for (const el of document.querySelectorAll("[title], [aria-label], [placeholder]")) {
        if (el.closest(skip)) continue;
        for (const a of ["title", "aria-label", "placeholder"])
            if (el.getAttribute(a)) out.push(el.getAttribute(a));
    }
    for (const o of document.querySelectorAll("option")) out.push(o.textContent);
    out.push(document.title);
    return out;
}"""


def _chinese_left(page: Page, data: list[str]) -> list[str]:
    left = []
    for text in page.evaluate(VISIBLE_TEXT):
        for name in data:
            text = text.replace(name, "")
        if CJK.search(text):
            left.append(text)
    return left


def _unfold_legend(page: Page) -> None:
    if page.locator(".st-legend.st-collapsed").count():
        page.click(".st-legend-title")


def test_english_pages_show_no_chinese_but_the_data(browser, server):
    ctx = browser.new_context(
        viewport=PHONE,
        locale="en-GB",
        geolocation={"longitude": DELONG[0], "latitude": DELONG[1], "accuracy": 20},
        permissions=["geolocation"],
    )
    data = _station_strings(server)
    page = ctx.new_page()
    watch = Watch(page)
    page.goto(server + "/?lang=en")
    ready(page)
    _find(page)
    _unfold_legend(page)
    page.locator("#results li .st-report summary").first.click()
    assert _chinese_left(page, data) == []
    # switched from the Chinese page: the map's legend and buttons follow too
    page.goto(server + "/")
    ready(page)
    _find(page)
    page.click("#lang-switch")
    _unfold_legend(page)
    assert page.locator(".st-legend-title").inner_text() == "Legend"
    assert _chinese_left(page, data) == []
    page.evaluate("() => riderPage.state.byId['delong-yinxing-union-station'].openPopup()")
    page.wait_for_selector(".leaflet-popup .st-popup")
    assert _chinese_left(page, data) == []
    for path in ("/embed?lang=en", f"/embed?lang=en&station={DELONG_ID}", "/map?lang=en"):
        page.goto(server + path)
        ready(page)
        _unfold_legend(page)
        page.evaluate(  # the layer switches, as a tap opens them
            "() => document.querySelector('.leaflet-control-layers')"
            ".classList.add('leaflet-control-layers-expanded')"
        )
        assert _chinese_left(page, data) == [], path
    watch.clean()
    ctx.close()


def _send_report(page: Page, card: int) -> Locator:
    item = page.locator("#results li").nth(card)
    item.locator(".st-report summary").click()
    form = item.locator(".st-report-form")
    form.locator("button").click()
    page.wait_for_function(
        "(i) => document.querySelectorAll('#results li .st-report-result')[i].textContent",
        arg=card,
    )
    return form.locator(".st-report-result")


def test_a_refused_report_is_said_in_the_pages_language(phone, tiles, tmp_path):  # noqa: F811
    shutil.copy(DEFAULT_GEODATA / "stations.geojson", tmp_path / "stations.geojson")
    with serve(_env(tmp_path, tiles, STATIONS_REPORT_RATE_PER_HOUR="1")) as base:
        page = phone.new_page()
        watch = Watch(page)
        page.goto(base + "/")
        ready(page)
        _find(page)
        assert "谢谢" in _send_report(page, 0).inner_text()
        result = _send_report(page, 1)
        said, detail = result.inner_text().split("\n")
        assert said == "这台设备一小时内已提交 1 条，请稍后再试。"
        assert "at most 1 reports an hour" in detail  # the server's words, second
        readme_shot(page, "rider-report-refused.png")
        watch.errors = [e for e in watch.errors if "status of 429" not in e]
        watch.clean()


OVERLAP = """([a, b]) => {
    const r = (sel) => Array.from(document.querySelectorAll(sel))
        .filter((n) => n.checkVisibility() && getComputedStyle(n).visibility !== "hidden")
        .map((n) => n.getBoundingClientRect());
    const apart = (p, q) => p.right <= q.left || q.right <= p.left || p.bottom <= q.top
        || q.bottom <= p.top;
    const first = r(a);
    const second = r(b);
    return first.length > 0 && second.length > 0
        && first.every((p) => second.every((q) => apart(p, q)));
}"""


@pytest.mark.parametrize("path", ["/", "/map", "/embed", "/embed?lang=en"])
def test_the_scale_bar_is_clear_of_the_attribution_on_a_phone(phone, server, path):
    page = phone.new_page()
    page.goto(server + path)
    ready(page)
    page.wait_for_function(OVERLAP, arg=[".leaflet-control-scale", ".leaflet-control-attribution"])
    name = {"/": "rider", "/map": "map"}.get(path)  # /embed draws the same map as /map
    if name:
        readme_shot(page, f"{name}-phone.png")


def test_a_popup_opens_clear_of_the_map_buttons(phone, server):
    page = phone.new_page()
    page.goto(server + "/")
    ready(page)
    page.evaluate(
        """() => {
            const map = riderPage.map;
            const marker = riderPage.state.byId["delong-yinxing-union-station"];
            map.setView(marker.getLatLng(), 14, { animate: false });
            map.panBy([map.getSize().x / 2 - 25, 0], { animate: false });  // pin at the left edge
            marker.openPopup();
        }"""
    )
    page.wait_for_function(
        OVERLAP,
        arg=[".leaflet-popup-content-wrapper", ".leaflet-top.leaflet-left .leaflet-control"],
    )


def test_km_labels_cover_neither_each_other_nor_the_pins(phone, server):
    page = phone.new_page()
    page.goto(server + "/map")
    ready(page)
    page.wait_for_selector(".st-km-label", state="attached")
    labels = ".leaflet-tooltip.st-km-label"
    page.wait_for_function(OVERLAP, arg=[labels, ".st-marker, .marker-cluster"])
    rects = page.evaluate(
        """(sel) => Array.from(document.querySelectorAll(sel))
            .filter((n) => getComputedStyle(n).visibility !== "hidden")
            .map((n) => n.getBoundingClientRect())
            .map((r) => [r.left, r.top, r.right, r.bottom])""",
        labels,
    )
    assert len(rects) >= 4  # thinned, not gone
    for i, a in enumerate(rects):
        for b in rects[i + 1 :]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (a, b)
    page.evaluate("() => stationsMap.map.setZoom(stationsMap.map.getZoom() + 2, {animate: false})")
    page.wait_for_function(OVERLAP, arg=[labels, ".st-marker, .marker-cluster"])


def test_embed_of_a_missing_station_shows_a_page_with_the_whole_map(phone, server):
    page = phone.new_page()
    watch = Watch(page)
    response = page.goto(server + "/embed?station=no-such-station&lang=en")
    assert response is not None and response.status == 404
    assert page.locator("h1").first.inner_text() == "Station not found"
    assert "没有找到这个驿站" in page.locator("body").inner_text()
    readme_shot(page, "embed-missing.png")
    page.click("a[href='/embed?lang=en']")
    ready(page)
    watch.errors = [e for e in watch.errors if "status of 404" not in e]
    watch.clean()
