"""The office's loop page in Chromium, as a clerk uses it: record a drive, preview, accept.

The drive is the bundled loop walked every 50 m with a detour (`tracks.drive`), fed to the page
as emulated positions one by one. Halfway the page is reloaded (nothing recorded may be lost),
then paused and resumed; a fix with poor accuracy and an impossible jump are discarded. The
closed track is sent, its preview read, accepted, and the new km marks are seen on /map.
"""

from __future__ import annotations

import httpx

from conftest import BUNDLED_LOOP
from office import (
    AUTH,
    feed,
    office_server,
    phone_context,
    points_shown,
    preview_of,
    readme_shot,
    sign_in,
    wait_points,
)
from stations.loop import load_loop
from stations.storage.track import parse_gpx
from test_browser import XSS, Watch, browser, open_popup, tiles  # noqa: F401 (fixtures)
from tracks import drive, gpx_bytes


def test_clerk_records_the_loop_previews_and_accepts_it(browser, tiles, bundled, tmp_path):  # noqa: F811
    points = drive(load_loop(BUNDLED_LOOP), step_m=40)  # < 200 km/h at 1 fix/s
    half = len(points) // 2
    context = phone_context(
        browser,
        is_mobile=True,
        has_touch=True,
        geolocation={"longitude": points[0][0], "latitude": points[0][1], "accuracy": 8},
        permissions=["geolocation"],
    )
    page = context.new_page()
    watch = Watch(page)
    with office_server(tmp_path, tiles) as base:
        renamed = httpx.patch(
            f"{base}/api/stations/toudu-union-station",
            json={"properties": {"name": XSS}},
            headers=AUTH,
        )
        assert renamed.status_code == 200, renamed.text
        sign_in(page, base, next_page="/admin/loop")
        page.wait_for_selector("[data-loop-ready]", state="attached")

        # a broken file from a tracker: the server's reason is shown, as text
        page.set_input_files(
            "#gpx-file",
            files=[{"name": "bad.gpx", "mimeType": "application/gpx+xml", "buffer": b"<gpx><trk"}],
        )
        page.wait_for_selector("#preview-error:not([hidden])")
        assert "GPX" in page.locator("#preview-error").inner_text()
        watch.errors.clear()  # the browser logs the refused request (400) itself

        page.click("#rec-start")
        wait_points(page, 1)  # where the phone is when recording starts
        context.set_geolocation(
            {"longitude": points[1][0], "latitude": points[1][1], "accuracy": 120}
        )
        page.wait_for_selector("#rec-skipped:not([hidden])")
        context.set_geolocation(
            {"longitude": points[1][0] + 0.2, "latitude": points[1][1], "accuracy": 5}
        )
        page.wait_for_function(
            "() => document.getElementById('rec-skipped').textContent.endsWith('2')"
        )
        assert points_shown(page) == 1
        feed(context, page, points[1:half])
        assert page.locator("#rec-state").inner_text() == "正在记录…"
        readme_shot(page, "office-loop.png")

        # a reload in the middle of the drive loses nothing and goes on recording
        length = page.locator("#rec-length").inner_text()
        page.reload()
        page.wait_for_selector("[data-loop-ready]", state="attached")
        assert points_shown(page) == half
        assert page.locator("#rec-length").inner_text() == length
        assert page.locator("#rec-state").inner_text() == "正在记录…"

        # paused: fixes are not kept; resumed: the current position is
        page.click("#rec-pause")
        assert page.locator("#rec-state").inner_text() == "已暂停"
        lon, lat = points[half]
        context.set_geolocation({"longitude": lon, "latitude": lat, "accuracy": 8})
        page.wait_for_timeout(300)
        assert points_shown(page) == half
        page.click("#rec-resume")
        wait_points(page, half + 1)
        assert page.locator("#rec-closes").is_hidden()
        feed(context, page, points[half + 1 :])
        assert page.locator("#rec-closes").is_visible()  # back near the start

        page.click("#rec-finish")
        with page.expect_download() as download:  # a copy whatever the server says
            page.click("#rec-download")
        saved = parse_gpx(download.value.path().read_bytes(), "download")
        assert len(saved) == points_shown(page) == len(points)  # every fix kept, none lost
        page.click("#rec-send")
        page.wait_for_selector("#preview-table tbody tr")
        preview = preview_of(page)
        assert set(preview) == {s.id for s in bundled.all}
        assert preview["toudu-union-station"]["name"] == XSS  # shown as text
        assert page.locator("#preview-table img").count() == 0
        moved = [r for r in preview.values() if r["flag"]]
        assert moved, preview
        new_length = page.locator("#preview-new").inner_text()
        # the count is the rows flagged below, under the threshold the label names
        assert page.inner_text("#preview-changed") == str(len(moved))
        assert "移动超过 2.0 公里" in page.inner_text("#preview-changed-label")
        # the marks are on the official 178 km: the page says so, with the factor
        scale = page.inner_text("#preview-scale")
        assert "官方环线长度 178 公里" in scale and "×" in scale, scale
        readme_shot(page, "office-loop-preview.png")

        page.click("#preview-accept")
        page.wait_for_selector("#preview-done:not([hidden])")
        assert points_shown(page) == 0  # the stored track is cleared once the loop is saved
        served = httpx.get(f"{base}/api/loop").json()["properties"]
        assert served["accuracy"] == "gps_track"
        assert new_length.startswith(f"{served['geometric_length_m'] / 1000:.1f} 公里")
        marks = {m["id"]: m["loop_km"] for m in served["station_marks"]}
        for sid, row in preview.items():
            if row["new"] != "—":
                assert f"{marks[sid]:.1f}" == row["new"]

        # on the map, a station past the detour shows its new km mark
        target = max(
            (r for r in preview.values() if r["old"] != "—" and r["id"] != "toudu-union-station"),
            key=lambda r: abs(float(r["new"]) - float(r["old"])),
        )
        page.click("#open-map")
        page.wait_for_selector("[data-stations-ready]", state="attached", timeout=20_000)
        station = httpx.get(f"{base}/api/stations/{target['id']}").json()
        lon, lat = station["geometry"]["coordinates"]
        page.evaluate(f"window.stationsMap.map.setView([{lat}, {lon}], 16)")
        popup = open_popup(page, f".st-marker[title^='{target['name']}']")
        assert f"km {target['new']}" in popup.inner_text()
        assert f"km {target['old']}" not in popup.inner_text()
    watch.clean()
    context.close()


def test_clerk_uploads_a_gpx_file_meets_a_conflict_and_discards(browser, tiles, tmp_path):  # noqa: F811
    context = browser.new_context(viewport={"width": 360, "height": 740}, locale="en-US")
    page = context.new_page()
    watch = Watch(page)
    track = gpx_bytes(drive(load_loop(BUNDLED_LOOP), step_m=200))
    with office_server(tmp_path, tiles) as base:
        before = httpx.get(f"{base}/api/loop").json()["properties"]
        sign_in(page, base, next_page="/admin/loop?lang=en")
        page.wait_for_selector("[data-loop-ready]", state="attached")
        assert page.locator("#rec-start").inner_text() == "Start recording"
        page.set_input_files(
            "#gpx-file",
            files=[{"name": "drive.gpx", "mimeType": "application/gpx+xml", "buffer": track}],
        )
        page.wait_for_selector("#preview-table tbody tr")
        assert "km" in page.locator("#preview-new").inner_text()
        # a colleague replaces the loop meanwhile: accepting this preview is refused
        other = gpx_bytes(drive(load_loop(BUNDLED_LOOP), step_m=200, detour_m=1000))
        headers = {**AUTH, "Content-Type": "application/gpx+xml", "If-Match": "*"}
        assert httpx.put(f"{base}/api/loop", content=other, headers=headers).status_code == 200
        theirs = httpx.get(f"{base}/api/loop").json()["properties"]
        page.click("#preview-accept")
        page.wait_for_selector("#admin-status.st-error")
        assert "preview it again" in page.locator("#admin-status").inner_text()
        assert httpx.get(f"{base}/api/loop").json()["properties"] == theirs
        watch.errors.clear()  # the browser logs the refused request (412) itself
        page.set_input_files(
            "#gpx-file",
            files=[{"name": "drive.gpx", "mimeType": "application/gpx+xml", "buffer": track}],
        )
        page.wait_for_selector("#preview-body:not([hidden])")
        page.click("#preview-discard")
        assert page.locator("#preview").is_hidden()
        assert "unchanged" in page.locator("#admin-status").inner_text()
        assert httpx.get(f"{base}/api/loop").json()["properties"] == theirs
    assert theirs != before
    watch.clean()
    context.close()
