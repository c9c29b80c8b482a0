"""The PostgreSQL store refuses exactly what the GeoJSON store refuses, and stores nothing then.

Then what the store contract cannot see: a loop change is one transaction logged in sequence
with the stations, and a station's history is read from the indexed audit (migration 3).

Every hostile value of `hostile.HOSTILE_JSON`, put in turn into each member of a valid create,
goes to both stores: both accept it (storing the same feature) or both refuse it with the same
error and message; a refused write leaves the stations, the change log and the audit table as
they were.
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import psycopg
import pytest

import pgcluster
from conftest import BUNDLED_LOOP, BUNDLED_STATIONS, station
from hostile import HOSTILE_JSON, feature_body
from stations.errors import DataError, StationsError
from stations.storage.geojson import GeoJSONStore
from stations.storage.loopfile import encode_loop, version_of
from stations.storage.postgres import PostgresStore, schema

PLACES: list[tuple[str, ...]] = [
    ("properties", "id"),
    ("properties", "name"),
    ("properties", "notes"),
    ("properties", "town"),
    ("properties", "phone"),
    ("properties", "kind"),
    ("properties", "status"),
    ("properties", "amenities"),
    ("geometry", "coordinates"),
    ("geometry",),
    ("id",),
]


def spoiled(n: int, place: tuple[str, ...], value: Any) -> dict[str, Any]:
    body = copy.deepcopy(feature_body(f"h-{n}"))
    target = body
    for key in place[:-1]:
        target = target[key]
    target[place[-1]] = value
    return body


def outcome(write: Any) -> tuple[str, Any]:
    try:
        return "stored", write()
    except StationsError as exc:
        return type(exc).__name__, str(exc)


def counts(url: str) -> tuple[int, ...]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM stations), (SELECT count(*) FROM change_log), "
            "(SELECT count(*) FROM audit), (SELECT last_seq FROM store_state)"
        ).fetchone()
    assert row is not None
    return tuple(row)


@pytest.mark.parametrize("place", PLACES, ids=lambda p: ".".join(p))
def test_both_stores_refuse_the_same_writes_with_the_same_messages(place, tmp_path: Path):
    path = tmp_path / "stations.geojson"
    shutil.copy(BUNDLED_STATIONS, path)
    files = GeoJSONStore(path)
    url = pgcluster.bundled_database()
    database = PostgresStore(url)
    refused = 0
    for n, value in enumerate(HOSTILE_JSON):
        body = spoiled(n, place, value)
        before = counts(url)
        on_file = outcome(lambda body=body: files.create(copy.deepcopy(body), "t"))
        on_database = outcome(lambda body=body: database.create(copy.deepcopy(body), "t"))
        assert on_database == on_file, (place, value)
        if on_file[0] != "stored":
            refused += 1
            assert counts(url) == before, (place, value)  # nothing written anywhere
    assert refused > 0  # the place was really spoiled
    assert files.snapshot()[0]["features"] == database.snapshot()[0]["features"]


def square_loop(size: float = 0.05) -> dict[str, Any]:
    ring = [[107.0, 29.0], [107.0, 29.0 + size], [107.0 + size, 29.0 + size], [107.0, 29.0]]
    return {
        "type": "Feature",
        "id": "loop178",
        "geometry": {"type": "LineString", "coordinates": ring},
        "properties": {"id": "loop178", "name": "test loop", "official_length_m": 178000},
    }


def test_a_loop_change_is_one_logged_transaction_readers_reload_on(tmp_path: Path):
    url = pgcluster.bundled_database()
    store = PostgresStore(url, loop_path=BUNDLED_LOOP)
    assert store.loop() is None  # until one is stored, the loop file serves
    assert store.loop_version() == version_of(BUNDLED_LOOP.read_bytes())
    _, start = store.snapshot()
    before = counts(url)
    store.replace_loop(square_loop(), "office", store.loop_version())
    assert store.loop() == square_loop()
    stations, log, audit, seq = counts(url)
    assert (stations, log, audit, seq) == (before[0], before[1] + 1, before[2] + 1, before[3] + 1)
    assert store.changes(start) is None  # a reader before the loop change reloads
    _, now = store.snapshot()
    store.create(station("after-loop", 107.2, 28.95), "office")
    later = store.changes(now)  # one after it follows the stations as usual
    assert later is not None and [e.station_id for e in later.entries] == ["after-loop"]
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT actor, action, entry FROM audit ORDER BY id LIMIT 1").fetchone()
    assert row is not None and row[:2] == ("office", "replace_loop")
    assert row[2]["before"]["properties"]["accuracy"] == "schematic"  # the file's, until now
    assert row[2]["after"]["vertices"] == 4
    # The loop replaced is kept; a store without a loop file refuses to guess.
    store.replace_loop(square_loop(0.06), "office")
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM loops").fetchone() == (2,)
    assert PostgresStore(url).loop_version() == version_of(encode_loop(square_loop(0.06)))


def test_a_database_without_loop_and_without_file_names_what_to_run():
    with pytest.raises(DataError, match="holds no loop"):
        PostgresStore(pgcluster.bundled_database()).loop_version()


def test_history_includes_bulk_imports_and_survives_the_migration():
    """Audit rows written before migration 3 are indexed by it, imports by every id they name."""
    cluster = pgcluster.shared_cluster()
    url = cluster.new_database()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE stations_schema (version int PRIMARY KEY, name text NOT NULL,"
                     " applied_at timestamptz NOT NULL DEFAULT now())")  # fmt: skip
        for version, name, sql in schema.MIGRATIONS[:2]:  # a database of version 2...
            conn.execute(sql.encode())
            conn.execute("INSERT INTO stations_schema VALUES (%s, %s)", (version, name))
    old = PostgresStore(url)
    old._checked = True  # ...written by the code of version 2 (no audit_stations yet)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO audit (actor, action, entry) VALUES "
            """('cli', 'import', '{"created": ["a", "b"], "updated": []}'),"""
            """('office', 'patch', '{"id": "a", "before": {"x": 1}, "after": {"x": 2}}'),"""
            """('office', 'import', '{"created": [], "updated": ["b"]}')"""
        )
        assert schema.upgrade(conn) == [3, 4]  # and the later ones
    store = PostgresStore(url)
    assert [(e["actor"], e["action"]) for e in store.history("a")] == [
        ("office", "patch"),
        ("cli", "import"),
    ]
    assert store.history("a")[0]["after"] == {"x": 2}
    assert [e["action"] for e in store.history("b")] == ["import", "import"]
    assert store.history("b", 1)[0]["before"] is None
    # New imports are indexed as they are written.
    store.import_features([station("c", 107.2, 28.95)], "cli")
    assert [e["action"] for e in store.history("c")] == ["import"]
    assert store.history("nobody") == []
