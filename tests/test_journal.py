"""The write journal: torn lines, idempotent replay, and workers that follow it cheaply."""

import gc
import json
import os
import shutil
import time

import pytest
from fastapi.testclient import TestClient

from conftest import BUNDLED_LOOP, BUNDLED_STATIONS, station, stored_doc
from stations.api import create_app
from stations.errors import DataError
from stations.settings import Settings
from stations.storage import journal
from stations.storage.geojson import GeoJSONStore
from stations.storage.loading import load_stations
from stations.storage.snapshot import read_document


@pytest.fixture
def data(tmp_path):
    path = tmp_path / "stations.geojson"
    shutil.copy(BUNDLED_STATIONS, path)
    return path


def ids(path):
    return [s.id for s in load_stations(path).stations]


def test_a_torn_last_line_is_ignored_then_cut_off(data):
    store = GeoJSONStore(data)
    store.create(station("a", 107.2, 28.9), "t")
    jpath = journal.journal_path(data)
    whole = jpath.read_bytes()
    jpath.write_bytes(whole + b'{"op": "put", "feature": {"type": "Feat')  # a crash mid-append
    assert ids(data)[-1] == "a"  # the unacknowledged half line is not data
    GeoJSONStore(data).create(station("b", 107.21, 28.9), "t")  # a new process writes on
    assert ids(data)[-2:] == ["a", "b"]
    assert jpath.read_bytes().startswith(whole) and jpath.read_bytes().endswith(b"\n")
    assert b"Feat\n" not in jpath.read_bytes() and jpath.read_bytes().count(b"\n") == 2


def test_replaying_a_journal_the_snapshot_already_holds_changes_nothing(data):
    """A crash between writing the new snapshot and removing the journal is harmless."""
    store = GeoJSONStore(data)
    store.create(station("a", 107.2, 28.9), "t")
    store.patch("a", {"properties": {"phone": "023-1"}}, "t")
    store.delete("delong-yinxing-union-station", "t", purge=True)
    store.create(station("delong-yinxing-union-station", 107.26, 28.91), "t")  # back, at the end
    jpath = journal.journal_path(data)
    leftover = jpath.read_bytes()
    expected = stored_doc(data)["features"]
    assert store.compact() == 4
    assert not jpath.exists()
    jpath.write_bytes(leftover)  # as if the crash came just before the journal's removal
    doc, _ = read_document(data)
    assert doc["features"] == expected
    assert [f["id"] for f in expected][-2:] == ["a", "delong-yinxing-union-station"]


def test_a_broken_line_inside_the_journal_is_refused_with_its_number(data):
    GeoJSONStore(data).create(station("a", 107.2, 28.9), "t")
    jpath = journal.journal_path(data)
    jpath.write_bytes(b"not json\n" + jpath.read_bytes())
    with pytest.raises(DataError) as info:
        load_stations(data)
    assert "journal line 1" in str(info.value)


def test_workers_follow_the_journal_without_rebuilding(data):
    settings = Settings(_env_file=None, stations_path=data, loop_path=BUNDLED_LOOP)
    with TestClient(create_app(settings)) as api:
        holder = api.app.services.holder
        tree = holder.catalog.index._balls
        version = holder.version
        # Another process writes (the store is not this app's): the next request serves it.
        GeoJSONStore(data).create(station("elsewhere", 107.31, 28.95), "other")
        near = api.get("/api/nearest", params={"lon": 107.31, "lat": 28.95, "k": 1}).json()
        assert near["features"][0]["id"] == "elsewhere"
        assert holder.catalog.index._balls is tree  # followed, not rebuilt
        assert holder.version != version  # ETags change with the data
        GeoJSONStore(data).patch("elsewhere", {"properties": {"status": "closed"}}, "other")
        near = api.get("/api/nearest", params={"lon": 107.31, "lat": 28.95, "k": 1}).json()
        assert near["features"][0]["id"] != "elsewhere"
        # A compaction from exactly what this worker holds is adopted without a reload.
        before = holder.catalog
        assert GeoJSONStore(data).compact() == 2
        assert api.get("/healthz").json()["stations"] == 11
        assert holder.catalog is before and holder._task is None
        # A file replaced by hand is reloaded (noticed within holder.FULL_CHECK_S).
        shutil.copy(BUNDLED_STATIONS, data)
        deadline = time.monotonic() + 5
        while api.get("/healthz").json()["stations"] != 10 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert api.get("/api/stations/elsewhere").status_code == 404


def test_a_worker_behind_catches_up_from_the_retired_journal(data):
    settings = Settings(_env_file=None, stations_path=data, loop_path=BUNDLED_LOOP)
    with TestClient(create_app(settings)) as api:
        holder = api.app.services.holder
        tree = holder.catalog.index._balls
        GeoJSONStore(data).create(station("seen", 107.31, 28.95), "other")
        assert api.get("/api/stations/seen").status_code == 200
        # Two more writes this worker has not read yet, then another process folds them in.
        GeoJSONStore(data).create(station("unseen-1", 107.32, 28.95), "other")
        GeoJSONStore(data).create(station("unseen-2", 107.33, 28.95), "other")
        assert GeoJSONStore(data).compact() == 3
        assert journal.previous_path(journal.journal_path(data)).exists()
        assert api.get("/api/stations/unseen-2").status_code == 200
        assert holder._task is None and holder.catalog.index._balls is tree  # no reload
        assert api.get("/healthz").json()["stations"] == 13


def test_the_api_folds_the_journal_once_writes_pause(data):
    settings = Settings(
        _env_file=None,
        stations_path=data,
        loop_path=BUNDLED_LOOP,
        admin_token="tok",
        compact_idle_s=0.3,
    )
    auth = {"Authorization": "Bearer tok"}
    jpath = journal.journal_path(data)
    with TestClient(create_app(settings)) as api:
        for i in range(3):
            r = api.post(
                "/api/stations", json=station(f"p{i}", 107.2 + i * 1e-3, 28.9), headers=auth
            )
            assert r.status_code == 201
        assert jpath.exists()
        deadline = time.monotonic() + 30
        while jpath.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
            api.get("/healthz")  # the event loop runs the timer and the child process
        assert not jpath.exists(), "the journal was not folded in"
        folded = json.loads(data.read_text("utf-8"))
        assert [f["id"] for f in folded["features"]][-3:] == ["p0", "p1", "p2"]
        assert folded["stations:compacted"]["offset"] > 0
        assert api.get("/api/stations/p2").status_code == 200
        assert api.app.services.holder._task is None  # adopted, not reloaded


def test_compact_command(data):
    from typer.testing import CliRunner

    from stations.cli import app

    runner = CliRunner()
    GeoJSONStore(data).create(station("c1", 107.2, 28.9), "t")
    busy = runner.invoke(app, ["compact", "--stations", str(data), "--if-idle", "60"])
    assert busy.exit_code == 0 and journal.journal_path(data).exists()  # written just now
    assert "written to in the last 60 s; not folded yet" in busy.output
    done = runner.invoke(app, ["compact", "--stations", str(data)])
    assert done.exit_code == 0 and "folded 1 journal lines" in done.output
    assert not journal.journal_path(data).exists() and ids(data)[-1] == "c1"
    again = runner.invoke(app, ["compact", "--stations", str(data)])
    assert again.exit_code == 0 and "no journal to fold" in again.output
    idle = runner.invoke(app, ["compact", "--stations", str(data), "--if-idle", "60"])
    assert idle.exit_code == 0 and idle.output == again.output  # the same words


def test_a_reloaded_catalog_is_kept_out_of_the_collectors_scans(data):
    """As the first one: a full collection over a national catalog holds the GIL for long."""
    settings = Settings(_env_file=None, stations_path=data, loop_path=BUNDLED_LOOP)
    with TestClient(create_app(settings)) as api:
        holder = api.app.services.holder
        first = holder.catalog
        doc = json.loads(data.read_text("utf-8"))
        doc["features"] = doc["features"][:5]
        replacement = data.with_name("replacement.geojson")
        replacement.write_text(json.dumps(doc, ensure_ascii=False), "utf-8")
        os.replace(replacement, data)  # the file replaced by hand: the worker reloads it
        deadline = time.monotonic() + 30
        while holder.catalog is first and time.monotonic() < deadline:
            api.get("/healthz")
            time.sleep(0.1)
        assert holder.catalog is not first, "the replaced file was not reloaded"
        assert api.get("/healthz").json()["stations"] == 5
        assert not any(o is holder.catalog for o in gc.get_objects())
