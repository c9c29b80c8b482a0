"""The column file (`storage.columns`): used only when it holds the files as they are now.

A catalog started from it answers byte for byte as one read from the GeoJSON; a stale, corrupt,
truncated, foreign or older-format column file is ignored with a log line and written again.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from fastapi.testclient import TestClient

from answers.record import frozen_clock
from conftest import BUNDLED_LOOP, BUNDLED_STATIONS, collection, station
from stations import query
from stations.api import create_app
from stations.catalog import Catalog
from stations.models import Station
from stations.rows import Records
from stations.settings import Settings
from stations.storage import columns as column_file
from stations.storage.loading import load_stations, parse_feature
from stations.storage.store import open_store
from test_catalog_changes import answers

KINDS = ["union_station", "warm_station", "cold_drink_fridge", "worker_service_point"]
AMENITIES = ["drinking_water", "toilet", "phone_charging", "ebike_charging", "wifi"]
HOURS = [None, "24/7", "Mo-Fr 08:00-18:00", "Mo-Su 09:00-12:00,14:00-20:00"]


def features(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """Bundled stations plus ``n`` varied ones (unlocated, closed, hours, padded names...)."""
    rng = np.random.default_rng(seed)
    out = orjson.loads(BUNDLED_STATIONS.read_bytes())["features"]
    for i in range(n):
        located = rng.random() > 0.1
        lon, lat = (
            (rng.uniform(106.9, 107.5), rng.uniform(28.75, 29.3)) if located else (None, None)
        )
        props: dict[str, Any] = {
            "kind": str(rng.choice(KINDS)),
            "status": str(rng.choice(["open", "closed", "planned"], p=[0.7, 0.2, 0.1])),
            "amenities": sorted({str(a) for a in rng.choice(AMENITIES, int(rng.integers(0, 4)))}),
            "position_accuracy": "approximate" if located else "unknown",
            "opening_hours": HOURS[i % len(HOURS)],
            "name": f"  驿站 {i}  ",  # stored stripped, as validation leaves it
        }
        if i % 3 == 0:
            del props["status"], props["amenities"]  # defaults, left unset
        if i % 4 == 0:
            props["awards"] = ["最美驿站"]
        out.append(station(f"c{i}", lon, lat, **props))
    return out


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "stations.geojson"
    path.write_bytes(orjson.dumps(collection(*features(300))))
    return path


def settings_for(path: Path, **more: Any) -> Settings:
    more = {"columns_min_stations": 1, **more}
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        stations_path=path,
        loop_path=BUNDLED_LOOP,
        **more,
    )


def from_geojson(path: Path) -> Catalog:
    """The reference: the GeoJSON read and validated, no column file involved."""
    parsed = load_stations(path)
    settings = settings_for(path)
    loop = Catalog.from_settings(settings).loop  # (the loop alone)
    return Catalog(parsed.stations, loop, warnings=parsed.warnings)


def started_from_columns(catalog: Catalog) -> bool:
    return isinstance(catalog._rows.at, Records)


def test_a_load_writes_the_column_file_and_the_next_start_maps_it(data):
    settings = settings_for(data)
    first = Catalog.from_settings(settings)
    assert not started_from_columns(first)
    assert column_file.columns_path(data).exists()
    second = Catalog.from_settings(settings)
    assert started_from_columns(second)
    assert second.position == first.position
    reference = from_geojson(data)
    assert answers(second, 3) == answers(reference, 3)
    assert second.warnings == reference.warnings


def test_stations_made_from_columns_equal_the_validated_ones(data):
    Catalog.from_settings(settings_for(data))
    columns = column_file.load(data, 10)
    assert columns is not None
    parsed = load_stations(data).stations
    for rank, want in enumerate(parsed):
        got = columns.station(rank)
        assert got == want
        assert got.props.model_fields_set == want.props.model_fields_set
        assert got.props.model_dump(mode="json") == want.props.model_dump(mode="json")
    assert len(columns._cache) == 10  # bounded: the least recently used went


def test_small_files_get_no_column_file(data):
    Catalog.from_settings(settings_for(data, columns_min_stations=10_000))
    assert not column_file.columns_path(data).exists()


def _requests() -> list[str]:
    rng = np.random.default_rng(5)
    out = ["/api/stations?limit=1000", "/api/stations/c7?crs=gcj02", "/api/stations/c8"]
    out += ["/ogc/collections/stations/items?bbox=107,28.9,107.3,29&limit=50"]
    out += ["/ogc/collections/stations/items/c12", "/api/stations?bbox=107,28.9,107.3,29"]
    for _ in range(30):
        lon, lat = rng.uniform(106.9, 107.5), rng.uniform(28.75, 29.3)
        out.append(f"/api/nearest?lon={lon:.5f}&lat={lat:.5f}&k=7")
        out.append(f"/api/nearest?lon={lon:.5f}&lat={lat:.5f}&k=3&by=loop&crs=bd09")
        out.append(f"/api/nearest?lon={lon:.5f}&lat={lat:.5f}&amenity=toilet&status=closed")
        out.append(f"/api/within?lon={lon:.5f}&lat={lat:.5f}&radius_m=8000")
    return out


def _answers(settings: Settings) -> tuple[bool, list[bytes]]:
    out = []
    with TestClient(create_app(settings)) as client:
        catalog = client.app.services.holder.catalog  # type: ignore[attr-defined]
        for url in _requests():
            res = client.get(url)
            assert res.status_code == 200, (url, res.text)
            out.append(res.content)
    return started_from_columns(catalog), out


def test_api_answers_are_byte_identical_with_and_without_the_column_file(data):
    settings = settings_for(data, columns_min_stations=10_000_000)
    with frozen_clock():  # open_now and the OGC timeStamp
        plain, want = _answers(settings)
        assert not plain and not column_file.columns_path(data).exists()
        Catalog.from_settings(settings_for(data))  # writes the column file
        mapped, got = _answers(settings)
    assert mapped
    assert got == want


def _ignored_and_rebuilt(data: Path, caplog: pytest.LogCaptureFixture, reason: str) -> None:
    settings = settings_for(data)
    with caplog.at_level(logging.WARNING, logger="stations.columns"):
        catalog = Catalog.from_settings(settings)
    assert not started_from_columns(catalog)
    assert any(reason in r.getMessage() for r in caplog.records), caplog.text
    assert answers(catalog, 1) == answers(from_geojson(data), 1)
    again = Catalog.from_settings(settings)  # rebuilt by that load
    assert started_from_columns(again)
    assert answers(again, 1) == answers(catalog, 1)


def _payload_start(path: Path) -> int:
    blob = path.read_bytes()
    size = int.from_bytes(blob[len(column_file.MAGIC) : len(column_file.MAGIC) + 8], "little")
    return len(column_file.MAGIC) + 8 + size


def test_a_stale_column_file_is_ignored_and_rebuilt(data, caplog):
    Catalog.from_settings(settings_for(data))
    doc = orjson.loads(data.read_bytes())
    doc["features"][-1]["properties"]["name"] = "改了名字"  # edited by hand: same size or not
    data.write_bytes(orjson.dumps(doc))
    _ignored_and_rebuilt(data, caplog, "written at")
    assert Catalog.from_settings(settings_for(data)).by_id["c299"].props.name == "改了名字"


def test_a_journal_line_makes_the_column_file_stale(data, caplog):
    Catalog.from_settings(settings_for(data))
    settings = settings_for(data)
    assert open_store(settings).delete("c1", "test") is not None  # a journal line
    with caplog.at_level(logging.WARNING, logger="stations.columns"):
        catalog = Catalog.from_settings(settings)
    assert not started_from_columns(catalog)
    assert "written at" in caplog.text


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        ("flip", "corrupt"),
        ("truncate", "truncated"),
        ("empty", "not a column file"),
        ("garbage", "not a column file"),
        ("header", "unreadable header"),
        ("format", "format 0"),
    ],
)
def test_a_damaged_or_older_column_file_is_ignored_and_rebuilt(data, caplog, damage, reason):
    Catalog.from_settings(settings_for(data))
    target = column_file.columns_path(data)
    blob = bytearray(target.read_bytes())
    start = _payload_start(target)
    if damage == "flip":
        blob[start + (len(blob) - start) // 2] ^= 0x40
    elif damage == "truncate":
        del blob[start + 1000 :]
    elif damage == "empty":
        blob = bytearray()
    elif damage == "garbage":
        blob = bytearray(b"x" * 5000)
    elif damage == "header":
        blob[len(column_file.MAGIC) + 8 : len(column_file.MAGIC) + 12] = b"!!!!"
    else:
        blob = bytearray(bytes(blob).replace(b'"format":%d' % column_file.FORMAT, b'"format":0', 1))
    target.write_bytes(bytes(blob))
    _ignored_and_rebuilt(data, caplog, reason)


def test_a_column_file_of_other_data_is_ignored(data, tmp_path, caplog):
    other = tmp_path / "other" / "stations.geojson"
    other.parent.mkdir()
    other.write_bytes(orjson.dumps(collection(*features(40, seed=9))))
    Catalog.from_settings(settings_for(other))
    Catalog.from_settings(settings_for(data))
    shutil.copy(column_file.columns_path(other), column_file.columns_path(data))
    _ignored_and_rebuilt(data, caplog, "written at")


def test_writes_followed_on_a_mapped_catalog_answer_as_a_fresh_one(data):
    settings = settings_for(data)
    Catalog.from_settings(settings)
    catalog = Catalog.from_settings(settings)
    assert started_from_columns(catalog)
    stations = list(from_geojson(data).all)
    rng = np.random.default_rng(2)
    for step in range(4):
        changes: dict[str, Station | None] = {}
        for sid in rng.choice([s.id for s in stations], 6, replace=False).tolist():
            if rng.random() < 0.3:
                changes[sid] = None
                continue
            lon, lat = rng.uniform(106.9, 107.5), rng.uniform(28.75, 29.3)
            moved, problems, _ = parse_feature(station(sid, lon, lat, status="closed"), sid)
            assert moved is not None, problems
            changes[sid] = moved
        new, _, _ = parse_feature(station(f"new{step}", 107.1, 29.0), "new")
        changes[f"new{step}"] = new
        catalog = catalog.with_changes(changes)
        known = {s.id for s in stations}
        stations = [changes.get(s.id, s) for s in stations if changes.get(s.id, s) is not None]
        stations += [s for k, s in changes.items() if k not in known and s is not None]
        assert answers(catalog, step) == answers(Catalog(stations, catalog.loop), step)


def test_answers_need_few_records(data):
    """A query makes only the records it answers with (the rest stay columns)."""
    settings = settings_for(data, station_cache_entries=50)
    Catalog.from_settings(settings)
    catalog = Catalog.from_settings(settings)
    columns = catalog._rows.at._columns  # type: ignore[union-attr]
    made = len(columns._cache)
    query.nearest(catalog, 107.2, 29.0, k=5)
    assert len(columns._cache) <= made + 5
    for lon in np.linspace(106.9, 107.5, 40):
        query.nearest(catalog, float(lon), 29.0, k=5)
    assert len(columns._cache) == 50


def test_the_query_path_keeps_a_bounded_set_of_records_by_position(data):
    """`Records.at`: a station asked again is the same object (its encodings stay cached),
    at most ``station_cache_entries`` are kept, and derived catalogs share them."""
    settings = settings_for(data, station_cache_entries=50)
    Catalog.from_settings(settings)
    catalog = Catalog.from_settings(settings)
    records = catalog._rows.at
    assert isinstance(records, Records)
    first = catalog.station_at(3)
    assert catalog.station_at(3) is first and records[3] is first
    for lon in np.linspace(106.9, 107.5, 40):
        query.nearest(catalog, float(lon), 29.0, k=5)
    assert len(records._made) == 50
    derived = catalog.with_changes({first.id: None})
    assert derived._rows.at._made is records._made  # type: ignore[union-attr]
    ids = [catalog.station_at(i).id for i in range(len(records))]
    assert ids == [s.id for s in from_geojson(data).located]


def test_a_page_of_a_listing_makes_only_its_page(data):
    settings = settings_for(data, station_cache_entries=10_000)
    Catalog.from_settings(settings)
    catalog = Catalog.from_settings(settings)
    columns = catalog._rows.at._columns  # type: ignore[union-attr]
    made = len(columns._cache)
    page = query.list_stations(catalog, query.Filters(statuses=()), offset=20, limit=10)
    assert page["numberReturned"] == 10 and page["numberMatched"] == catalog.count
    assert len(columns._cache) <= made + 10
    assert [s.id for s in catalog.all[20:30]] == [f["id"] for f in page["features"]]


def test_ids_are_found_by_bisection_and_others_are_not(data):
    Catalog.from_settings(settings_for(data))
    columns = column_file.load(data, 10)
    assert columns is not None
    ids = columns.ids()
    assert ids == [s.id for s in load_stations(data).stations]
    assert [columns.rank_of(sid) for sid in ids] == list(range(len(ids)))
    longest = max(ids, key=len)
    for other in ["", "c", "c3000", longest + "x", "驿站", "C1", "c1\0", None, 7, ids[0][:-1]]:
        if other not in ids:
            assert columns.rank_of(other) is None, other


def test_a_worker_started_from_columns_follows_writes_and_replacements(data):
    """Writes reach a worker that started from the column file; a replaced file is reloaded
    (its column file is then stale: the GeoJSON is read and a new column file written)."""
    settings = settings_for(data)
    Catalog.from_settings(settings)
    with TestClient(create_app(settings)) as api:
        holder = api.app.services.holder  # type: ignore[attr-defined]
        assert started_from_columns(holder.catalog)
        store = open_store(settings)
        store.create(station("elsewhere", 107.31, 28.95), "other")
        near = api.get("/api/nearest", params={"lon": 107.31, "lat": 28.95, "k": 1}).json()
        assert near["features"][0]["id"] == "elsewhere"
        assert api.get("/api/stations/c5").status_code == 200
        store.delete("c5", "other", purge=True)
        assert api.get("/api/stations/c5").status_code == 404
        replaced = collection(*features(20, seed=4))
        data.write_bytes(orjson.dumps(replaced))
        count = len(replaced["features"])
        deadline = time.monotonic() + 10
        while api.get("/healthz").json()["stations"] != count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert api.get("/healthz").json()["stations"] == count
        assert not started_from_columns(holder.catalog)
    assert started_from_columns(Catalog.from_settings(settings))  # written by the reload
