"""What a new clerk's trial of the office app found, each checked in Chromium on a phone.

The language switch keeps the view; opening hours typed with a phone keyboard's trailing
space save, and the week preview never shows another value's week; the server's refusals and
the phone's location errors read in the clerk's language; a colleague's save is shown three
ways (what both started from, theirs, yours); a survey's status line says what happened last.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page

from office import (
    DELONG,
    DELONG_SITE,
    office_server,
    part_shot,
    phone_at,
    phone_context,
    sign_in,
)
from test_browser import Watch, browser, tiles  # noqa: F401 (fixtures)


@pytest.fixture(scope="module")
def office(tiles, tmp_path_factory) -> Iterator[str]:  # noqa: F811
    with office_server(tmp_path_factory.mktemp("trial"), tiles) as base:
        yield base


def station_open(page: Page, base: str, sid: str = DELONG, lang: str = "") -> None:
    """``page`` signed in, on the stations section with ``sid`` open in the form."""
    sign_in(page, base, next_page=f"/admin/stations?station={sid}{lang}")
    page.wait_for_function(
        "id => document.getElementById('f-id').value === id && "
        "!document.getElementById('st-form-card').hidden",
        arg=sid,
    )


def test_the_language_switch_keeps_the_view(browser, office):  # noqa: F811
    context = phone_context(browser)
    page = context.new_page()
    watch = Watch(page)
    query = "/admin/reports?station=sanquan-union-station&category=dirty"
    sign_in(page, office, next_page=query.replace("&", "%26"))
    page.wait_for_selector("#report-list")
    page.click("#lang-switch")
    page.wait_for_selector("html[lang=en]")
    assert page.url == office + query + "&lang=en"
    page.click("#lang-switch")
    page.wait_for_selector("html[lang=zh-CN]")
    assert page.url == office + query
    # the station opened in the form (the address follows it) goes across too
    page.goto(office + "/admin/stations?lang=en")
    page.wait_for_selector("#st-list .st-row")
    page.click(f'#st-list .st-row[data-id="{DELONG}"]')
    page.wait_for_function("id => location.search.includes(id)", arg=DELONG)
    page.click("#lang-switch")
    page.wait_for_function(
        "id => document.documentElement.lang === 'zh-CN' "
        "&& document.getElementById('f-id').value === id",
        arg=DELONG,
    )
    assert page.url == f"{office}/admin/stations?station={DELONG}"
    # signing out of an English page lands on the English sign-in
    page.goto(office + "/admin/loop?lang=en")
    page.click("#signout")
    page.wait_for_selector("#token")
    assert page.url == office + "/admin?lang=en"
    assert page.inner_text("h1") == "Sign in to the station office"
    assert watch.errors == [] and watch.external == []
    context.close()


def test_hours_typed_with_a_trailing_space_preview_and_save_alike(browser, office):  # noqa: F811
    context = phone_context(browser)
    page = context.new_page()
    watch = Watch(page)
    station_open(page, office)
    hours = page.locator("#f-opening_hours")
    hours.fill("Mo-Fr 08:00-18:00; PH off")
    page.wait_for_selector("#st-hours[data-for='Mo-Fr 08:00-18:00; PH off'] .st-hours-day")
    # a refused value clears the week at once and shows the whole reason, past the ";"
    hours.fill("Mo-Fr 08:00-18:00;")
    assert page.locator("#st-hours .st-hours-day").count() == 0
    page.wait_for_function("() => document.getElementById('e-opening_hours').textContent")
    said = page.inner_text("#e-opening_hours")
    assert said.startswith("开放时间：格式不对") and "1:19" in said and "e.g." in said
    assert page.locator("#st-hours .st-hours-day").count() == 0
    # the phone keyboard's trailing space: previewed as typed, saved, stored without it
    typed = "Mo-Fr 08:00-18:00; PH off "
    hours.fill(typed)
    page.wait_for_selector(f"#st-hours[data-for='{typed}'] .st-hours-day")
    assert page.inner_text("#e-opening_hours") == ""
    page.click("#st-save")
    page.wait_for_function("() => document.getElementById('admin-status').textContent === '已保存'")
    answer = page.request.get(f"{office}/api/stations/{DELONG}")
    assert answer.json()["properties"]["opening_hours"] == typed.strip()
    assert watch.errors == [] or all("400" in e for e in watch.errors)
    context.close()


def test_refusals_and_location_errors_read_in_chinese(browser, office):  # noqa: F811
    context = phone_context(browser)  # no permission to use the location: code 1
    page = context.new_page()
    watch = Watch(page)
    station_open(page, office, "jinshan-union-station")
    page.fill("#f-source", "")
    page.fill("#f-phone", "abc")
    page.click("#st-save")
    page.wait_for_function("() => document.getElementById('e-source').textContent")
    assert page.inner_text("#e-source").startswith("必填")
    assert "String should have at least 1 character" in page.inner_text("#e-source .st-detail")
    assert page.inner_text("#e-phone").startswith("格式不对")
    bar = page.inner_text("#admin-status")
    assert bar.startswith("出错了：电话：格式不对；来源：必填")
    assert "properties.source" in page.inner_text("#admin-status .st-detail")  # for support
    part_shot(page.locator('.st-field[data-field="source"]'), "office-refused.png")
    page.click("#st-survey")
    page.wait_for_function(
        "() => document.getElementById('st-survey-status').textContent.includes('没有获得定位')",
        timeout=30_000,
    )
    said = page.inner_text("#st-survey-status")
    assert "没有允许本页使用位置" in said and "PERMISSION" not in said.upper()
    assert all("400" in e for e in watch.errors)
    context.close()


def test_a_refused_survey_does_not_leave_the_earlier_one_said(browser, office):  # noqa: F811
    lon, lat = DELONG_SITE
    context = phone_at(browser, lon, lat)
    page = context.new_page()
    station_open(page, office)
    assert page.get_attribute("#f-surveyed_by", "readonly") is not None
    assert "登录名" in page.inner_text("#h-surveyed_by")
    page.click("#st-survey")
    page.wait_for_function(
        "() => document.getElementById('admin-status').textContent === '实测位置已保存'",
        timeout=20_000,
    )
    context.set_geolocation({"longitude": lon, "latitude": lat, "accuracy": 120})
    page.click("#st-survey")
    page.wait_for_selector("#st-survey-confirm:not([hidden])", timeout=20_000)
    bar = page.inner_text("#admin-status")
    assert "已保存" not in bar and "未采用" in bar
    context.close()


def test_an_overwrite_keeps_what_only_the_colleague_changed(browser, office):  # noqa: F811
    first, second = phone_context(browser), phone_context(browser)
    mine, theirs = first.new_page(), second.new_page()
    sid = "sanquan-union-station"
    for page in (mine, theirs):
        station_open(page, office, sid)
    theirs.fill("#f-notes", "钥匙在村委会")
    theirs.click("#st-save")
    theirs.wait_for_function(
        "() => document.getElementById('admin-status').textContent === '已保存'"
    )
    mine.fill("#f-address", "三泉镇政府旁")
    mine.click("#st-save")
    mine.wait_for_selector("#st-conflict:not([hidden])")
    changed = {
        r.get_attribute("data-field"): r.get_attribute("data-changed")
        for r in mine.locator("#st-conflict-rows tr").all()
    }
    assert changed == {"notes": "they", "address": "you"}  # no conflict at all
    mine.click("#st-overwrite")
    mine.wait_for_function("() => document.getElementById('admin-status').textContent === '已保存'")
    props = mine.request.get(f"{office}/api/stations/{sid}").json()["properties"]
    assert props["notes"] == "钥匙在村委会" and props["address"] == "三泉镇政府旁"
    first.close()
    second.close()


def test_a_late_hours_preview_for_an_older_value_is_dropped(browser, office):  # noqa: F811
    context = phone_context(browser)
    page = context.new_page()
    station_open(page, office, "toudu-union-station")
    held = []

    def hold_the_first(route):  # the answer for "24/7" is kept back until the next one is shown
        if "24%2F7" in route.request.url and not held:
            held.append(route)
        else:
            route.continue_()

    page.route("**/api/hours/preview*", hold_the_first)
    hours = page.locator("#f-opening_hours")
    with page.expect_request("**/api/hours/preview*24%2F7*"):
        hours.fill("24/7")
    hours.fill("Sa 09:00-12:00")
    page.wait_for_selector("#st-hours[data-for='Sa 09:00-12:00'] .st-hours-day")
    with page.expect_event("requestfinished"):
        held[0].continue_()  # now the older answer arrives
    page.evaluate("() => new Promise(done => setTimeout(done, 0))")  # its handler has run
    assert page.get_attribute("#st-hours", "data-for") == "Sa 09:00-12:00"
    opened = page.locator("#st-hours .st-hours-open").all_inner_texts()
    assert len(opened) == 1 and "09:00–12:00" in opened[0]
    context.close()
