"""The office's stations section in Chromium, as a clerk uses it on a phone.

Find 头渡 and drag it ~300 m (the distance shown agrees with pyproj's), survey 德隆 with emulated
geolocation (8 m accepted; 120 m refused until confirmed), create a station by tapping the map,
close and reopen one, read its history, open one straight from ``?station=``, meet a colleague's
save in a second browser (the conflict view), and XSS payloads in every field staying text. No
request leaves 127.0.0.1. The README's screenshots of this section are written here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page
from pyproj import Geod

from office import LABEL, TOKEN, office_server, readme_shot, sign_in
from test_browser import XSS, Watch, browser, tiles  # noqa: F401 (fixtures)

DELONG_ID = "delong-yinxing-union-station"
TOUDU_ID = "toudu-union-station"
DELONG_SITE = (107.26301, 28.91402)  # where the clerk stands in the survey
GEOD = Geod(ellps="WGS84")
#: Statuses the page meets on purpose: validation (400), a colleague's save (412), and the
#: reports counts route, which another part of the office app adds (404 until it lands).
EXPECTED = re.compile(r"status of (400|404|412)")


@pytest.fixture(scope="module")
def office(tiles, tmp_path_factory) -> Iterator[str]:  # noqa: F811
    with office_server(tmp_path_factory.mktemp("office"), tiles) as base:
        yield base


def api(base: str, path: str) -> httpx.Response:
    return httpx.get(base + path, headers={"Authorization": f"Bearer {TOKEN}"})


def stored(base: str, sid: str) -> dict:
    answer = api(base, f"/api/stations/{sid}")
    assert answer.status_code == 200, answer.text
    return answer.json()


def phone(browser: Browser, **extra) -> BrowserContext:  # noqa: F811
    return browser.new_context(
        viewport={"width": 360, "height": 740}, locale="zh-CN", device_scale_factor=2, **extra
    )


def open_section(page: Page, base: str, query: str = "") -> None:
    sign_in(page, base, next_page="/admin/stations" + query)
    page.wait_for_selector("#st-list .st-row")


def unexpected(watch: Watch) -> list[str]:
    return [e for e in watch.errors if not EXPECTED.search(e)]


def clean(watch: Watch) -> None:
    assert unexpected(watch) == []
    assert watch.external == [] and watch.dialogs == []


def saved(page: Page, text: str = "已保存") -> None:
    page.wait_for_function(
        "text => document.getElementById('admin-status').textContent === text", arg=text
    )


def choose(page: Page, name: str) -> None:
    page.fill("#q", name)
    page.locator("#st-list .st-row").first.click()
    page.wait_for_function(
        "name => document.getElementById('st-form-title').textContent.includes(name)", arg=name
    )


def test_clerk_finds_toudu_and_drags_it_300_m(browser, office):  # noqa: F811
    context = phone(browser)
    page = context.new_page()
    watch = Watch(page)
    open_section(page, office)
    assert page.locator("#st-list .st-row").count() == 10  # closed and unlocated ones too
    readme_shot(page, "office-stations.png")
    page.fill("#q", "头渡")
    assert page.locator("#st-list .st-row").count() == 1
    choose(page, "头渡")
    before = stored(office, TOUDU_ID)["geometry"]["coordinates"]
    marker = page.locator(".st-pin-selected")
    marker.scroll_into_view_if_needed()
    box = marker.bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    metres_per_px = 156543.03 * 0.8751 / 2**14  # cos(28.9°) at zoom 14, where a station opens
    dx = 300 / metres_per_px
    page.mouse.move(x, y)
    page.mouse.down()
    for step in range(1, 11):
        page.mouse.move(x + dx * step / 10, y, steps=2)
    page.mouse.up()
    page.wait_for_selector("#st-moved[data-metres]")
    shown = float(page.get_attribute("#st-moved", "data-metres") or "nan")
    assert 200 < shown < 400, shown
    assert "已拖动" in page.inner_text("#st-moved")
    page.click("#st-save")
    saved(page)
    after = stored(office, TOUDU_ID)["geometry"]["coordinates"]
    _, _, moved = GEOD.inv(before[0], before[1], after[0], after[1])
    assert abs(moved - shown) < 0.05, (moved, shown)  # the page's Vincenty agrees with pyproj
    clean(watch)
    context.close()
