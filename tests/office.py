"""What the office app's browser tests share: a server on a copy of the bundled data, sign-in.

Also the steps the section tests and the clerk's whole day (test_office_day) share: reading a
station back, waiting for a save, choosing a station, feeding the loop page positions, reading
the loop preview and the inbox, a rider's report from the QR code's page, decoding a QR code.
The browser fixtures (``browser``, ``context``, ``tiles``) and `Watch` come from test_browser;
screenshots meant for the README go to docs/screenshots/ (`readme_shot`).
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import zxingcpp
from PIL import Image
from playwright.sync_api import Browser, BrowserContext, Locator, Page

from helpers import serve
from stations.settings import DEFAULT_GEODATA

TOKEN = "office-test-token-7f3a9c2e5b"
LABEL = "office"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
DELONG = "delong-yinxing-union-station"
DELONG_SITE = (107.26301, 28.91402)  # where the clerk stands at 德隆's door in the survey
SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"


def copy_data(folder: Path) -> dict[str, str]:
    """The bundled stations and loop copied into ``folder``; the settings that point at them."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("stations.geojson", "loop178.geojson"):
        shutil.copy(DEFAULT_GEODATA / name, folder / name)
    return {
        "STATIONS_STATIONS_PATH": str(folder / "stations.geojson"),
        "STATIONS_LOOP_PATH": str(folder / "loop178.geojson"),
        "STATIONS_REPORTS_PATH": str(folder / "reports.sqlite3"),
        "STATIONS_ADMIN_TOKEN": f"{LABEL}:{TOKEN},field:second-test-token-4d2b8e1a",
    }


@contextmanager
def office_server(folder: Path, tiles: str | None = None, **extra: str) -> Iterator[str]:
    """`stations serve` on a copy of the bundled data with admin tokens; yields the base URL."""
    env = copy_data(folder)
    if tiles is not None:
        env["STATIONS_TILES"] = f"{tiles}/tiles/{{z}}/{{x}}/{{y}}.png"
        env["STATIONS_TILES_ATTRIBUTION"] = "local test tiles"
    env.update(extra)
    with serve(env) as base:
        yield base


def sign_in(page: Page, base: str, token: str = TOKEN, next_page: str = "/admin") -> None:
    """Sign ``page`` in through the form, as a clerk would, and wait for the page asked for."""
    page.goto(f"{base}/admin?next={next_page}")
    page.fill("#token", token)
    page.click("#signin")
    page.wait_for_selector("#admin-label")


def readme_shot(page: Page, name: str) -> None:
    """A screenshot the README shows (docs/screenshots/), rewritten by every run."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


def stored(base: str, sid: str) -> dict:
    """The station ``sid`` as the API stores it now (read with the token)."""
    answer = httpx.get(f"{base}/api/stations/{sid}", headers=AUTH)
    assert answer.status_code == 200, answer.text
    return answer.json()


def phone_context(browser: Browser, **extra: Any) -> BrowserContext:
    """A phone-sized browser context (360 x 740, zh-CN), as a clerk holds it."""
    return browser.new_context(
        viewport={"width": 360, "height": 740}, locale="zh-CN", device_scale_factor=2, **extra
    )


def phone_at(browser: Browser, lon: float, lat: float, **extra: Any) -> BrowserContext:
    """A phone context whose (emulated) GPS says it is at ``lon, lat`` within 8 m, allowed."""
    position = {"longitude": lon, "latitude": lat, "accuracy": 8}
    return phone_context(browser, geolocation=position, permissions=["geolocation"], **extra)


def part_shot(part: Locator, name: str) -> None:
    """A README screenshot of one part of the page (the whole form would be a metre long)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    part.scroll_into_view_if_needed()
    part.screenshot(path=str(SCREENSHOTS / name))


def saved(page: Page, text: str = "已保存") -> None:
    """Wait until the page's status line says ``text`` (a write was acknowledged)."""
    page.wait_for_function(
        "text => document.getElementById('admin-status').textContent === text", arg=text
    )


def save_after_a_colleague(mine: Page, theirs: Page, fields: dict[str, str]) -> None:
    """Both pages hold the same station; ``theirs`` saves a phone number first, then ``mine``
    saves ``fields`` (a phone number among them): ``mine`` shows the conflict, phone by phone."""
    theirs.fill("#f-phone", "023-1111 2222")
    theirs.click("#st-save")
    saved(theirs)
    for field, value in fields.items():
        mine.fill(f"#f-{field}", value)
    mine.click("#st-save")
    mine.wait_for_selector("#st-conflict:not([hidden])")
    row = mine.locator('#st-conflict-rows tr[data-field="phone"]')
    assert row.locator(".st-theirs").inner_text() == "023-1111 2222"
    assert row.locator(".st-yours").inner_text() == fields["phone"]


def choose(page: Page, name: str) -> None:
    """Search the stations section for ``name`` and open the first station found."""
    page.fill("#q", name)
    page.locator("#st-list .st-row").first.click()
    page.wait_for_function(
        "name => document.getElementById('st-form-title').textContent.includes(name)", arg=name
    )


def drag_selected(page: Page, metres: float) -> float:
    """Drag the open station's marker ``metres`` east with the mouse; the distance the form shows.

    A station opens at zoom 14 near latitude 28.9° (Web Mercator: 156543.03 m/px at zoom 0 on
    the equator, times cos(latitude), halved per level); the drag moves in ten steps, as a
    finger would, so Leaflet sees a drag rather than a tap.
    """
    marker = page.locator(".st-pin-selected")
    marker.scroll_into_view_if_needed()
    box = marker.bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    dx = metres / (156543.03 * 0.8751 / 2**14)
    page.mouse.move(x, y)
    page.mouse.down()
    for step in range(1, 11):
        page.mouse.move(x + dx * step / 10, y, steps=2)
    page.mouse.up()
    page.wait_for_selector("#st-moved[data-metres]")
    return float(page.get_attribute("#st-moved", "data-metres") or "nan")


def points_shown(page: Page) -> int:
    """How many fixes the loop page says it has recorded."""
    return int(page.locator("#rec-points").inner_text())


def wait_points(page: Page, n: int) -> None:
    """Wait until the loop page has recorded ``n`` fixes."""
    page.wait_for_function(
        "n => document.getElementById('rec-points').textContent === String(n)", arg=n
    )


def feed(context: BrowserContext, page: Page, points: list[tuple[float, float]]) -> None:
    """Each position in turn, as the phone's GPS would report it (8 m accuracy)."""
    for lon, lat in points:
        expected = points_shown(page) + 1
        context.set_geolocation({"longitude": lon, "latitude": lat, "accuracy": 8})
        wait_points(page, expected)


def preview_of(page: Page) -> dict[str, dict[str, str]]:
    """The preview table's rows by station id: name, old and new km, flagged."""
    rows = page.evaluate(
        """() => Array.from(document.querySelectorAll('#preview-table tbody tr')).map(tr => ({
            id: tr.dataset.id,
            name: tr.cells[0].firstChild.textContent,
            old: tr.cells[1].textContent,
            new: tr.cells[2].textContent,
            flag: !!tr.querySelector('.st-flag'),
        }))"""
    )
    return {r["id"]: r for r in rows}


def open_reports(page: Page) -> list[str]:
    """Ids of the reports the inbox lists, once it has loaded."""
    page.wait_for_selector("#report-list > li")
    page.wait_for_function("() => !document.getElementById('report-list').ariaBusy")
    return page.locator("#report-list > li[data-report]").evaluate_all(
        "items => items.map(li => li.dataset.report)"
    )


def rider_reports_from_the_qr_page(page: Page, base: str, text: str) -> None:
    """A rider opens the QR code's page, finds the report form open and sends a report."""
    page.goto(f"{base}/?station={DELONG}")
    card = page.locator(f"#results li[data-station={DELONG}]")
    card.wait_for()
    assert "德隆银杏村工会驿站" in card.locator(".st-name").inner_text()
    form = card.locator("details.st-report[open] .st-report-form")
    assert form.is_visible()  # open: nothing to tap before choosing what is wrong
    form.locator("select").select_option("locked_during_hours")
    form.locator("textarea").fill(text)
    form.locator("button").click()
    page.wait_for_selector(".st-report-form[data-sent]")
    assert "谢谢" in form.locator(".st-report-result").inner_text()


def decode_qr(png: bytes) -> list[str]:
    """Every QR code zxing-cpp finds in a screenshot."""
    image = Image.open(io.BytesIO(png)).convert("L")
    return [code.text for code in zxingcpp.read_barcodes(image)]
