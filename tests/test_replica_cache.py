"""A PostgreSQL replica starting from its cache (`replica_start`, `storage.postgres.cache`).

Against a real PostgreSQL started by the tests (`pgcluster`). The cache is kept for data of any
size here (``columns_min_stations=0``), in the test's own folder.
"""

from __future__ import annotations

import fcntl
import logging
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import pgcluster
from answers.record import nearest_points
from conftest import BUNDLED_LOOP, station
from stations.api import create_app
from stations.catalog import Catalog
from stations.replica_start import load_catalog
from stations.rows import Records
from stations.settings import Settings
from stations.storage import columns
from stations.storage.loading import FeatureCache
from stations.storage.loopfile import feature_of
from stations.storage.postgres import PostgresStore
from stations.storage.postgres import cache as replica_cache
from stations.storage.snapshot import LogPosition

KNOWN = "delong-yinxing-union-station"
URLS = [
    "/api/stations",
    "/api/stations?limit=3&offset=2",
    f"/api/stations/{KNOWN}",
    "/api/stations/cached-new",
    "/api/within?lon=107.2&lat=28.95&radius_m=20000",
    "/api/nearest?lon=107.2&lat=28.95&k=5&along=loop",
    "/api/stations.csv",
    "/collections/stations/items?limit=4",
    *nearest_points(12),
]


def settings_for(url: str, folder: Path | None) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=url,
        loop_path=BUNDLED_LOOP,
        replica_cache_dir=folder,
        columns_min_stations=0,
    )


def answers(settings: Settings) -> list[tuple[int, bytes]]:
    """Every URL's status and body, from a replica started with ``settings``."""
    with TestClient(create_app(settings)) as client:
        return [(r.status_code, r.content) for r in map(client.get, URLS)]


def target_of(settings: Settings) -> Path:
    assert settings.replica_cache_dir is not None and settings.database_url is not None
    return replica_cache.cache_path(settings.replica_cache_dir, settings.database_url)


def cached_position(settings: Settings) -> LogPosition | None:
    found = replica_cache.load(target_of(settings), 10)
    if found is None:
        return None
    assert isinstance(found.position, LogPosition)
    return found.position


def test_a_cache_start_answers_as_a_database_start_with_the_writes_made_meanwhile(tmp_path, caplog):
    url = pgcluster.bundled_database()
    cached = settings_for(url, tmp_path / "cache")
    first = answers(cached)  # loads from the database and writes the cache
    start = cached_position(cached)
    assert start is not None and start.seq == PostgresStore(url).snapshot()[1].seq
    store = PostgresStore(url)  # the replica is down: writes go on
    store.create(station("cached-new", 107.21, 28.96), "office")
    store.patch(KNOWN, {"properties": {"phone": "023-7654321"}}, "office")
    store.delete("sanquan-union-station", "office", purge=True)
    with caplog.at_level(logging.INFO, logger="stations.replica"):
        from_cache = answers(cached)
    assert "started from the replica cache" in caplog.text
    assert "3 changes since" in caplog.text
    from_database = answers(settings_for(url, None))
    assert from_cache == from_database  # status and bytes, every URL
    assert from_cache != first  # the writes made while it was down are there
    assert from_cache[3][0] == 200 and b"023-7654321" in from_cache[2][1]
    assert cached_position(cached) == start  # a cache start does not rewrite it


def _other_database(settings: Settings) -> None:
    """The cache of another database, copied where this one's would be."""
    other = settings_for(pgcluster.bundled_database(), settings.replica_cache_dir)
    load_catalog(other)
    shutil.copy(target_of(other), target_of(settings))


def _truncated(settings: Settings) -> None:
    target = target_of(settings)
    target.write_bytes(target.read_bytes()[: target.stat().st_size // 2])


def _corrupt(settings: Settings) -> None:
    target = target_of(settings)
    data = bytearray(target.read_bytes())
    data[-100] ^= 0xFF
    target.write_bytes(bytes(data))


def _older_format(settings: Settings) -> None:
    target = target_of(settings)
    new, old = f'"format":{columns.FORMAT}'.encode(), f'"format":{columns.FORMAT - 1}'.encode()
    data = target.read_bytes()
    assert new in data
    target.write_bytes(data.replace(new, old, 1))


def _pruned(settings: Settings) -> None:
    assert settings.database_url is not None
    store = PostgresStore(settings.database_url, keep_changes=0)
    for sid in ("pruned-1", "pruned-2"):  # two folds: the log then starts after the cache
        store.create(station(sid, 107.2, 28.9), "office")
        store.compact()


def _loop_replaced(settings: Settings) -> None:
    assert settings.database_url is not None
    PostgresStore(settings.database_url).replace_loop(
        feature_of(BUNDLED_LOOP.read_bytes()), "office"
    )


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (_other_database, "written from another database"),
        (_truncated, "truncated"),
        (_corrupt, "CRC mismatch"),
        (_older_format, f"format {columns.FORMAT - 1}"),
        (_pruned, "compacted"),
        (_loop_replaced, "the loop was replaced since"),
    ],
    ids=["another-database", "truncated", "corrupt", "older-format", "pruned", "loop-replaced"],
)
def test_an_unusable_cache_is_ignored_and_the_database_loaded(
    tmp_path, caplog, damage: Callable[[Settings], None], reason: str
):
    settings = settings_for(pgcluster.bundled_database(), tmp_path)
    load_catalog(settings)
    damage(settings)
    with caplog.at_level(logging.INFO):
        loaded = load_catalog(settings)
    assert "ignored, loading from the database" in caplog.text and reason in caplog.text
    assert "started from the replica cache" not in caplog.text
    fresh = Catalog.from_settings(settings)
    assert loaded.position == fresh.position
    assert [s.id for s in loaded.all] == [s.id for s in fresh.all]
    assert cached_position(settings) == fresh.position  # written again, usable next time


def test_a_worker_that_finds_the_cache_being_written_leaves_it_be(tmp_path):
    settings = settings_for(pgcluster.bundled_database(), tmp_path)
    catalog = load_catalog(settings)
    target = target_of(settings)
    before = target.read_bytes()
    with open(target.with_name(target.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another worker is writing it
        assert isinstance(catalog.position, LogPosition)
        moved = LogPosition(catalog.position.source, catalog.position.seq + 1)
        assert not replica_cache.write(target, catalog.all, moved, [])
    assert target.read_bytes() == before
    assert oct(target.stat().st_mode & 0o777) == oct(0o600)


def test_folds_keep_the_last_changes_so_a_cache_survives_them(tmp_path, caplog):
    """`serve` folds at start and the API after each pause in writes: a cache outlives both."""
    settings = settings_for(pgcluster.bundled_database(), tmp_path)
    load_catalog(settings)
    assert settings.database_url is not None
    store = PostgresStore(settings.database_url, keep_changes=3)
    for i in range(3):  # three folds, each after one write: only the last three rows kept
        store.create(station(f"folded-{i}", 107.2, 28.9), "office")
        store.compact()
    with caplog.at_level(logging.INFO, logger="stations.replica"):
        loaded = load_catalog(settings)
    assert "started from the replica cache" in caplog.text and "3 changes since" in caplog.text
    assert {f"folded-{i}" for i in range(3)} <= set(loaded.by_id)
    store.create(station("folded-3", 107.2, 28.9), "office")
    store.compact()  # four changes past the cache now: the first one is gone
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="stations.replica"):
        assert "folded-3" in load_catalog(settings).by_id
    assert "compacted" in caplog.text


def test_small_data_and_a_blank_setting_keep_no_cache(tmp_path):
    url = pgcluster.bundled_database()
    small = settings_for(url, tmp_path / "small").model_copy(
        update={"columns_min_stations": 10_000}
    )
    load_catalog(small)
    assert not target_of(small).exists()
    assert Settings(_env_file=None, replica_cache_dir=" ").replica_cache_dir is None  # type: ignore[call-arg]


def test_a_replica_that_read_the_database_serves_the_cache_it_wrote(tmp_path, caplog):
    """Mapped columns, not a million station objects; the worker's validation cache emptied."""
    settings = settings_for(pgcluster.bundled_database(), tmp_path)
    cache = FeatureCache()
    with caplog.at_level(logging.INFO, logger="stations.replica"):
        served = load_catalog(settings, cache)
    assert "just written" in caplog.text
    assert isinstance(served._rows.at, Records)  # from the file, as a file-backed worker
    assert len(cache._stations) == 0  # nothing keeps the stations read alive
    read = Catalog.from_settings(settings)
    assert served.position == read.position
    assert [s.id for s in served.all] == [s.id for s in read.all]
    assert list(served.all) == list(read.all)  # same properties and positions


def test_without_a_cache_the_stations_read_are_served(tmp_path):
    cache = FeatureCache()
    served = load_catalog(settings_for(pgcluster.bundled_database(), None), cache)
    assert not isinstance(served._rows.at, Records)
    assert len(cache._stations) == served.count  # kept: a reload validates only changes


def test_workers_starting_together_read_the_database_once(tmp_path, caplog):
    settings = settings_for(pgcluster.bundled_database(), tmp_path)
    with (
        caplog.at_level(logging.INFO, logger="stations.replica"),
        ThreadPoolExecutor(3) as pool,
    ):
        loaded = list(pool.map(lambda _: load_catalog(settings), range(3)))
    assert caplog.text.count("just written") == 1
    assert caplog.text.count("started from the replica cache") == 2
    assert all(isinstance(c._rows.at, Records) for c in loaded)
    assert len({c.position for c in loaded}) == 1
