"""What the office app's browser tests share: a server on a copy of the bundled data, sign-in.

The browser fixtures (``browser``, ``context``, ``tiles``) and `Watch` come from test_browser;
screenshots meant for the README go to docs/screenshots/ (`readme_shot`).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Page

from helpers import serve
from stations.settings import DEFAULT_GEODATA

TOKEN = "office-test-token-7f3a9c2e5b"
LABEL = "office"
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
