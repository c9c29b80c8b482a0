"""The column file written by compaction (`storage.folding`), not only by the next full read.

After a fold (`stations compact`, the store's own fold, an import) the next start maps the
column file, and that file is byte for byte the one a full read of the new GeoJSON writes:
carried forward from the previous column file with the journal applied, or made from the
stations the folding process holds when there is none.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from typer.testing import CliRunner

from answers.record import frozen_clock
from conftest import station
from stations.catalog import Catalog
from stations.cli import app as cli_app
from stations.errors import Conflict, StationNotFound
from stations.storage import columns as column_file
from stations.storage import folding
from stations.storage.geojson import GeoJSONStore
from stations.storage.loading import FeatureCache, load_stations
from stations.storage.store import open_store
from test_catalog_changes import answers
from test_columns import _answers, data, features, settings_for, started_from_columns

__all__ = ["data"]  # the fixture, used by name


def fresh_encoding(path: Path) -> bytes:
    """The column file a full read of the files as they are now writes."""
    parsed = load_stations(path)
    position = column_file.current_position(path)
    return column_file.encode(parsed.stations, position, parsed.warnings)


def with_foreign_station(path: Path) -> None:
    """A station outside China (loading warns; a write would refuse it), early in the file."""
    doc = orjson.loads(path.read_bytes())
    doc["features"].insert(3, station("abroad", 13.4, 52.5))
    path.write_bytes(orjson.dumps(doc))


def writes(path: Path) -> None:
    """Every kind of journal line: creates, replaces, patches, closes, purges, ids re-used."""
    store = open_store(settings_for(path))
    store.create(station("n1", 107.2, 29.1), "t")
    store.create(station("n2", None, None, position_accuracy="unknown"), "t")
    store.replace("c3", station("c3", 107.25, 29.05, name="改过"), "t")
    store.patch("c7", {"properties": {"phone": "023-12345678"}}, "t")
    store.delete("c8", "t")  # closed: kept in place
    store.delete("c9", "t", purge=True)
    store.delete("c10", "t", purge=True)
    store.create(station("c10", 107.0, 29.2), "t")  # re-created: goes to the end
    store.delete("n1", "t", purge=True)
    store.create(station("n1", 107.3, 28.9), "t")  # created, purged, created again
    store.replace("c0", station("c0", 107.1, 28.8, status="planned"), "t")
    store.delete(orjson.loads(path.read_bytes())["features"][0]["id"], "t", purge=True)


def test_a_fold_carries_the_column_file_forward_byte_for_byte(data, monkeypatch):
    monkeypatch.setattr(folding, "parse_stations", _refuse)  # not validated again from memory
    with_foreign_station(data)
    settings = settings_for(data)
    Catalog.from_settings(settings)  # a full read writes the column file
    writes(data)
    assert open_store(settings).compact() > 0
    assert column_file.columns_path(data).read_bytes() == fresh_encoding(data)
    started = Catalog.from_settings(settings)
    assert started_from_columns(started)  # no full read
    assert any("abroad" in w for w in started.warnings)
    writes_again = open_store(settings)
    writes_again.create(station("later", 107.01, 29.01), "t")
    assert writes_again.compact() == 1  # and again, from the carried file
    assert column_file.columns_path(data).read_bytes() == fresh_encoding(data)


def test_a_start_after_stations_compact_answers_as_a_full_read(data):
    settings = settings_for(data)
    with frozen_clock():  # open_now and the OGC timeStamp
        Catalog.from_settings(settings)
        writes(data)
        result = CliRunner().invoke(
            cli_app,
            ["compact", "--stations", str(data)],
            env={"STATIONS_COLUMNS_MIN_STATIONS": "1"},
        )
        assert result.exit_code == 0, result.output
        mapped, got = _answers(settings)
        assert mapped
        column_file.columns_path(data).unlink()
        plain, want = _answers(settings_for(data, columns_min_stations=10_000_000))
        assert not plain
    assert got == want


def test_without_a_column_file_the_fold_writes_one_from_memory(data):
    settings = settings_for(data)
    writes(data)
    assert not column_file.columns_path(data).exists()
    assert open_store(settings).compact() > 0
    assert column_file.columns_path(data).read_bytes() == fresh_encoding(data)
    assert started_from_columns(Catalog.from_settings(settings))


def test_an_import_into_a_new_file_writes_the_column_file(tmp_path):
    path = tmp_path / "stations.geojson"
    path.write_bytes(orjson.dumps({"type": "FeatureCollection", "features": []}))
    store = open_store(settings_for(path))
    plan = store.import_features(features(150, seed=3), "t")
    assert plan.created
    assert column_file.columns_path(path).read_bytes() == fresh_encoding(path)
    catalog = Catalog.from_settings(settings_for(path))
    assert started_from_columns(catalog)
    assert answers(catalog, 2) == answers(Catalog(load_stations(path).stations, catalog.loop), 2)


def test_an_api_workers_fold_carries_but_never_validates_everything(data):
    settings = settings_for(data)
    worker = GeoJSONStore.for_settings(settings, cache=FeatureCache())
    worker.create(station("n1", 107.2, 29.1), "t")
    assert worker.compact() == 1
    assert not column_file.columns_path(data).exists()  # none to carry: left to the next start
    Catalog.from_settings(settings)
    worker.create(station("n2", 107.2, 29.2), "t")
    assert worker.compact() == 1
    assert column_file.columns_path(data).read_bytes() == fresh_encoding(data)


def test_small_files_get_no_column_file_from_a_fold(data):
    settings = settings_for(data, columns_min_stations=10_000)
    open_store(settings).create(station("n1", 107.2, 29.1), "t")
    assert open_store(settings).compact() == 1
    assert not column_file.columns_path(data).exists()


def test_removing_an_empty_journal_keeps_the_column_file_current(data):
    settings = settings_for(data)
    data.with_name(data.name + ".journal").write_bytes(b"")  # as a loop replacement leaves it
    Catalog.from_settings(settings)  # the column file, keyed with that journal
    before = column_file.columns_path(data).read_bytes()
    assert open_store(settings).compact() == 0
    assert not data.with_name(data.name + ".journal").exists()
    assert column_file.columns_path(data).read_bytes() != before  # keyed without the journal
    assert column_file.columns_path(data).read_bytes() == fresh_encoding(data)
    assert started_from_columns(Catalog.from_settings(settings))


def _refuse(*_: Any, **__: Any) -> bytes:
    raise OSError("disk full (test)")


def test_a_column_file_that_cannot_be_written_is_logged_and_the_fold_stands(
    data, caplog, monkeypatch
):
    settings = settings_for(data)
    Catalog.from_settings(settings)
    writes(data)
    monkeypatch.setattr(folding.columns, "pack", _refuse)
    monkeypatch.setattr(folding.columns, "encode", _refuse)
    with caplog.at_level(logging.WARNING):
        assert open_store(settings).compact() > 0
    assert "disk full (test)" in caplog.text
    assert not data.with_name(data.name + ".journal").exists()  # folded all the same
    monkeypatch.undo()
    catalog = Catalog.from_settings(settings)  # stale column file: a full read, then a new one
    assert not started_from_columns(catalog)
    assert started_from_columns(Catalog.from_settings(settings))


@pytest.mark.parametrize("tamper", ["foreign", "corrupt"])
def test_a_column_file_of_other_data_is_not_carried(data, tmp_path, tamper):
    settings = settings_for(data)
    if tamper == "foreign":
        other = tmp_path / "other" / "stations.geojson"
        other.parent.mkdir()
        other.write_bytes(orjson.dumps({"type": "FeatureCollection", "features": features(30)}))
        Catalog.from_settings(settings_for(other))
        column_file.columns_path(data).write_bytes(column_file.columns_path(other).read_bytes())
    else:
        Catalog.from_settings(settings)
        blob = bytearray(column_file.columns_path(data).read_bytes())
        blob[-100] ^= 0x40
        column_file.columns_path(data).write_bytes(bytes(blob))
    writes(data)
    assert open_store(settings).compact() > 0
    assert column_file.columns_path(data).read_bytes() == fresh_encoding(data)  # from memory


@pytest.mark.parametrize("seed", range(4))
def test_random_writes_folded_in_steps_carry_the_file_exactly(data, monkeypatch, seed):
    """Random creates, replaces, closes and purges (ids re-used), folded every few writes."""
    monkeypatch.setattr(folding, "parse_stations", _refuse)  # carried forward every time
    settings = settings_for(data)
    Catalog.from_settings(settings)
    rng = np.random.default_rng(seed)
    ids = [f"c{i}" for i in range(40)] + [f"n{i}" for i in range(10)]
    for _ in range(4):
        store = open_store(settings)
        for _ in range(int(rng.integers(1, 12))):
            sid = str(rng.choice(ids))
            lon, lat = float(rng.uniform(106.9, 107.5)), float(rng.uniform(28.75, 29.3))
            op = rng.random()
            try:
                if op < 0.3:
                    store.create(station(sid, lon, lat), "t")
                elif op < 0.55:
                    store.replace(sid, station(sid, lon, lat, name="换了"), "t")
                elif op < 0.7:
                    store.delete(sid, "t")
                else:
                    store.delete(sid, "t", purge=True)
            except (StationNotFound, Conflict):
                pass
        store.compact()
        assert column_file.columns_path(data).read_bytes() == fresh_encoding(data)
