"""The office's reports inbox and station posters in Chromium, as a clerk and a rider use them.

A rider reports a problem from the page a poster's QR code opens; the clerk finds it in the
inbox, resolves it with a note, and it leaves the open list and the counts. The poster's QR
code is read back by a real decoder (zxing-cpp) from a screenshot of the page as printed.
Markup in report texts and station fields stays text everywhere.
"""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from conftest import station
from office import (
    DELONG,
    LABEL,
    TOKEN,
    decode_qr,
    office_server,
    open_reports,
    readme_shot,
    rider_reports_from_the_qr_page,
    sign_in,
)
from test_browser import XSS, Watch, browser, tiles  # noqa: F401 (fixtures)

JINSHAN = "jinshan-union-station"
FIELD = {"Authorization": "Bearer second-test-token-4d2b8e1a"}  # the "field" label
PHONE = {"viewport": {"width": 360, "height": 740}, "locale": "zh-CN"}


def phone(chromium: Browser) -> Page:
    """A page in a new phone-sized context (360 x 740, zh-CN), as a clerk or rider holds it."""
    context = chromium.new_context(**PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    return context.new_page()


def test_clerk_resolves_a_riders_report_from_the_inbox(browser, tiles, tmp_path):  # noqa: F811
    rider = phone(browser)
    rider_watch = Watch(rider)
    clerk = phone(browser)
    watch = Watch(clerk)
    with office_server(tmp_path, tiles) as base:
        rider_reports_from_the_qr_page(rider, base, XSS)
        other = httpx.post(
            f"{base}/api/stations/{JINSHAN}/reports", json={"category": "dirty", "text": "脏"}
        ).json()
        sign_in(clerk, base, next_page="/admin/reports")
        listed = open_reports(clerk)
        assert len(listed) == 2 and listed[0] == str(other["id"])  # newest first
        mine = clerk.locator("#report-list > li").filter(has_text="开放时间内锁门")
        assert mine.count() == 1
        # the rider's markup is text: no element was made of it, no script ran
        assert mine.locator(".st-report-text").inner_text() == XSS
        assert clerk.locator("#report-list img").count() == 0
        expect(mine.locator(".st-report-station")).to_have_text("德隆银杏村工会驿站")  # fetched
        hrefs = [a.get_attribute("href") for a in mine.locator(".st-report-links a").all()]
        assert hrefs == [f"/admin/stations?station={DELONG}", f"/admin/stations/{DELONG}/poster"]
        expect(clerk.locator(f"#report-counts [data-station={DELONG}] .st-count")).to_have_text("1")
        expect(clerk.locator(f"#report-counts [data-station={JINSHAN}]")).to_contain_text("金山镇")
        expect(clerk.locator(".st-report-station").first).to_contain_text("金山镇")
        readme_shot(clerk, "office-reports.png")

        mine.locator("textarea").fill("已联系管理员开门 <b>ok</b>")
        mine.locator("button[type=submit]").click()
        clerk.wait_for_function(  # the list and the counts are both loaded again
            "id => !document.querySelector(`#report-counts [data-station=${id}]`)"
            " && !document.querySelector('#report-list [data-category=locked_during_hours]')",
            arg=DELONG,
        )
        assert "开放时间内锁门" not in clerk.locator("#report-list").inner_text()
        assert "已标记为已处理" in clerk.locator("#admin-status").inner_text()
        assert clerk.locator(f"#report-counts [data-station={JINSHAN}]").count() == 1

        # the resolved list shows who resolved it and the note, as text
        clerk.select_option("#filter-status", "resolved")
        clerk.wait_for_selector("#report-list > li[data-status=resolved]")
        done = clerk.locator("#report-list > li[data-status=resolved]")
        assert done.count() == 1
        assert LABEL in done.locator(".st-resolution").inner_text()
        assert done.locator(".st-resolution-note").inner_text() == "已联系管理员开门 <b>ok</b>"
        assert "status=resolved" in clerk.url

        # resolved meanwhile by a colleague: the API's answer shows under the note
        clerk.select_option("#filter-status", "open")
        clerk.wait_for_selector(f"#report-list > li[data-report='{other['id']}']")
        answer = httpx.post(
            f"{base}/api/reports/{other['id']}/resolve", json={"note": "done"}, headers=FIELD
        )
        assert answer.status_code == 200
        row = clerk.locator(f"#report-list > li[data-report='{other['id']}']")
        row.locator("textarea").fill("我也处理了")
        row.locator("button[type=submit]").click()
        error = row.locator(".st-field-error")
        clerk.wait_for_function(
            "e => e.textContent.includes('already resolved by field')", arg=error.element_handle()
        )
        counts_now = httpx.get(
            f"{base}/api/reports/counts", headers={"Authorization": f"Bearer {TOKEN}"}
        ).json()
        assert counts_now == {"counts": {}}
    assert [e for e in watch.errors if "409" not in e] == []  # the 409 is the expected refusal
    watch.errors.clear()
    watch.clean()
    rider_watch.clean()


def test_inbox_filters_and_pages(browser, tiles, tmp_path):  # noqa: F811
    clerk = phone(browser)
    watch = Watch(clerk)
    with office_server(tmp_path, tiles, STATIONS_REPORT_RATE_PER_HOUR="100") as base:
        for n in range(23):
            category = "no_water" if n % 2 else "dirty"
            sid = DELONG if n < 20 else JINSHAN
            httpx.post(f"{base}/api/stations/{sid}/reports", json={"category": category})
        sign_in(clerk, base, next_page="/admin/reports?lang=en")
        first = open_reports(clerk)
        assert len(first) == 20 and first == sorted(first, key=int, reverse=True)
        assert clerk.locator("#page-prev").is_disabled()
        clerk.click("#page-next")
        clerk.wait_for_function("() => document.body.dataset.reports === '3'")
        assert clerk.locator("#page-number").inner_text() == "Page 2"
        assert clerk.locator("#page-next").is_disabled()
        clerk.select_option("#filter-category", "no_water")
        clerk.wait_for_function("() => document.body.dataset.reports === '11'")
        assert set(clerk.locator(".st-report-cat").all_inner_texts()) == {"no water"}
        clerk.click(f"#report-counts [data-station={JINSHAN}]")
        clerk.wait_for_function("() => document.body.dataset.reports === '1'")
        expect(clerk.locator(".st-report-station")).to_have_text(["金山镇工会驿站（位置待核实）"])
        assert "station=jinshan-union-station" in clerk.url and "category=no_water" in clerk.url
        clerk.reload()  # the URL keeps the view
        assert len(open_reports(clerk)) == 1
        assert clerk.locator("#filter-station").input_value() == JINSHAN
    watch.clean()


def test_poster_prints_on_a4_and_its_qr_code_opens_the_station(browser, tiles, tmp_path):  # noqa: F811
    context = browser.new_context(viewport={"width": 794, "height": 1123}, locale="zh-CN")
    page = context.new_page()
    watch = Watch(page)
    with office_server(tmp_path, tiles) as base:
        sign_in(page, base, next_page=f"/admin/stations/{DELONG}/poster")
        assert page.locator("#poster-name").inner_text() == "德隆银杏村工会驿站"
        assert "STATIONS_PUBLIC_URL" in page.locator("#poster-tools").inner_text()
        page.evaluate(
            "() => { window.print = () => { window.printed = (window.printed || 0) + 1; }; }"
        )
        page.click("#print")
        assert page.evaluate("window.printed") == 1
        page.emulate_media(media="print")
        assert not page.locator("#poster-tools").is_visible()
        assert not page.locator(".st-admin-bar").is_visible()
        readme_shot(page, "office-poster.png")
        found = decode_qr(page.screenshot(full_page=True))
        assert found == [f"{base}/?station={DELONG}"]
        page.emulate_media(media="screen")

        # the decoded address, opened by a rider's phone: the station, its form one tap away
        rider = phone(browser)
        rider_watch = Watch(rider)
        rider.goto(found[0])
        rider.wait_for_selector(f"#results li[data-station={DELONG}] details.st-report[open]")
        center = rider.evaluate(
            "(() => { const c = riderPage.map.getCenter(); return [c.lng, c.lat]; })()"
        )
        feature = httpx.get(f"{base}/api/stations/{DELONG}").json()
        assert center == pytest.approx(feature["geometry"]["coordinates"], abs=1e-4)
        assert rider.evaluate("riderPage.map.getZoom()") == 16
        assert rider.locator(".st-report-form select").is_visible()
        rider_watch.clean()
    watch.clean()
    context.close()


def test_markup_in_station_fields_stays_text_on_poster_rider_card_and_inbox(
    browser,  # noqa: F811
    tiles,  # noqa: F811
    tmp_path,
):
    evil = station(
        "evil-station",
        107.27,
        28.92,
        name=XSS,
        name_en=XSS,
        town=XSS,
        address=XSS,
        opening_hours="Mo-Fr 08:00-18:00",
        amenities=["toilet", "drinking_water"],
        phone="023 1234 5678",
    )
    page = phone(browser)
    watch = Watch(page)
    with office_server(tmp_path, tiles) as base:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        assert httpx.post(f"{base}/api/stations", json=evil, headers=auth).status_code == 201
        httpx.post(
            f"{base}/api/stations/evil-station/reports", json={"category": "other", "text": XSS}
        )
        sign_in(page, base, next_page="/admin/stations/evil-station/poster")
        assert page.locator("#poster-name").inner_text() == XSS
        assert page.locator("#poster-name-en").inner_text() == XSS
        assert XSS in page.locator("#poster-address").inner_text()
        assert page.locator("#poster-hours").inner_text().startswith("周一至周五 08:00–18:00")
        assert "厕所" in page.locator("#poster-amenities").inner_text()
        assert page.locator("#poster img").count() == 1  # the QR code only
        page.goto(f"{base}/admin/reports")
        open_reports(page)
        page.wait_for_function(
            "x => document.querySelector('.st-report-station').textContent === x", arg=XSS
        )
        assert page.locator("#report-list img").count() == 0
        assert page.locator("#report-counts img").count() == 0
        page.goto(f"{base}/?station=evil-station")
        page.wait_for_selector("#results li[data-station=evil-station]")
        assert page.locator("#results .st-name").inner_text() == XSS
        assert page.locator("#results img").count() == 0
    assert watch.dialogs == []
    watch.clean()
