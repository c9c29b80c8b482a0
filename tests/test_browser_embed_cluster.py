"""/embed of a station that shares a cluster with another of its kind, in a real Chromium."""

from __future__ import annotations

import json

import pytest

from conftest import collection, station
from helpers import serve
from test_browser import Watch, browser, context, ready, screenshot, tile_env, tiles  # noqa: F401

# Two union stations 3 m apart: one cluster at every zoom, spiderfied at the last; and a third one
# a little away, so the first view holds a cluster that zooming has to open.
PAIR = [
    station("twin-a", 107.26180, 28.91200, name="双子甲驿站"),
    station("twin-b", 107.26183, 28.91201, name="双子乙驿站"),
    station("near", 107.2625, 28.9125, name="附近驿站"),
    station("far", 107.40, 29.05, name="远处驿站", kind="warm_station"),
]


@pytest.fixture(scope="module")
def twins(tmp_path_factory):
    path = tmp_path_factory.mktemp("twins") / "stations.geojson"
    path.write_text(json.dumps(collection(*PAIR), ensure_ascii=False), encoding="utf-8")
    return path


@pytest.mark.parametrize("sid", ["twin-a", "twin-b", "near"])
def test_embed_opens_a_clustered_station_without_errors(context, tiles, twins, sid):  # noqa: F811
    with serve(tile_env(tiles, STATIONS_STATIONS_PATH=str(twins))) as base:
        page = context.new_page()
        watch = Watch(page)
        page.goto(f"{base}/embed?station={sid}")
        ready(page)
        popup = page.locator(".leaflet-popup .st-popup")
        try:
            popup.wait_for(timeout=10_000)
        except Exception:
            raise AssertionError(watch.errors) from None
        name = next(f["properties"]["name"] for f in PAIR if f["id"] == sid)
        assert popup.locator(".st-name").inner_text() == name
        page.wait_for_timeout(1500)  # let the reload after the zoom land; it must not break
        assert popup.locator(".st-name").inner_text() == name
        watch.clean()
        screenshot(page, f"embed-cluster-{sid}.png")
