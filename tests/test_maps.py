"""Map building: no CDN, escaped data, GCJ-02 overlays for Amap tiles, the bundled map is fresh."""

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import BUNDLED_LOOP, BUNDLED_STATIONS, collection, station
from stations.catalog import Catalog
from stations.cli import app
from stations.coords import CRS, from_wgs84
from stations.errors import InvalidInput
from stations.settings import DEFAULT_GEODATA
from stations.storage.loading import parse_stations
from stations.web import assets
from stations.web.maps import MapOptions, build_map, render_page
from stations.web.standalone import fingerprint, read_fingerprint, render_standalone
from stations.web.tiles import tile_source

XSS = "<img src=x onerror=alert(1)>"
REPO = DEFAULT_GEODATA.parent


def config_of(page: str) -> dict:
    """The JSON handed to Stations.mount in a rendered page."""
    match = re.search(r"Stations\.mount\([^,]+, (\{.*?\}), \{\n", page, re.S)
    assert match, "Stations.mount call not found"
    return json.loads(match.group(1))


def test_page_references_only_local_assets(bundled):
    page = render_page(build_map(bundled))
    srcs = re.findall(r'<script[^>]*src="([^"]+)"', page)
    hrefs = [h for h in re.findall(r'<link[^>]*href="([^"]+)"', page) if h != "data:,"]
    assert srcs and hrefs
    assert all(u.startswith("/static/") for u in srcs + hrefs), srcs + hrefs
    for u in srcs + hrefs:
        assert assets.path(u.removeprefix("/static/")).is_file()
    for cdn in ("cdn.jsdelivr", "cdnjs", "unpkg", "code.jquery", "bootstrapcdn"):
        assert cdn not in page


def test_standalone_inlines_everything(bundled):
    page = render_standalone(build_map(bundled), "abc123")
    assert "/static/" not in page
    assert not re.search(r"<script[^>]*\bsrc=", page)
    assert not re.search(r"<link[^>]*stylesheet", page)
    assert "url(images/" not in page  # leaflet's images became data: URIs
    assert read_fingerprint(page) == "abc123"
    assert len(page) < 600_000


def test_station_text_is_never_html(tmp_path):
    feats = [
        station("evil", 107.26, 28.91, name=XSS, name_en="</script><script>alert(2)</script>"),
        station("plain", 107.3, 28.95),
    ]
    catalog = Catalog(parse_stations(collection(*feats), "t").stations)
    for page in (render_page(build_map(catalog)), render_standalone(build_map(catalog))):
        assert XSS not in page and "<script>alert(2)" not in page
        names = [f["properties"]["name"] for f in config_of(page)["data"]["features"]]
        assert XSS in names  # kept as data, escaped only as JSON


def test_amap_tiles_shift_every_overlay_to_gcj02(bundled):
    wgs = config_of(render_page(build_map(bundled)))
    gcj_page = render_page(build_map(bundled, MapOptions(tiles=tile_source("amap"))))
    gcj = config_of(gcj_page)
    assert wgs["crs"] == "wgs84" and gcj["crs"] == "gcj02"
    by_id = {f["id"]: f for f in gcj["data"]["features"]}
    for f in wgs["data"]["features"]:
        x, y = f["geometry"]["coordinates"]
        assert by_id[f["id"]]["geometry"]["coordinates"] == pytest.approx(
            list(from_wgs84(x, y, CRS.GCJ02)), abs=2e-7
        )
    # The loop line is shifted too: its first vertex appears in GCJ-02, not in WGS84.
    lon0, lat0 = bundled.loop.lons[0], bundled.loop.lats[0]
    gx, gy = from_wgs84(lon0, lat0, CRS.GCJ02)
    assert f"[{round(gy, 6)}, {round(gx, 6)}]" in gcj_page
    assert f"[{round(lat0, 6)}, {round(lon0, 6)}]" not in gcj_page
    assert "autonavi.com" in gcj_page and "AutoNavi" in gcj_page


def test_tiles_choices_and_attribution():
    assert tile_source("none").url == ""
    custom = tile_source("https://tiles.example.org/{z}/{x}/{y}.png", attribution="<b>x</b>")
    assert custom.safe_attribution() == "&lt;b&gt;x&lt;/b&gt;"
    assert custom.origins() == ["https://tiles.example.org"]
    assert tile_source("amap").origins() == [f"https://webrd0{i}.is.autonavi.com" for i in "1234"]
    with pytest.raises(InvalidInput, match="key"):
        tile_source("tianditu")
    assert "tk=KEY" in tile_source("tianditu", tianditu_key="KEY").url
    for bad in ("bogus", "ftp://x/{z}/{x}/{y}", "https://x/tiles.png"):
        with pytest.raises(InvalidInput, match="tiles must be"):
            tile_source(bad)


def test_map_has_layers_controls_and_km_marks(bundled):
    page = render_page(build_map(bundled, MapOptions(lang="en", coverage_km=3)))
    assert "L.control.layers" in page and "control_scale" not in page
    assert "L.control.scale" in page
    km_labels = re.findall(r"(\d+) km", page)
    assert {"0", "10", "170"} <= set(km_labels)  # every 10 km of the official 178
    assert "loop within 3 km of a station" in page
    cfg = config_of(page)
    assert cfg["lang"] == "en" and cfg["coverageKm"] == 3
    assert set(cfg["legendKinds"]) == {"union_station", "warm_station", "cold_drink_fridge"}
    assert len(cfg["data"]["features"]) == 8  # located, open stations


def test_bundled_map_is_fresh():
    page = (REPO / "maps" / "loop178.html").read_text(encoding="utf-8")
    expected = fingerprint([BUNDLED_STATIONS, BUNDLED_LOOP], MapOptions())
    assert read_fingerprint(page) == expected, (
        "maps/loop178.html is stale: regenerate it with `stations map`"
    )


def test_map_command_writes_a_standalone_file(tmp_path: Path):
    out = tmp_path / "sub" / "m.html"
    result = CliRunner().invoke(app, ["map", "-o", str(out), "--tiles", "amap", "--lang", "en"])
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    assert "/static/" not in page and config_of(page)["crs"] == "gcj02"
    assert out.stat().st_mode & 0o044  # readable by others: a map is for sharing
    assert [p.name for p in out.parent.iterdir()] == ["m.html"]  # no temp file left
    bad = CliRunner().invoke(app, ["map", "-o", str(out), "--tiles", "nope"])
    assert bad.exit_code == 1 and "tiles must be" in bad.output
    assert out.read_text(encoding="utf-8") == page  # a failed run leaves the old map
