"""Planners' answers on the bundled loop: coverage, suggestions, demand, exports, GPX import."""

import json
import math
from pathlib import Path

import pyogrio
import pytest
from typer.testing import CliRunner

from stations.catalog import Catalog
from stations.cli import app
from stations.coords import CRS, from_wgs84
from stations.errors import InvalidInput
from stations.loop import load_loop
from stations.planning.demand import parse_demand_csv
from stations.planning.places import ring_of
from stations.planning.ring import max_distance
from stations.planning.sites import coverage_report, suggest
from stations.storage.exchange import write_features

runner = CliRunner()


def test_coverage_report_on_the_bundled_loop(bundled):
    r = coverage_report(bundled, 5000.0)
    assert r["stations_counted"] == 6 and r["statuses"] == ["open"]
    assert 0.2 < r["covered_fraction"] < 0.5
    gaps = r["gaps"]["features"]
    assert gaps and all(f["geometry"]["type"] == "LineString" for f in gaps)
    total_gap = sum(f["properties"]["length_m"] for f in gaps)
    assert total_gap == pytest.approx((1 - r["covered_fraction"]) * 178_000, rel=1e-3)
    assert r["max_gap_m"] == max(f["properties"]["length_m"] for f in gaps)
    for f in gaps:
        p = f["properties"]
        assert 0 <= p["from_km"] < 178 and 0 <= p["to_km"] < 178
    # the profile's largest value is at most the exact largest distance, and close to it
    prof = max(p["distance_m"] for p in r["profile"])
    assert prof <= r["max_distance_m"] + 1e-6 and r["max_distance_m"] - prof <= 500
    assert r["min_new_stations_to_cover"] == len(r["to_cover_sites"]) > 0
    everything = coverage_report(bundled, 200_000.0)
    assert everything["covered_fraction"] == 1.0 and everything["gaps"]["features"] == []
    assert everything["min_new_stations_to_cover"] == 0


def test_suggest_improves_and_describes_each_site(bundled):
    result = suggest(bundled, 3, 5000.0)
    before, after = result["objective"]["before"], result["objective"]["after"]
    assert after["max_distance_m"] < before["max_distance_m"]
    assert after["covered_fraction"] >= before["covered_fraction"]
    ring = ring_of(bundled)
    assert before["max_distance_m"] == pytest.approx(max_distance(ring), abs=0.1)
    assert len(result["features"]) == 3
    for f in result["features"]:
        p = f["properties"]
        assert 0 <= p["loop_km"] < 178
        assert f["geometry"]["coordinates"] == [p["lon"], p["lat"]]
        snap = bundled.loop.snap(p["lon"], p["lat"])
        assert snap.offroute_m < 1.0  # on the loop
        assert p["nearest_town"]["name"].endswith("镇")
        imp = p["improvement"]
        assert imp["after"]["max_distance_m"] <= imp["before"]["max_distance_m"]
    assert suggest(bundled, 0)["features"] == []


def test_demand_on_the_loop_uses_the_exact_ring_mclp(bundled):
    loop = bundled.loop
    pts = []
    for km, w in ((80, 10), (81, 5), (150, 3)):
        lon, lat = loop.point_at(loop.chainage_at_km(km))
        gx, gy = from_wgs84(lon, lat, CRS.GCJ02)
        pts.append(f"{gx:.7f},{gy:.7f},{w}")
    demand = parse_demand_csv("lng,lat,orders\n" + "\n".join(pts), CRS.GCJ02, "t.csv")
    result = suggest(bundled, 1, 3000.0, demand)
    assert result["method"].startswith("maximal covering on the ring")
    assert result["demand"]["covered_after"] - result["demand"]["covered_before"] == 15
    assert abs(result["features"][0]["properties"]["loop_km"] - 80.5) < 2.6


def test_demand_off_the_loop_runs_spopt(bundled):
    # Nanchuan city (the cold-drink fridge's town), ~20 km off the loop
    demand = [(107.0989, 29.1581, 8.0), (107.105, 29.16, 2.0), (107.26, 28.91, 1.0)]
    result = suggest(bundled, 1, 3000.0, demand)
    assert "spopt" in result["solver"] and "CBC" in result["solver"]
    assert result["demand"]["covered_after"] >= 10.0
    with pytest.raises(InvalidInput, match="radius"):
        suggest(bundled, 1, None, demand)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("x,y\n1,2", "lon and lat"),
        ("lon,lat\n107,95", "row 2"),
        ("lon,lat,weight\n107,29,-1", "weight"),
        ("lon,lat\nabc,29", "row 2"),
        ("lon,lat\n", "no demand rows"),
    ],
)
def test_bad_demand_is_refused(text, needle):
    with pytest.raises(InvalidInput, match=needle):
        parse_demand_csv(text, CRS.WGS84, "d.csv")


def test_exports_read_back_with_gdal(bundled, tmp_path):
    result = suggest(bundled, 2, 5000.0)
    gpkg = write_features(result, tmp_path / "sites.gpkg", "suggested_sites")
    frame = pyogrio.read_dataframe(gpkg, layer="suggested_sites")
    assert len(frame) == 2 and set(frame["loop_km"]) == {
        f["properties"]["loop_km"] for f in result["features"]
    }
    assert frame.crs.to_epsg() == 4326
    gaps = coverage_report(bundled, 5000.0)["gaps"]
    gj = write_features(gaps, tmp_path / "gaps.geojson", "gaps")
    back = pyogrio.read_dataframe(gj)
    assert len(back) == len(gaps["features"]) and (back.geom_type == "LineString").all()
    with pytest.raises(InvalidInput, match="gpkg"):
        write_features(gaps, tmp_path / "gaps.shp", "gaps")


def test_cli_coverage_and_suggest(tmp_path):
    r = runner.invoke(app, ["coverage", "--radius-km", "5"])
    assert r.exit_code == 0 and "Uncovered stretches" in r.output
    j = runner.invoke(app, ["coverage", "--radius-km", "5", "--json"])
    assert json.loads(j.output)["radius_m"] == 5000.0
    out = tmp_path / "s.gpkg"
    s = runner.invoke(app, ["suggest", "--count", "2", "--radius-km", "5", "-o", str(out)])
    assert s.exit_code == 0, s.output
    assert "Suggested sites" in s.output and out.exists()
    sj = runner.invoke(app, ["suggest", "--count", "2", "--json"])
    body = json.loads(sj.output)
    assert body["type"] == "FeatureCollection" and len(body["features"]) == 2
    csv = tmp_path / "d.csv"
    csv.write_text("lon,lat\n107.2618,95\n", encoding="utf-8")
    bad = runner.invoke(app, ["suggest", "--count", "1", "--radius-km", "3", "--demand", str(csv)])
    assert bad.exit_code == 1 and "row 2" in bad.output


def gpx(points, path: Path) -> Path:
    body = "".join(f'<trkpt lat="{y:.7f}" lon="{x:.7f}"></trkpt>' for x, y in points)
    path.write_text(
        '<?xml version="1.0"?><gpx version="1.1" creator="test" '
        'xmlns="http://www.topografix.com/GPX/1/1"><trk><name>loop</name><trkseg>'
        f"{body}</trkseg></trk></gpx>",
        encoding="utf-8",
    )
    return path


def test_loop_import_from_a_gpx_track(tmp_path, bundled):
    loop = bundled.loop
    # A "driven" track: the loop at 20 m steps with GPS jitter, ending 120 m short of the start.
    steps = [loop.point_at(c) for c in range(0, int(loop.length_m) - 120, 20)]
    rng = __import__("numpy").random.default_rng(1)
    noisy = [(x + rng.normal(0, 2e-5), y + rng.normal(0, 2e-5)) for x, y in steps]
    track = gpx(noisy, tmp_path / "drive.gpx")
    target = tmp_path / "loop.geojson"
    target.write_text(Path("geodata/loop178.geojson").read_text("utf-8"), encoding="utf-8")
    stations = tmp_path / "stations.geojson"  # the store's audit log and lock go beside it
    stations.write_bytes(Path("geodata/stations.geojson").read_bytes())
    args = ["loop", "import", str(track), "--loop", str(target), "--stations", str(stations)]
    dry = runner.invoke(app, [*args, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert target.read_text("utf-8") == Path("geodata/loop178.geojson").read_text("utf-8")
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    new = load_loop(target)
    assert new.properties["accuracy"] == "gps_track"
    assert new.official_length_m == 178_000
    assert 100 < len(new.stored) < len(noisy)  # simplified
    assert math.isclose(new.length_m, loop.length_m, rel_tol=0.01)
    catalog = Catalog.from_paths(Path("geodata/stations.geojson"), target)
    assert set(catalog.loop_places) == set(bundled.loop_places)  # every station re-snapped


def test_loop_import_refuses_bad_tracks(tmp_path, bundled):
    loop = bundled.loop
    half = [loop.point_at(c) for c in range(0, int(loop.length_m / 2), 50)]
    target = tmp_path / "loop.geojson"
    target.write_text(Path("geodata/loop178.geojson").read_text("utf-8"), encoding="utf-8")
    before = target.read_bytes()
    r = runner.invoke(
        app, ["loop", "import", str(gpx(half, tmp_path / "h.gpx")), "--loop", str(target)]
    )
    assert r.exit_code == 1 and "does not close" in r.output
    junk = tmp_path / "junk.gpx"
    junk.write_text("not xml at all", encoding="utf-8")
    r = runner.invoke(app, ["loop", "import", str(junk), "--loop", str(target)])
    assert r.exit_code == 1 and "junk.gpx" in r.output
    r = runner.invoke(app, ["loop", "import", str(tmp_path / "missing.gpx"), "--loop", str(target)])
    assert r.exit_code == 1 and "no such file" in r.output
    assert target.read_bytes() == before


def test_cli_suggest_table_for_demand_off_the_loop(tmp_path):
    # The district seat (Nanchuan city) lies well over 5 km from the loop: spopt answers, and
    # that answer has no ring objective; the table must still print.
    far = tmp_path / "far.csv"
    far.write_text("lon,lat,weight\n107.0988,29.1577,10\n", encoding="utf-8")
    args = ["suggest", "--count", "2", "--radius-km", "5", "--demand", str(far)]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit)
    assert "spopt" in r.output and "Suggested sites" in r.output
    assert "demand within reach: 10 -> 10 of 10" in r.output


def test_cli_suggest_json_for_demand_on_the_loop(tmp_path):
    near = tmp_path / "near.csv"
    near.write_text("lon,lat,weight\n107.2618,28.912,3\n107.25,28.95,2\n", encoding="utf-8")
    args = ["suggest", "--count", "2", "--radius-km", "5", "--demand", str(near), "--json"]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    body = json.loads(r.output)
    assert body["method"].startswith("maximal covering on the ring")
    assert body["demand"]["covered_after"] == 5
