"""The Store contract: what every store implementation must do, run against each of them.

A backend is a factory giving settings that name fresh data holding the bundled stations;
`open_store` on them opens the store (a zero-argument, picklable opener). To run the suite, and
the state machine of `test_store_machine`, against another store (PostgreSQL), add its factory
to `BACKENDS`.
"""

from __future__ import annotations

import functools
import multiprocessing
import shutil
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import pgcluster
from conftest import BUNDLED_LOOP, BUNDLED_STATIONS, station
from stations.errors import Conflict, InvalidInput, PreconditionFailed, StationNotFound
from stations.settings import Settings
from stations.storage.base import Store
from stations.storage.revision import feature_version
from stations.storage.store import open_store

Opener = Callable[[], Store]
KNOWN = "delong-yinxing-union-station"  # a station of the bundled data


def geojson_store(tmp_path: Path) -> Settings:
    """Settings naming the GeoJSON store on a copy of the bundled data in ``tmp_path``."""
    path = tmp_path / "stations.geojson"
    shutil.copy(BUNDLED_STATIONS, path)
    loop = shutil.copy(BUNDLED_LOOP, tmp_path / "loop178.geojson")
    return Settings(_env_file=None, stations_path=path, loop_path=loop)  # type: ignore[call-arg]


def postgres_store(tmp_path: Path) -> Settings:
    """Settings naming a fresh PostgreSQL database holding the bundled data (`pgcluster`)."""
    url = pgcluster.bundled_database()
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=url,
        stations_path=tmp_path / "unused.geojson",
        loop_path=BUNDLED_LOOP,
    )


BACKENDS: dict[str, Callable[[Path], Settings]] = {
    "geojson": geojson_store,
    "postgres": postgres_store,
}


@pytest.fixture(params=sorted(BACKENDS))
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    return functools.partial(open_store, BACKENDS[request.param](tmp_path))


@pytest.fixture
def store(opener: Opener) -> Store:
    return opener()


def features(store: Store) -> dict[str, dict[str, Any]]:
    doc, _ = store.snapshot()
    assert doc["type"] == "FeatureCollection"
    return {f["properties"]["id"]: f for f in doc["features"]}


def ids_seen_by(opener: Opener) -> list[str]:
    """The station ids in file order, as a fresh store handle sees them (in a child process)."""
    doc, _ = opener().snapshot()
    return [f["properties"]["id"] for f in doc["features"]]


def test_create_stores_the_station_and_refuses_a_used_id(store):
    before = features(store)
    created = store.create(station("new-one", 107.2, 28.95), "test")
    assert created["properties"]["id"] == "new-one" and created["id"] == "new-one"
    after = features(store)
    assert after["new-one"]["geometry"]["coordinates"] == [107.2, 28.95]
    assert set(after) == set(before) | {"new-one"}
    version = store.version()
    with pytest.raises(Conflict, match="already exists"):
        store.create(station("new-one", 107.3, 28.95), "test")
    assert store.version() == version and features(store) == after


def test_invalid_features_are_refused_with_nothing_stored(store):
    before, version = features(store), store.version()
    with pytest.raises(InvalidInput, match="kind"):
        store.create(station("bad", 107.2, 28.95, kind="castle"), "test")
    with pytest.raises(InvalidInput):
        store.create({"type": "Feature", "geometry": None, "properties": []}, "test")
    with pytest.raises(InvalidInput, match="refused on write"):
        store.create(station("paris", 2.35, 48.85), "test")  # only a warning on load
    with pytest.raises(InvalidInput, match="ids cannot change"):
        store.patch(KNOWN, {"properties": {"id": "other"}}, "test")
    with pytest.raises(InvalidInput):
        store.patch(KNOWN, {"properties": {"status": "gone"}}, "test")
    assert store.version() == version and features(store) == before


def test_replace_patch_and_unknown_ids(store):
    current = features(store)[KNOWN]
    replaced = store.replace(
        KNOWN, {**current, "properties": {**current["properties"], "phone": "023-1234567"}}, "t"
    )
    assert features(store)[KNOWN] == replaced
    assert replaced["properties"]["phone"] == "023-1234567"
    with pytest.raises(InvalidInput, match="differs from the URL"):
        store.replace(KNOWN, station("another-id", 107.2, 28.95), "t")
    patched = store.patch(KNOWN, {"geometry": {"type": "Point", "coordinates": [107.3, 29.0]}}, "t")
    assert patched["properties"]["phone"] == "023-1234567"  # other properties kept
    assert features(store)[KNOWN]["geometry"]["coordinates"] == [107.3, 29.0]
    for write in (
        lambda: store.replace("nowhere", station("nowhere", 107.2, 28.95), "t"),
        lambda: store.patch("nowhere", {"properties": {"phone": "023-1234567"}}, "t"),
        lambda: store.delete("nowhere", "t"),
        lambda: store.delete("nowhere", "t", purge=True),
    ):
        with pytest.raises(StationNotFound, match="no station with id 'nowhere'"):
            write()


def test_delete_closes_and_purge_removes(store):
    closed = store.delete(KNOWN, "t")
    assert closed is not None and closed["properties"]["status"] == "closed"
    assert features(store)[KNOWN]["properties"]["status"] == "closed"  # kept, with history
    assert store.delete(KNOWN, "t", purge=True) is None
    assert KNOWN not in features(store)
    store.create(station(KNOWN, 107.26, 28.91), "t")  # the id is free again, at the end
    doc, _ = store.snapshot()
    assert doc["features"][-1]["properties"]["id"] == KNOWN


def test_import_creates_and_with_update_replaces(store):
    before = features(store)
    plan = store.import_features(
        [station("imp-1", 107.2, 28.95), station("imp-2", 107.21, 28.95)], "office"
    )
    assert (plan.created, plan.changed) == (["imp-1", "imp-2"], [])
    version, stored = store.version(), features(store)
    assert set(stored) == set(before) | {"imp-1", "imp-2"}
    clash = [station("imp-2", 107.22, 28.95), station("imp-3", 107.23, 28.95)]
    with pytest.raises(Conflict, match="imp-2"):
        store.import_features(clash, "office")
    with pytest.raises(InvalidInput):
        store.import_features([station("imp-4", 107.2, 28.95, kind="castle")], "office")
    assert store.version() == version and features(store) == stored  # nothing written
    plan = store.import_features(clash, "office", update=True)
    assert (plan.created, plan.changed) == (["imp-3"], ["imp-2"])
    assert features(store)["imp-2"]["geometry"]["coordinates"] == [107.22, 28.95]


def test_every_write_changes_the_version(store):
    seen = {store.version()}
    writes = [
        lambda: store.create(station("v", 107.2, 28.95), "t"),
        lambda: store.patch("v", {"properties": {"phone": "023-1234567"}}, "t"),
        lambda: store.replace("v", station("v", 107.21, 28.95), "t"),
        lambda: store.delete("v", "t"),
        lambda: store.delete("v", "t", purge=True),
        lambda: store.import_features([station("w", 107.2, 28.96)], "t"),
        lambda: store.create(station("x", 107.2, 28.97), "t"),
        lambda: store.compact(),
    ]
    for write in writes:
        write()
        seen.add(store.version())
    assert len(seen) == len(writes) + 1


def test_changes_since_a_position_are_exactly_the_writes(store):
    _, start = store.snapshot()
    changes = store.changes(start)
    assert changes is not None and changes.entries == [] and changes.position == start
    a = store.create(station("a", 107.2, 28.95), "t")
    a2 = store.patch("a", {"properties": {"phone": "023-1234567"}}, "t")
    store.delete(KNOWN, "t", purge=True)
    changes = store.changes(start)
    assert changes is not None
    assert [(e.station_id, e.feature) for e in changes.entries] == [
        ("a", a),
        ("a", a2),
        (KNOWN, None),
    ]
    _, now = store.snapshot()
    assert changes.position == now
    later = store.changes(now)
    assert later is not None and later.entries == []
    # Across a compaction, a reader that stood anywhere in the folded history catches up.
    b = store.create(station("b", 107.21, 28.95), "t")
    assert store.compact() == 4
    since = store.changes(now)
    assert since is not None and [(e.station_id, e.feature) for e in since.entries] == [("b", b)]


def test_compaction_keeps_the_data_identical(store):
    store.create(station("c1", 107.2, 28.95), "t")
    store.delete(KNOWN, "t", purge=True)
    store.patch("c1", {"properties": {"phone": "023-1234567"}}, "t")
    doc, _ = store.snapshot()
    assert store.compact() == 3
    assert store.snapshot()[0] == doc
    assert store.compact() == 0  # nothing left to fold
    assert store.snapshot()[0] == doc


def test_another_process_sees_the_writes(opener):
    store = opener()
    store.create(station("from-here", 107.2, 28.95), "t")
    store.delete(KNOWN, "t", purge=True)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        seen = pool.submit(ids_seen_by, opener).result(timeout=120)
        assert seen[-1] == "from-here" and KNOWN not in seen
        assert seen == ids_seen_by(opener)  # a second handle in this process agrees
        # ...and what another process writes, this handle sees.
        pool.submit(_create_in_child, opener, "from-there").result(timeout=120)
    assert ids_seen_by(lambda: store)[-1] == "from-there"
    assert store.create(station("after", 107.22, 28.95), "t")["id"] == "after"
    assert ids_seen_by(lambda: store)[-2:] == ["from-there", "after"]


def _create_in_child(opener: Opener, sid: str) -> None:
    opener().create(station(sid, 107.21, 28.95), "child")


def test_a_dry_run_predicts_the_import(store):
    """plan_import writes nothing and says exactly what import_features then does."""
    store.import_features([station("p-1", 107.2, 28.95), station("p-2", 107.21, 28.95)], "o")
    batch = [
        station("p-1", 107.2, 28.95),  # the same: unchanged
        station("p-2", 107.25, 28.95),  # moved: changed
        station("p-3", 107.23, 28.95),  # new: created
    ]
    version = store.version()
    refused = store.plan_import(batch)
    assert refused.refused == [("p-2", "the id exists (use --update to replace it)")]
    assert (refused.created, refused.unchanged) == (["p-3"], ["p-1"])
    with pytest.raises(Conflict, match="p-2"):
        store.import_features(batch, "o")
    planned = store.plan_import(batch, update=True)
    assert store.version() == version  # dry runs and refused imports write nothing
    done = store.import_features(batch, "o", update=True)
    for plan in (planned, done):
        assert (plan.created, plan.changed, plan.unchanged, plan.refused) == (
            ["p-3"],
            ["p-2"],
            ["p-1"],
            [],
        )


def test_importing_what_is_stored_changes_nothing(store):
    """An import of the stored stations themselves is all unchanged and writes nothing."""
    doc, _ = store.snapshot()
    version = store.version()
    plan = store.import_features(doc["features"], "o", update=True)
    assert plan.changed == [] and plan.created == [] and len(plan.unchanged) == len(doc["features"])
    assert store.version() == version


def test_if_match_guards_replace_patch_and_delete(store):
    base = features(store)[KNOWN]
    version = feature_version(base)
    changed = store.patch(KNOWN, {"properties": {"phone": "023-1234567"}}, "a", if_match=version)
    assert feature_version(changed) != version
    stale = {**base, "properties": {**base["properties"], "notes": "mine"}}
    snapshot = features(store)
    with pytest.raises(PreconditionFailed, match="changed since"):
        store.replace(KNOWN, stale, "b", if_match=version)
    with pytest.raises(PreconditionFailed):
        store.patch(KNOWN, {"properties": {"notes": "mine"}}, "b", if_match=version)
    with pytest.raises(PreconditionFailed):
        store.delete(KNOWN, "b", if_match=version)
    assert features(store) == snapshot  # nothing written
    assert store.patch(KNOWN, {"properties": {"notes": "x"}}, "b", if_match="*")
    current = feature_version(features(store)[KNOWN])
    assert store.delete(KNOWN, "b", if_match=current)["properties"]["status"] == "closed"
    with pytest.raises(StationNotFound):
        store.patch("no-such-station", {"properties": {}}, "b", if_match="*")


def test_history_is_newest_first_with_before_and_after(store):
    assert store.history(KNOWN, 10) == []
    store.patch(KNOWN, {"properties": {"phone": "023-1234567"}}, "office")
    store.delete(KNOWN, "field")
    store.create(station("other-one", 107.2, 28.95), "office")
    entries = store.history(KNOWN, 10)
    assert [(e["actor"], e["action"]) for e in entries] == [("field", "close"), ("office", "patch")]
    assert entries[0]["before"]["properties"]["status"] == "open"
    assert entries[0]["after"]["properties"]["status"] == "closed"
    assert entries[1]["after"]["properties"]["phone"] == "023-1234567"
    assert entries[1]["at"] <= entries[0]["at"]
    assert [e["action"] for e in store.history(KNOWN, 1)] == ["close"]
    assert len(store.history("other-one", 10)) == 1


def test_surveyed_by_is_the_actor_of_the_survey(store):
    survey = {
        "position_accuracy": "surveyed",
        "accuracy_m": 8,
        "surveyed_at": "2026-05-01T08:30:00Z",
    }
    written = store.patch(KNOWN, {"properties": {**survey, "surveyed_by": "someone"}}, "office")
    assert written["properties"]["surveyed_by"] == "office"
    kept = store.patch(KNOWN, {"properties": {"phone": "023-1234567"}}, "field")
    assert kept["properties"]["surveyed_by"] == "office"
    cleared = store.patch(KNOWN, {"properties": {"accuracy_m": None, "surveyed_at": None}}, "field")
    assert "surveyed_by" not in cleared["properties"]


def test_an_import_cannot_name_the_surveyor(store):
    survey = {
        "position_accuracy": "surveyed",
        "accuracy_m": 6,
        "surveyed_at": "2026-05-02T09:00:00Z",
    }
    sheet = features(store)[KNOWN]
    row = {**sheet, "properties": {**sheet["properties"], **survey, "surveyed_by": "someone"}}
    store.import_features([row], "importer", update=True)
    assert features(store)[KNOWN]["properties"]["surveyed_by"] == "importer"
    again = {**row, "properties": {**row["properties"], "phone": "023-1234567"}}
    store.import_features([again], "other", update=True)
    props = features(store)[KNOWN]["properties"]
    assert props["phone"] == "023-1234567" and props["surveyed_by"] == "importer"


def square_loop(size: float = 0.05) -> dict[str, Any]:
    ring = [[107.0, 29.0], [107.0, 29.0 + size], [107.0 + size, 29.0 + size], [107.0, 29.0]]
    return {
        "type": "Feature",
        "id": "loop178",
        "geometry": {"type": "LineString", "coordinates": ring},
        "properties": {"id": "loop178", "name": "test loop", "official_length_m": 178000},
    }


def test_replace_loop_checks_the_version_and_leaves_the_stations(store, opener):
    stations_before = features(store)
    first = store.loop_version()
    assert first == opener().loop_version()  # the same on every handle
    assert store.replace_loop(square_loop(), "test", first)["id"] == "loop178"
    second = store.loop_version()
    assert second != first and opener().loop_version() == second
    assert features(store) == stations_before
    with pytest.raises(PreconditionFailed, match="preview"):
        store.replace_loop(square_loop(0.06), "test", first)  # based on the loop replaced above
    assert store.loop_version() == second
    store.replace_loop(square_loop(0.06), "test")  # no version: replace whatever is there
    assert store.loop_version() not in (first, second)


def test_invalid_loops_are_refused_with_nothing_stored(store):
    version = store.loop_version()
    open_line = square_loop()
    open_line["geometry"]["coordinates"] = open_line["geometry"]["coordinates"][:-1]
    point = {**square_loop(), "geometry": {"type": "Point", "coordinates": [107.0, 29.0]}}
    for bad in (open_line, point):
        with pytest.raises(InvalidInput):
            store.replace_loop(bad, "test", version)
    assert store.loop_version() == version
