"""The PostgreSQL store refuses exactly what the GeoJSON store refuses, and stores nothing then.

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
from conftest import BUNDLED_STATIONS
from hostile import HOSTILE_JSON, feature_body
from stations.errors import StationsError
from stations.storage.geojson import GeoJSONStore
from stations.storage.postgres import PostgresStore

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
