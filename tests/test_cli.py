import json
import shutil

import pytest
from typer.testing import CliRunner

from conftest import BUNDLED_LOOP, BUNDLED_STATIONS
from stations.cli import app
from stations.coords import wgs84_to_gcj02
from stations.settings import Settings

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_nearest_table_names_delong_first():
    result = run("nearest", "--lon", 107.2618, "--lat", 28.912)
    assert result.exit_code == 0, result.output
    assert result.output.index("德隆银杏村工会驿站") < result.output.index("头渡镇")
    assert "56 m" in result.output and "calibrated to the official 178 km" in result.output


def test_nearest_json_matches_gcj02():
    wgs = run("nearest", "--lon", 107.2618, "--lat", 28.912, "--json", "--k", 1)
    assert wgs.exit_code == 0, wgs.output
    a = json.loads(wgs.output)
    glon, glat = wgs84_to_gcj02(107.2618, 28.912)
    gcj = run("nearest", "--lon", glon, "--lat", glat, "--crs", "gcj02", "--json", "--k", 1)
    b = json.loads(gcj.output)
    assert a["type"] == "FeatureCollection"
    assert a["features"][0]["id"] == b["features"][0]["id"] == "delong-yinxing-union-station"
    da, db = (
        a["features"][0]["properties"]["distance_m"],
        b["features"][0]["properties"]["distance_m"],
    )
    assert abs(da - db) < 2.0


def test_nearest_by_loop_json():
    result = run("nearest", "--lon", 107.2618, "--lat", 28.912, "--by", "loop", "--json")
    data = json.loads(result.output)
    props = data["features"][0]["properties"]
    for key in ("loop_distance_m", "direction", "offroute_m", "loop_km"):
        assert key in props
    assert data["loop_calibration"]["basis"] == "official_length"


def test_nearest_errors_are_one_line():
    for args, message in [
        (("--lon", 200, "--lat", 29), "lon must be within [-180, 180], got 200"),
        (("--lon", "nan", "--lat", 29), "lon must be finite"),
        (("--lon", 107, "--lat", 29, "--k", 0), "k must be from 1 to 100"),
        (("--lon", 107, "--lat", 29, "--k", -2), "k must be from 1 to 100"),
        (("--lon", 107, "--lat", 29, "--max-distance-m", -5), "max_distance_m must be from 0"),
    ]:
        result = run("nearest", *args)
        assert result.exit_code == 1
        assert message in result.output and "Traceback" not in result.output
    bad = run("nearest", "--lon", "abc", "--lat", 29)
    assert bad.exit_code == 2 and "Traceback" not in bad.output


def test_filters_on_cli():
    result = run("nearest", "--lon", 107.1, "--lat", 29.15, "--kind", "warm_station", "--json")
    ids = [f["id"] for f in json.loads(result.output)["features"]]
    assert ids == ["nanchuan-warm-station"]
    result = run("nearest", "--lon", 107.1, "--lat", 29.15, "--amenity", "cold_drinks", "--json")
    assert [f["id"] for f in json.loads(result.output)["features"]] == [
        "nanchuan-cold-drink-fridge"
    ]


def test_validate_bundled_ok():
    result = run("validate")
    assert result.exit_code == 0, result.output
    assert "10 stations OK" in result.output and "loop OK" in result.output


def test_validate_broken_copies(tmp_path):
    data = json.loads(BUNDLED_STATIONS.read_text(encoding="utf-8"))
    data["features"][1]["properties"]["id"] = data["features"][0]["properties"]["id"]
    data["features"][1]["id"] = data["features"][0]["id"]
    data["features"][2]["geometry"]["coordinates"] = [28.91, 107.26]
    data["features"][3]["properties"]["amenities"] = ["jacuzzi"]
    broken = tmp_path / "stations.geojson"
    broken.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    result = run("validate", broken)
    assert result.exit_code == 1
    assert "duplicate id" in result.output
    assert "lat/lon swapped" in result.output
    assert "'jacuzzi' is not allowed" in result.output

    loop = json.loads(BUNDLED_LOOP.read_text(encoding="utf-8"))
    loop["features"][0]["geometry"]["coordinates"].pop()
    broken_loop = tmp_path / "loop.geojson"
    broken_loop.write_text(json.dumps(loop), encoding="utf-8")
    result = run("validate", broken_loop)
    assert result.exit_code == 1 and "not closed" in result.output

    truncated = tmp_path / "t.geojson"
    shutil.copy(BUNDLED_STATIONS, truncated)
    truncated.write_bytes(truncated.read_bytes()[:500])
    result = run("validate", truncated)
    assert result.exit_code == 1 and "not valid JSON" in result.output


def test_info():
    result = run("info", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["by_kind"]["union_station"] == 8
    assert data["loop"]["official_length_m"] == 178000
    marks = [r["loop_km"] for r in data["station_marks"] if r["loop_km"] is not None]
    assert marks == sorted(marks) and marks[0] == 0.0 and max(marks) < 178
    table = run("info")
    assert table.exit_code == 0 and "official 178 km" in table.output


def test_other_data_files_via_options(tmp_path):
    missing = tmp_path / "nope.geojson"
    result = run("nearest", "--lon", 107, "--lat", 29, "--stations", missing)
    assert result.exit_code == 1 and "file not found" in result.output


def test_max_distance_is_a_filter_not_a_search_radius():
    # Same limit as the API: anything up to the Earth's longest geodesic is allowed.
    ok = run("nearest", "--lon", 107.2618, "--lat", 28.912, "--max-distance-m", 500_000, "--json")
    assert ok.exit_code == 0, ok.output
    assert len(json.loads(ok.output)["features"]) == 3
    near = run("nearest", "--lon", 107.2618, "--lat", 28.912, "--max-distance-m", 100, "--json")
    assert [f["id"] for f in json.loads(near.output)["features"]] == [
        "delong-yinxing-union-station"
    ]
    bad = run("nearest", "--lon", 107.2618, "--lat", 28.912, "--max-distance-m", 3e7)
    assert bad.exit_code == 1 and "max_distance_m must be from 0" in bad.output


def test_data_error_survives_pickling():
    import pickle

    from stations.errors import DataError

    err = pickle.loads(pickle.dumps(DataError("f.geojson", ["a", "b"])))
    assert err.path == "f.geojson" and err.problems == ["a", "b"]


def test_serve_refuses_bad_data_in_one_line(tmp_path):
    bad = tmp_path / "bad.geojson"
    bad.write_text('{"type": "FeatureCollection", "features": [1]}', encoding="utf-8")
    for workers in ("1", "2"):
        result = run("serve", "--stations", bad, "--workers", workers, "--port", "1")
        assert result.exit_code == 1, result.output
        assert "not a GeoJSON Feature" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (("validate", "--stationz", "x"), ["--stations", "--loop", "--help"]),
        (("nearest", "--lon", 1, "--lat", 2, "--kk", 3), ["--lon", "--lat", "--k/-k", "--by"]),
        (("frob",), ["nearest", "validate", "info", "map", "serve", "loop"]),
        (("--stations", "x", "info"), ["options go after the command", "nearest"]),
        (("loop", "frob"), ["commands: import"]),
        (("nearest", "--lon", 1), ["Missing option '--lat'", "nearest --help"]),
        (("nearest", "--lon", "abc", "--lat", 2), ["'--lon'", "valid number"]),
    ],
)
def test_usage_errors_are_one_line_naming_what_is_valid(args, names):
    result = run(*args)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    for name in names:
        assert name in lines[0]
    assert "╭" not in result.output and "Usage:" not in result.output


def test_no_arguments_prints_the_help():
    result = run()
    assert result.exit_code == 0 and "Commands" in result.output


def test_every_command_reading_data_takes_stations_and_every_loop_reader_loop():
    from typer.main import get_command

    group = get_command(app)
    # `db` moves data between the files and a database (its commands name both themselves)
    commands = {n: group.commands[n] for n in group.commands if n not in ("loop", "db")}
    commands["loop import"] = group.commands["loop"].commands["import"]
    reads_loop = {"nearest", "info", "map", "coverage", "suggest", "loop import", "serve"}
    for name, command in commands.items():
        options = {opt for p in command.params for opt in p.opts}
        assert "--stations" in options, name
        if name in reads_loop or name == "validate":
            assert "--loop" in options, name


def test_validate_takes_the_data_options(tmp_path):
    copy = tmp_path / "stations.geojson"
    shutil.copy(BUNDLED_STATIONS, copy)
    result = run("validate", "--stations", copy)
    assert result.exit_code == 0, result.output
    assert str(copy) in result.output and "loop OK" in result.output  # with the default loop
    broken = tmp_path / "broken.geojson"
    broken.write_text("{", encoding="utf-8")
    assert run("validate", "--loop", broken).exit_code == 1


def test_export_refuses_a_folder_that_does_not_exist(tmp_path):
    target = tmp_path / "no-such-dir" / "x.csv"
    result = run("export", target)
    assert result.exit_code == 1
    assert "does not exist" in result.output and "Traceback" not in result.output
    assert not target.parent.exists()
    assert run("export", tmp_path / "x.csv").exit_code == 0


def _fits_80_columns(output: str) -> None:
    from rich.cells import cell_len

    wide = [line for line in output.splitlines() if cell_len(line.rstrip()) > 80]
    assert not wide, wide
    assert "…" not in output  # nothing cut


def test_info_table_reads_at_80_columns(monkeypatch, bundled):
    monkeypatch.setenv("COLUMNS", "80")
    result = run("info")
    assert result.exit_code == 0, result.output
    _fits_80_columns(result.output)
    lines = result.output.splitlines()
    for station in bundled.all:  # every id and name whole, on one line
        assert any(station.id in line for line in lines), station.id
        assert any(station.props.name in line for line in lines), station.props.name


def test_nearest_by_loop_table_reads_at_80_columns(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    result = run("nearest", "--lon", 107.2618, "--lat", 28.912, "--by", "loop", "--k", 5)
    assert result.exit_code == 0, result.output
    _fits_80_columns(result.output)
    assert "德隆银杏村工会驿站" in result.output and "counter-" in result.output


def test_nearest_says_when_coordinates_look_swapped_or_far():
    swapped = run("nearest", "--lon", 28.912, "--lat", 107.2618)
    assert swapped.exit_code == 1
    assert "did you swap longitude and latitude? lon=107.2618, lat=28.912" in swapped.output
    far = run("nearest", "--lon", 28.912, "--lat", 50)
    assert far.exit_code == 0
    assert "no station within 200 km: the nearest is 6,773 km away" in far.output
    assert "no station within" not in run("nearest", "--lon", 107.2618, "--lat", 28.912).output


@pytest.mark.parametrize(
    ("args", "option", "valid"),
    [
        (("suggest", "--count", 0), "--count", "equal to 1;"),
        (("suggest", "--count", 2, "--radius-km", -1), "--radius-km", "equal to 0.001;"),
        (("map", "--planning", "--count", 0, "-o", "x.html"), "--count", "equal to 1;"),
        (("coverage", "--radius-km", 0), "--radius-km", "equal to 0.001;"),
        (("compact", "--if-idle", -1), "--if-idle", "equal to 0;"),
        (("suggest", "--count", 1001), "--count", "less than or equal to 1000;"),
    ],
)
def test_counts_and_distances_out_of_range_are_refused_in_one_line(args, option, valid):
    result = run(*args)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and option in lines[0] and valid in lines[0], lines


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"STATIONS_TILES": "nope"}, "STATIONS_TILES: tiles must be one of osm, amap"),
        ({"STATIONS_TILES": "tianditu"}, "STATIONS_TILES: tianditu tiles need a key"),
        ({"STATIONS_TILES_CRS": "bd09"}, "STATIONS_TILES_CRS: tiles_crs must be wgs84 or gcj02"),
        ({"STATIONS_TIMEZONE": "Asia/Shanghia"}, "STATIONS_TIMEZONE: timezone 'Asia/Shanghia'"),
        ({"STATIONS_EMBED_ORIGINS": "news.example.cn"}, "STATIONS_EMBED_ORIGINS: 'news.exa"),
        ({"STATIONS_CORS_ORIGINS": "https://a.cn/app"}, "STATIONS_CORS_ORIGINS: 'https://a.cn/"),
    ],
)
def test_serve_refuses_a_setting_that_pages_or_queries_would_fail_on(env, message):
    """Refused at start in one line, as a bad STATIONS_ADMIN_TOKEN is, not at the first page."""
    result = runner.invoke(app, ["serve", "--port", "1"], env=env)
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {message}"), lines


def test_good_tile_settings_are_accepted():
    template = "https://tiles.example.cn/{z}/{x}/{y}.png"
    assert Settings(_env_file=None, tiles=template, tiles_crs="gcj02").tiles == template  # type: ignore[call-arg]
    assert Settings(_env_file=None, tiles="tianditu", tianditu_key="k").tiles == "tianditu"  # type: ignore[call-arg]
    origins = Settings(_env_file=None, embed_origins="https://a.cn, http://b.cn:8080")  # type: ignore[call-arg]
    assert origins.embed_origins == ["https://a.cn", "http://b.cn:8080"]
