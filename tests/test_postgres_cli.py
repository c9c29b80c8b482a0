"""``stations db``: schema upgrades, and stations moved between the two stores without loss.

Against a PostgreSQL the tests start (`pgcluster`). The round trips go file -> ``db import`` ->
``db export`` and compare bytes: on the bundled data and on 10,000 synthetic stations.
"""

from __future__ import annotations

import random
from pathlib import Path

import orjson
import psycopg
import pytest
from typer.testing import CliRunner

import pgcluster
from conftest import BUNDLED_LOOP, BUNDLED_STATIONS, station
from stations.cli import app
from stations.storage.geojson import GeoJSONStore
from stations.storage.loopfile import encode_loop
from stations.storage.postgres import PostgresStore, schema
from tracks import drive, gpx_bytes

runner = CliRunner()
AMENITIES = ["drinking_water", "toilet", "phone_charging", "seating"]


def run(*args: str, url: str | None = None, loop: Path = BUNDLED_LOOP):
    env = {"STATIONS_DATABASE_URL": url or "", "STATIONS_LOOP_PATH": str(loop)}
    return runner.invoke(app, list(args), env=env)


@pytest.fixture
def empty_url() -> str:
    """A new database with no tables at all."""
    return pgcluster.shared_cluster().new_database()


@pytest.fixture
def url(empty_url: str) -> str:
    """A new database with the current schema and no stations."""
    result = run("db", "upgrade", url=empty_url)
    assert result.exit_code == 0, result.output
    return empty_url


def synthetic(n: int, seed: int = 19) -> dict:
    """A stations FeatureCollection of ``n`` valid stations across Chongqing."""
    rng = random.Random(seed)
    kinds = ["union_station", "warm_station", "cold_drink_fridge"]
    features = [
        station(
            f"syn-{i:05d}",
            round(rng.uniform(105.3, 110.1), 6),
            round(rng.uniform(28.2, 31.9), 6),
            kind=rng.choice(kinds),
            amenities=rng.sample(
                ["drinking_water", "toilet", "phone_charging", "seating"], rng.randint(0, 3)
            ),
            notes=rng.choice(["", "近路口", "24小时 open", "门口有\u201c驿站\u201d标志"]),
        )
        for i in range(n)
    ]
    return {"type": "FeatureCollection", "name": "synthetic", "features": features}


def write_geojson(path: Path, doc: dict) -> bytes:
    """Write ``doc`` as the GeoJSON store writes files; return the bytes."""
    data = orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n"
    path.write_bytes(data)
    return data


def test_upgrade_creates_the_schema_once_and_then_changes_nothing(empty_url):
    first = run("db", "upgrade", url=empty_url)
    assert first.exit_code == 0, first.output
    numbers = [version for version, _, _ in schema.MIGRATIONS]
    assert f"applied migrations {', '.join(map(str, numbers))}" in first.output
    again = run("db", "upgrade", url=empty_url)
    assert again.exit_code == 0 and f"up to date (version {schema.CURRENT})" in again.output
    with psycopg.connect(empty_url) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM stations_schema ORDER BY 1")]
        index = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'stations_geom'"
        ).fetchone()
    assert versions == numbers
    assert index is not None and "gist (geom)" in index[0]


def test_a_database_without_the_schema_is_refused_naming_the_command(empty_url, tmp_path):
    result = run("db", "export", str(tmp_path / "out.geojson"), url=empty_url)
    assert result.exit_code == 1
    assert "run `stations db upgrade`" in result.output


def test_the_bundled_data_round_trips_byte_for_byte(url, tmp_path):
    result = run("db", "import", str(BUNDLED_STATIONS), url=url)
    assert result.exit_code == 0, result.output
    assert "10 created" in result.output
    out = tmp_path / "back.geojson"
    result = run("db", "export", str(out), url=url)
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == BUNDLED_STATIONS.read_bytes()
    again = run("db", "import", str(out), url=url)  # importing it again changes nothing
    assert again.exit_code == 0 and "0 created, 0 changed, 10 unchanged" in again.output


def test_a_file_the_service_wrote_keeps_its_surveyors_through_the_database(url, tmp_path):
    """A surveyed station keeps the clerk who surveyed it, not the importer; and the database
    gives back what `stations export` gives of the file (its fold mark is the file's own)."""
    data = tmp_path / "stations.geojson"
    data.write_bytes(BUNDLED_STATIONS.read_bytes())
    store = GeoJSONStore(data, loop_path=BUNDLED_LOOP)
    sid = "delong-yinxing-union-station"
    survey = {"accuracy_m": 4.0, "surveyed_at": "2026-11-30T08:00:00Z"}
    store.patch(sid, {"properties": survey}, "field-clerk")
    assert store.compact() == 1  # the file now carries the service's fold mark
    exported = tmp_path / "exported.geojson"
    env = {"STATIONS_STATIONS_PATH": str(data), "STATIONS_LOOP_PATH": str(BUNDLED_LOOP)}
    result = runner.invoke(app, ["export", str(exported)], env={**env, "STATIONS_DATABASE_URL": ""})
    assert result.exit_code == 0, result.output
    result = run("db", "import", str(data), url=url)
    assert result.exit_code == 0, result.output
    out = tmp_path / "back.geojson"
    assert run("db", "export", str(out), url=url).exit_code == 0
    back = {f["id"]: f for f in orjson.loads(out.read_bytes())["features"]}
    assert back[sid]["properties"]["surveyed_by"] == "field-clerk"
    assert out.read_bytes() == exported.read_bytes()


@pytest.mark.slow
def test_ten_thousand_synthetic_stations_round_trip_byte_for_byte(url, tmp_path):
    source = tmp_path / "synthetic.geojson"
    data = write_geojson(source, synthetic(10_000))
    result = run("db", "import", str(source), url=url)
    assert result.exit_code == 0, result.output
    assert "10000 created" in result.output
    out = tmp_path / "back.geojson"
    assert run("db", "export", str(out), url=url).exit_code == 0
    assert out.read_bytes() == data
    # The generic commands read the same store: `stations export` gives the same file too.
    generic = tmp_path / "generic.geojson"
    result = run("export", str(generic), url=url)
    assert result.exit_code == 0, result.output
    assert generic.read_bytes() == data


def test_the_spreadsheet_import_writes_to_the_database(url, tmp_path):
    assert run("db", "import", str(BUNDLED_STATIONS), url=url).exit_code == 0
    sheet = tmp_path / "office.csv"
    assert run("export", str(sheet), url=url).exit_code == 0
    text = sheet.read_text("utf-8-sig").replace("德隆银杏村工会驿站", "德隆银杏村工会驿站（新）")
    sheet.write_text(text, "utf-8-sig")
    result = run("import", str(sheet), "--update", url=url)
    assert result.exit_code == 0, result.output
    assert "1 changed" in result.output
    back = tmp_path / "back.geojson"
    assert run("db", "export", str(back), url=url).exit_code == 0
    names = [f["properties"]["name"] for f in orjson.loads(back.read_bytes())["features"]]
    assert "德隆银杏村工会驿站（新）" in names


def test_no_database_is_one_line_naming_the_setting(tmp_path):
    result = run("db", "export", str(tmp_path / "out.geojson"))
    assert result.exit_code == 1
    assert "STATIONS_DATABASE_URL" in result.output and "Traceback" not in result.output


def test_an_unreachable_database_is_one_line_without_the_password(tmp_path):
    port = pgcluster._free_port()  # nobody listens there
    url = f"postgresql://clerk:s3cret-pw@127.0.0.1:{port}/stations"
    result = run("db", "upgrade", url=url)
    assert result.exit_code == 1
    assert "s3cret-pw" not in result.output
    assert f"postgresql://clerk:***@127.0.0.1:{port}/stations" in result.output
    assert "cannot be reached" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_the_loop_moves_with_db_import_and_export(url, tmp_path):
    result = run("db", "import", str(BUNDLED_STATIONS), url=url)
    assert result.exit_code == 0, result.output
    assert f"stored the loop of {BUNDLED_LOOP}" in result.output  # it held none
    store = PostgresStore(url)
    first = store.loop()
    assert first is not None and first["properties"]["accuracy"] == "schematic"
    out = tmp_path / "loop.geojson"
    result = run("db", "export", str(tmp_path / "s.geojson"), "--loop", str(out), url=url)
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == encode_loop(first)
    # Importing the stations again leaves the stored loop alone, even if the file differs.
    other = tmp_path / "other.geojson"
    doc = orjson.loads(out.read_bytes())
    doc["features"][0]["geometry"]["coordinates"].reverse()
    other.write_bytes(orjson.dumps(doc))
    again = run("db", "import", str(BUNDLED_STATIONS), url=url, loop=other)
    assert again.exit_code == 0 and "stored the loop" not in again.output
    assert store.loop() == first
    # ...unless --loop names one; a file that is no loop is refused, storing nothing.
    chosen = run("db", "import", str(BUNDLED_STATIONS), "--loop", str(other), url=url)
    assert chosen.exit_code == 0, chosen.output
    assert store.loop() == doc["features"][0]
    bad = run("db", "import", str(BUNDLED_STATIONS), "--loop", str(BUNDLED_STATIONS), url=url)
    assert bad.exit_code == 1 and "Traceback" not in bad.output
    assert store.loop() == doc["features"][0]


def test_loop_import_writes_the_database_and_leaves_the_file(url, tmp_path, bundled):
    assert run("db", "import", str(BUNDLED_STATIONS), url=url).exit_code == 0
    track = tmp_path / "drive.gpx"
    track.write_bytes(gpx_bytes(drive(bundled.loop)))
    loop = tmp_path / "loop.geojson"
    loop.write_bytes(BUNDLED_LOOP.read_bytes())
    result = run("loop", "import", str(track), "--actor", "surveyor", url=url, loop=loop)
    assert result.exit_code == 0, result.output
    assert "stored the loop in" in result.output
    assert loop.read_bytes() == BUNDLED_LOOP.read_bytes()  # the file is not the store here
    stored = PostgresStore(url).loop()
    assert stored is not None and stored["properties"]["accuracy"] == "gps_track"
    assert stored["properties"]["official_length_m"] == 178_000  # the old loop's, kept
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT actor FROM audit WHERE action = 'replace_loop' "
                           "ORDER BY id DESC LIMIT 1").fetchone()  # fmt: skip
    assert row == ("surveyor",)
