"""A clerk's whole day in the office app (issue 17), in ONE run against one server, in Chromium.

One phone (360 x 740, zh-CN) does everything a clerk does in a day, as a new user would, going
from section to section by the app's own links: a rider reports a locked door through the
rider page; the clerk is refused with a wrong token, signs in, sees on the home page what is
pending, finds 头渡 and drags it ~300 m, surveys 德隆 with the phone's (emulated) position
(8 m accepted; 120 m refused until confirmed) and sees the rider page stop calling it
approximate, creates a station by tapping the map with markup in every field, closes it and
reads its history, meets a colleague's save on another phone (the conflict), resolves the
rider's report from 德隆's form, prints 德隆's poster and decodes its QR code back to the rider
page, records the loop from scripted positions until it closes, previews it, accepts it and
sees the new km marks on /map. Nothing is requested from any origin but 127.0.0.1, no script
runs from data, and the console stays clean except for the refusals the day provokes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page

from conftest import BUNDLED_LOOP
from office import (
    AUTH,
    DELONG,
    DELONG_SITE,
    LABEL,
    TOKEN,
    choose,
    decode_qr,
    drag_selected,
    feed,
    office_server,
    open_reports,
    phone_at,
    phone_context,
    preview_of,
    readme_shot,
    rider_reports_from_the_qr_page,
    save_after_a_colleague,
    saved,
    sign_in,
    stored,
    wait_points,
)
from stations.loop import load_loop
from test_browser import XSS, Watch, browser, open_popup, tiles  # noqa: F401 (fixtures)
from tracks import drive

TOUDU = "toudu-union-station"
QINGYUAN = "qingyuan-union-station"
COLLEAGUE = "second-test-token-4d2b8e1a"  # the "field" label
NEW_ID = "day-test-station"
#: Markup a careless or hostile hand might type; each must come back as the same text.
PAYLOADS = [XSS, '"><script>alert(1)</script>', "<svg onload=alert(1)>", "{{7*7}} ${alert(1)}"]
#: Refusals the day provokes on purpose, which the browser logs: a wrong token (403), a form
#: the API refuses (400) and a colleague's save first (412).
EXPECTED = re.compile(r"status of (400|403|412)")
#: Elements that could only have come from data (the page makes none of these itself).
INJECTED = "main img:not(.leaflet-tile):not(.leaflet-marker-icon), main svg image, main script"


@pytest.fixture
def day(browser, tiles, tmp_path) -> Iterator[tuple[str, BrowserContext, Page, Watch]]:  # noqa: F811
    """The server, the clerk's phone (allowed to tell its position), its page and its watch."""
    context = phone_at(browser, *DELONG_SITE)
    page = context.new_page()
    watch = Watch(page)
    with office_server(tmp_path, tiles) as base:
        yield base, context, page, watch
    context.close()


def settle(watch: Watch) -> None:
    """No unexpected console error, no dialog, no request off this machine so far."""
    assert [e for e in watch.errors if not EXPECTED.search(e)] == []
    assert watch.dialogs == [] and watch.external == []


def fits(page: Page) -> None:
    """Nothing on the page is wider than the phone (no sideways scrolling)."""
    assert page.evaluate("document.documentElement.scrollWidth") <= 360, page.url


def no_markup(page: Page) -> None:
    assert page.locator(INJECTED).count() == 0


def test_a_clerks_whole_day(browser, day):  # noqa: F811
    base, context, page, watch = day
    rider = context.new_page()
    rider_watch = Watch(rider)
    rider_reports_from_the_qr_page(rider, base, XSS)  # before the office opens

    morning(page, base)
    find_and_drag_toudu(page, base)
    survey_delong(context, page, base)
    rider_sees_the_survey(rider, base)
    create_close_and_read_history(page, base)
    colleague_saves_first(browser, page, base)
    resolve_the_riders_report(page, base)
    print_delongs_poster(page, rider, base)
    record_the_loop(context, page, base)
    evening(page, base)
    settle(watch)
    rider_watch.clean()


def morning(page: Page, base: str) -> None:
    """A wrong token is refused; signed in, the home page says what is pending in each section."""
    page.goto(f"{base}/admin")
    page.fill("#token", "not-the-token")
    page.click("#signin")
    page.wait_for_selector("#signin-error")
    assert page.inner_text("#signin-error") == "令牌不正确。"
    assert page.locator("#admin-label").count() == 0
    sign_in(page, base)
    assert page.inner_text("#admin-label") == LABEL
    page.wait_for_selector("#pending-reports[data-pending]")
    page.wait_for_selector("#pending-stations[data-pending]")
    page.wait_for_selector("#pending-loop[data-pending]")
    listed = httpx.get(f"{base}/api/stations?status=open&status=planned&limit=1000").json()
    rough = [f for f in listed["features"] if f["properties"]["position_accuracy"] != "surveyed"]
    assert page.inner_text("#pending-stations") == f"{len(rough)} 个驿站尚未实地测定位置"
    assert page.inner_text("#pending-reports") == "1 条反馈待处理"
    assert page.inner_text("#pending-loop") == "环线仍是示意线，尚未按实际行驶记录"
    fits(page)
    readme_shot(page, "office-home.png")
    page.click("#lang-switch")  # the same home in English, then back
    page.wait_for_selector("#pending-reports[data-pending]")
    assert page.inner_text("#pending-reports") == "Open reports: 1"
    fits(page)
    nav = page.locator(".st-admin-bar nav a").all_inner_texts()
    assert nav == ["Home", "Stations", "Loop", "Riders' reports"]
    page.click("#lang-switch")
    page.click('[data-section="stations"] a')
    page.wait_for_selector("#st-list .st-row")


def find_and_drag_toudu(page: Page, base: str) -> None:
    """The open report shows on 德隆's pin and row; 头渡 found by name, dragged ~300 m, saved."""
    page.wait_for_selector(f'.st-row[data-id="{DELONG}"] .st-badge')
    assert page.inner_text(f'.st-row[data-id="{DELONG}"] .st-badge') == "1"
    fits(page)
    assert page.locator(".st-pin-count").all_inner_texts() == ["1"]
    choose(page, "头渡")
    before = stored(base, TOUDU)["geometry"]["coordinates"]
    shown = drag_selected(page, 300)
    assert 200 < shown < 400, shown
    page.click("#st-save")
    saved(page)
    after = stored(base, TOUDU)["geometry"]["coordinates"]
    assert after != before
    assert abs(after[1] - before[1]) < 1e-4 and after[0] > before[0]  # east, as dragged


def survey_delong(context: BrowserContext, page: Page, base: str) -> None:
    """At 德隆's door: 8 m is taken at once; 120 m is refused until the clerk confirms it."""
    lon, lat = DELONG_SITE
    choose(page, "德隆")
    page.click("#st-survey")
    page.wait_for_function(
        "() => document.getElementById('st-survey-status').textContent.includes('已保存')",
        timeout=20_000,
    )
    props = stored(base, DELONG)["properties"]
    assert props["position_accuracy"] == "surveyed" and props["accuracy_m"] == 8
    assert props["surveyed_by"] == LABEL
    assert stored(base, DELONG)["geometry"]["coordinates"] == [lon, lat]
    context.set_geolocation({"longitude": lon + 0.001, "latitude": lat, "accuracy": 120})
    page.click("#st-survey")
    page.wait_for_selector("#st-survey-confirm:not([hidden])", timeout=20_000)
    assert "未采用" in page.inner_text("#st-survey-status")
    assert stored(base, DELONG)["properties"]["accuracy_m"] == 8  # nothing written yet
    page.click("#st-survey-confirm")
    page.wait_for_function(
        "() => document.getElementById('st-survey-status').textContent.includes('已保存')"
    )
    assert stored(base, DELONG)["properties"]["accuracy_m"] == 120
    context.set_geolocation({"longitude": lon, "latitude": lat, "accuracy": 8})


def rider_sees_the_survey(rider: Page, base: str) -> None:
    """The rider page no longer calls 德隆's position approximate; 头渡 (only dragged) still."""
    for sid, approximate in ((DELONG, False), (TOUDU, True)):
        rider.goto(f"{base}/?station={sid}")
        card = rider.locator(f"#results li[data-station={sid}]")
        card.wait_for()
        assert ("位置为近似值" in card.inner_text()) is approximate, sid


def create_close_and_read_history(page: Page, base: str) -> None:
    """A station made by tapping the map, markup in every text field; closed; its history read."""
    page.click("#st-new")
    page.locator("#st-map").click(position={"x": 180, "y": 120})
    page.wait_for_selector("#st-form-card:not([hidden])")
    assert page.input_value("#f-position") != ""
    assert page.locator("#st-form-links").is_hidden()  # no poster or reports before it exists
    texts = {"name": PAYLOADS[0], "name_en": PAYLOADS[1], "town": PAYLOADS[2]}
    texts |= {"address": PAYLOADS[3], "source": PAYLOADS[1], "notes": PAYLOADS[2]}
    page.fill("#f-id", NEW_ID)
    for field, text in texts.items():
        page.fill(f"#f-{field}", text)
    page.fill("#f-awards", "; ".join(PAYLOADS))
    page.fill("#f-phone", XSS)  # refused by the API: its message, next to the field, as text
    page.click("#st-save")
    page.wait_for_function("() => document.getElementById('e-phone').textContent !== ''")
    assert XSS in page.inner_text("#e-phone")
    page.fill("#f-phone", "023-6666 8888")
    page.click("#st-save")
    saved(page)
    props = stored(base, NEW_ID)["properties"]
    assert {k: props[k] for k in texts} == texts and props["awards"] == PAYLOADS
    assert page.input_value("#f-name") == PAYLOADS[0]
    page.fill("#q", "")  # the search still says 德隆
    assert page.inner_text(f'.st-row[data-id="{NEW_ID}"] .st-row-name') == PAYLOADS[0]
    page.click("#st-close")
    saved(page, "驿站已关闭")
    assert stored(base, NEW_ID)["properties"]["status"] == "closed"
    page.click("#st-history summary")
    page.wait_for_selector(".st-history-entry >> nth=1")
    entries = page.locator(".st-history-entry")
    assert "关闭" in entries.nth(0).inner_text() and "新建" in entries.nth(1).inner_text()
    assert LABEL in entries.nth(1).inner_text()
    assert PAYLOADS[0] in entries.nth(1).inner_text()
    no_markup(page)


def colleague_saves_first(browser, page: Page, base: str) -> None:  # noqa: F811
    """A colleague on another phone saves 庆元 first; the clerk's save shows what changed."""
    other = phone_context(browser)
    theirs = other.new_page()
    their_watch = Watch(theirs)
    sign_in(theirs, base, token=COLLEAGUE, next_page=f"/admin/stations?station={QINGYUAN}")
    choose(page, "庆元")
    theirs.wait_for_function(
        "() => document.getElementById('st-form-title').textContent.includes('庆元')"
    )
    save_after_a_colleague(page, theirs, {"phone": "023-3333 4444"})
    assert stored(base, QINGYUAN)["properties"]["phone"] == "023-1111 2222"  # theirs kept
    page.click("#st-reload")  # the clerk takes the colleague's version
    assert page.input_value("#f-phone") == "023-1111 2222"
    their_watch.clean()
    other.close()


def resolve_the_riders_report(page: Page, base: str) -> None:
    """From 德隆's form to its reports in the inbox; resolved with a note; the count goes."""
    choose(page, "德隆")
    link = page.locator("#st-reports-link")
    assert link.inner_text() == "骑手反馈（1 条未处理）"
    link.click()
    page.wait_for_url(f"**/admin/reports?station={DELONG}")
    listed = open_reports(page)
    assert len(listed) == 1
    fits(page)
    item = page.locator("#report-list > li").first
    assert item.locator(".st-report-text").inner_text() == XSS  # the rider's markup, as text
    item.locator("textarea").fill(PAYLOADS[1])
    item.locator("button[type=submit]").click()
    page.wait_for_function(
        "() => document.getElementById('admin-status').textContent.includes('已标记为已处理')"
    )
    counts = httpx.get(f"{base}/api/reports/counts", headers=AUTH).json()
    assert counts == {"counts": {}}
    no_markup(page)


def print_delongs_poster(page: Page, rider: Page, base: str) -> None:
    """德隆's poster from its form; printed, its QR code read back opens 德隆 on the rider page."""
    page.goto(f"{base}/admin/stations?station={DELONG}")
    page.wait_for_function(
        "() => document.getElementById('st-form-title').textContent.includes('德隆')"
    )
    assert page.inner_text("#st-reports-link") == "骑手反馈"  # none open any more
    page.click("#st-poster-link")
    page.wait_for_selector("#poster-name")
    assert page.inner_text("#poster-name") == "德隆银杏村工会驿站"
    page.set_viewport_size({"width": 794, "height": 1123})  # A4 at 96 dpi, as printed
    page.emulate_media(media="print")
    found = decode_qr(page.screenshot(full_page=True))
    assert found == [f"{base}/?station={DELONG}"]
    page.emulate_media(media="screen")
    page.set_viewport_size({"width": 360, "height": 740})
    page.click("#poster-back-station")  # and back to the station's form
    page.wait_for_function(
        "() => document.getElementById('st-form-title').textContent.includes('德隆')"
    )
    rider.goto(found[0])
    rider.wait_for_selector(f"#results li[data-station={DELONG}] details.st-report[open]")


def record_the_loop(context: BrowserContext, page: Page, base: str) -> None:
    """Driven once round (scripted positions) until it closes; preview; accept; km on /map."""
    points = drive(load_loop(BUNDLED_LOOP), step_m=50)  # < 200 km/h at one fix a second
    context.set_geolocation({"longitude": points[0][0], "latitude": points[0][1], "accuracy": 8})
    page.goto(f"{base}/admin")
    page.click('[data-section="loop"] a')
    page.wait_for_selector("[data-loop-ready]", state="attached")
    fits(page)
    page.click("#rec-start")
    wait_points(page, 1)
    feed(context, page, points[1:])
    assert page.locator("#rec-closes").is_visible()
    page.click("#rec-finish")
    page.click("#rec-send")
    page.wait_for_selector("#preview-table tbody tr")
    preview = preview_of(page)
    assert page.locator("#preview-table img, #preview-table svg").count() == 0
    assert any(row["flag"] for row in preview.values())
    page.click("#preview-accept")
    page.wait_for_selector("#preview-done:not([hidden])")
    served = httpx.get(f"{base}/api/loop").json()["properties"]
    assert served["accuracy"] == "gps_track"
    marks = {m["id"]: m["loop_km"] for m in served["station_marks"]}
    target = max(
        (r for r in preview.values() if r["old"] != "—" and r["new"] != "—" and r["id"] != NEW_ID),
        key=lambda r: abs(float(r["new"]) - float(r["old"])),
    )
    assert f"{marks[target['id']]:.1f}" == target["new"] != target["old"]
    page.click("#open-map")
    page.wait_for_selector("[data-stations-ready]", state="attached", timeout=20_000)
    lon, lat = stored(base, target["id"])["geometry"]["coordinates"]
    page.evaluate(f"window.stationsMap.map.setView([{lat}, {lon}], 16)")
    popup = open_popup(page, f".st-marker[title^='{target['name']}']")
    assert f"km {target['new']}" in popup.inner_text()


def evening(page: Page, base: str) -> None:
    """Back home: nothing pending in the inbox, the loop a driven track; then sign out."""
    page.goto(f"{base}/admin")
    page.wait_for_selector("#pending-loop[data-pending]")
    page.wait_for_selector("#pending-reports[data-pending]")
    assert page.inner_text("#pending-reports") == "没有待处理的反馈"
    assert re.fullmatch(r"环线已按实际行驶记录（\d+\.\d 公里）", page.inner_text("#pending-loop"))
    page.click("#signout")
    page.wait_for_selector("#token")
    assert TOKEN not in page.content()
