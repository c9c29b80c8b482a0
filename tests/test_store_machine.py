"""Acceptance: no sequence of writes, valid or hostile, leaves data a command cannot handle.

A hypothesis state machine writes through a store (create, replace, patch, close, purge,
import: valid features, and hostile ones: deep members, huge strings, NaN, extra members, lone
surrogates, numbers past every range), compacts, and restarts (a fresh store handle, the
process's cached state forgotten, the files loaded as `stations serve` loads them). A model of
the acknowledged writes (an ordered dict: a put replaces in place or appends, a purge removes,
exactly as the store orders stations) must equal the stored data after every step; a refused
write changes nothing. At each restart and at the end the files load, `compact` and `export`
succeed and `validate` agrees with them.

It runs against every store of `test_store_contract.BACKENDS`.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from conftest import station
from stations.cli.data import load_checked
from stations.errors import Conflict, InvalidInput, StationNotFound
from stations.models import PHONE_PATTERN, STRIPPED, Amenity
from stations.storage import geojson
from stations.storage.checks import check_file
from stations.storage.exchange import export_document, export_stations
from stations.storage.importing import merged
from stations.storage.postgres.connect import close_pools
from stations.storage.store import compact_store, open_store, stored_document
from test_store_contract import BACKENDS

Feature = dict[str, Any]
IDS = ["a", "b", "c", "delong-yinxing-union-station", "nanchuan-warm-station"]
TEXT = st.text(st.characters(categories=["L", "N", "P", "Zs"]), min_size=1, max_size=40).filter(
    str.strip
)
HOURS = st.sampled_from(["24/7", "Mo-Su 08:00-18:00", "Mo-Fr 09:00-17:00; PH off"])
OPTIONAL = {
    "name_en": TEXT,
    "town": TEXT,
    # the schema strips a phone number before matching it: a valid one stays valid stripped
    "phone": st.from_regex(PHONE_PATTERN, fullmatch=True).filter(
        lambda p: PHONE_PATTERN.fullmatch(p.strip())
    ),
    "awards": st.lists(TEXT, max_size=3),
    "amenities": st.lists(st.sampled_from([a.value for a in Amenity]), unique=True, max_size=4),
    "opening_hours": HOURS,
    "notes": st.text(st.characters(categories=["L", "N", "P", "Zs"]), max_size=60),
    "status": st.sampled_from(["open", "closed", "planned"]),
}
POINT = st.builds(
    lambda lon, lat, z: {
        "type": "Point",
        "coordinates": [lon, lat] + ([z] if z is not None else []),
    },
    st.floats(106.9, 107.5),
    st.floats(28.8, 29.3),
    st.none() | st.floats(-100, 3000),
)


@st.composite
def features(draw: st.DrawFn, sid: str | None = None) -> Feature:
    """A valid station Feature (id drawn from `IDS` unless given)."""
    sid = sid or draw(st.sampled_from(IDS))
    props = draw(st.fixed_dictionaries({}, optional=OPTIONAL))
    located = draw(st.booleans()) or draw(st.booleans())
    feature = station(
        sid,
        None,
        None,
        name=draw(TEXT),
        kind=draw(st.sampled_from(["union_station", "warm_station", "cold_drink_fridge"])),
        position_accuracy="approximate" if located else "unknown",
        **props,
    )
    if located:
        feature["geometry"] = draw(POINT)
    if draw(st.booleans()):
        del feature["id"]  # optional: the store fills it in
    return feature


def nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


def _coords(f: Feature, coords: list[Any]) -> None:
    f["geometry"] = {"type": "Point", "coordinates": coords}
    f["properties"]["position_accuracy"] = "approximate"


#: Ways to spoil a valid feature: each must be refused, storing nothing.
SPOILERS = {
    "deep member": lambda f, n: f.__setitem__("foo", nested(n)),
    "extra member": lambda f, n: f.__setitem__("bbox", [0, 0, 1, 1]),
    "deep property": lambda f, n: f["properties"].__setitem__("colour", nested(n)),
    "deep awards": lambda f, n: f["properties"].__setitem__("awards", nested(n)),
    "huge name": lambda f, n: f["properties"].__setitem__("name", "驿" * (201 + n * 1000)),
    "huge notes": lambda f, n: f["properties"].__setitem__("notes", "x" * (1001 + n * 1000)),
    "many awards": lambda f, n: f["properties"].__setitem__("awards", ["a"] * (51 + n)),
    "surrogate": lambda f, n: f["properties"].__setitem__("name", "站\ud800"),
    "bad kind": lambda f, n: f["properties"].__setitem__("kind", "castle"),
    "nan lon": lambda f, n: _coords(f, [math.nan, 29.0]),
    "inf lat": lambda f, n: _coords(f, [107.0, -math.inf]),
    "huge lon": lambda f, n: _coords(f, [10**n, 29.0]),
    "text z": lambda f, n: _coords(f, [107.0, 29.0, "high"]),
    "nan z": lambda f, n: _coords(f, [107.0, 29.0, math.nan]),
    "huge z": lambda f, n: _coords(f, [107.0, 29.0, 10 ** (6 + n)]),
    "four numbers": lambda f, n: _coords(f, [107.0, 29.0, 1.0, 2.0]),
    "outside China": lambda f, n: _coords(f, [2.35, 48.85]),
    "geometry member": lambda f, n: f.__setitem__(
        "geometry", {"type": "Point", "coordinates": [107.0, 29.0], "z": nested(n)}
    ),
    "id mismatch": lambda f, n: f.__setitem__("id", "not-" + f["properties"]["id"]),
}


@st.composite
def hostile(draw: st.DrawFn, sid: str | None = None) -> Feature:
    """A feature spoilt one way (`SPOILERS`)."""
    feature = draw(features(sid))
    spoil = SPOILERS[draw(st.sampled_from(sorted(SPOILERS)))]
    spoil(feature, draw(st.integers(1, 300)))
    return feature


def writes(sid: str | None = None) -> st.SearchStrategy[tuple[Feature, bool]]:
    """A feature to write, and whether it is valid (a hostile one never is)."""
    return features(sid).map(lambda f: (f, True)) | hostile(sid).map(lambda f: (f, False))


def as_stored(feature: Feature) -> Feature:
    """A write's feature as the model expects it back: the Feature id filled in, the texts the
    schema strips (`stations.models.STRIPPED`) stripped."""
    props = dict(feature["properties"])
    for key in STRIPPED:
        value = props.get(key)
        if isinstance(value, str):
            props[key] = value.strip()
        elif isinstance(value, list):
            props[key] = [v.strip() for v in value]
    return {**feature, "id": props["id"], "properties": props}


class StoreMachine(RuleBasedStateMachine):
    """Writes, compactions and restarts on one store, against a model of acknowledged writes."""

    def __init__(self, backend: str) -> None:
        super().__init__()
        self._tmp = tempfile.TemporaryDirectory()
        self.root = Path(self._tmp.name)
        self.settings = BACKENDS[backend](self.root)
        self.store = open_store(self.settings)
        doc, _ = self.store.snapshot()
        self.model: dict[str, Feature] = {f["properties"]["id"]: f for f in doc["features"]}

    # -- writes ------------------------------------------------------------------------------

    def refused(self, write: Any, error: type[Exception]) -> None:
        """``write`` raises ``error`` and changes nothing."""
        version = self.store.version()
        with pytest.raises(error):
            write()
        assert self.store.version() == version

    @rule(write=writes())
    def create(self, write: tuple[Feature, bool]) -> None:
        feature, ok = write
        sid = feature["properties"]["id"]
        if not ok:
            self.refused(lambda: self.store.create(feature, "m"), InvalidInput)
        elif sid in self.model:
            self.refused(lambda: self.store.create(feature, "m"), Conflict)
        else:
            assert self.store.create(feature, "m") == as_stored(feature)
            self.model[sid] = as_stored(feature)

    @rule(data=st.data())
    def replace(self, data: st.DataObject) -> None:
        sid = data.draw(st.sampled_from(IDS))
        feature, ok = data.draw(writes(sid))
        if not ok:
            self.refused(lambda: self.store.replace(sid, feature, "m"), InvalidInput)
        elif sid not in self.model:
            self.refused(lambda: self.store.replace(sid, feature, "m"), StationNotFound)
        else:
            assert self.store.replace(sid, feature, "m") == as_stored(feature)
            self.model[sid] = as_stored(feature)

    @rule(
        sid=st.sampled_from(IDS),
        props=st.fixed_dictionaries({}, optional=OPTIONAL),
        geometry=st.none() | POINT,
        spoil=st.none() | st.sampled_from(["colour", "surrogate", "z", "huge"]),
    )
    def patch(self, sid: str, props: Feature, geometry: Feature | None, spoil: str | None) -> None:
        changes: Feature = {"properties": props}
        if geometry is not None:
            changes["geometry"] = geometry
        if spoil is not None:
            hostile_patch(changes, spoil)
        write = lambda: self.store.patch(sid, changes, "m")  # noqa: E731
        if sid not in self.model:
            self.refused(write, StationNotFound)
            return
        current = self.model[sid]
        merged = as_stored(
            {
                **current,
                "properties": {**current["properties"], **changes["properties"]},
                "geometry": changes.get("geometry", current["geometry"]),
            }
        )
        if spoil is not None or not consistent(merged):
            self.refused(write, InvalidInput)
        else:
            assert write() == merged
            self.model[sid] = merged

    @rule(sid=st.sampled_from(IDS), purge=st.booleans())
    def delete(self, sid: str, purge: bool) -> None:
        if sid not in self.model:
            self.refused(lambda: self.store.delete(sid, "m", purge), StationNotFound)
        elif purge:
            assert self.store.delete(sid, "m", purge=True) is None
            del self.model[sid]
        else:
            current = self.model[sid]
            closed = {**current, "properties": {**current["properties"], "status": "closed"}}
            assert self.store.delete(sid, "m") == closed
            self.model[sid] = closed

    @rule(
        drawn=st.lists(writes(), max_size=4, unique_by=lambda w: w[0]["properties"]["id"]),
        update=st.booleans(),
    )
    def import_features(self, drawn: list[tuple[Feature, bool]], update: bool) -> None:
        batch = [f for f, _ in drawn]
        write = lambda: self.store.import_features(batch, "m", update)  # noqa: E731
        ids = [f["properties"]["id"] for f in batch]
        if not all(ok for _, ok in drawn):
            self.refused(write, InvalidInput)
            return
        plan = self.store.plan_import(batch, update)  # the dry run predicts the import
        assert plan.created == [s for s in ids if s not in self.model]
        assert sorted(plan.changed + plan.unchanged + [s for s, _ in plan.refused]) == sorted(
            s for s in ids if s in self.model
        )
        assert update or not plan.changed
        if plan.refused:
            self.refused(write, Conflict)
            return
        done = write()
        assert (done.created, done.changed, done.unchanged) == (
            plan.created,
            plan.changed,
            plan.unchanged,
        )
        for f in batch:
            sid = f["properties"]["id"]
            if sid in plan.created:
                self.model[sid] = as_stored(f)
            elif sid in plan.changed:
                self.model[sid] = as_stored(merged(self.model[sid], f))

    # -- compaction, restarts ----------------------------------------------------------------

    @rule()
    def compact(self) -> None:
        self.store.compact()

    @rule()
    def restart(self) -> None:
        """A new process: no cached state, a fresh store, the files loaded as `serve` loads them."""
        geojson._STORED.clear()  # the GeoJSON store's per-process state (none in a new process)
        close_pools()  # the PostgreSQL store's
        self.store = open_store(self.settings)
        self.check_commands()

    @invariant()
    def stored_data_is_the_model(self) -> None:
        doc, _ = self.store.snapshot()
        assert doc["features"] == list(self.model.values())

    def teardown(self) -> None:
        try:
            self.check_commands()
        finally:
            geojson._STORED.clear()
            self._tmp.cleanup()

    def check_commands(self) -> None:
        """What `serve`, `validate`, `export` and `compact` do with the files, and agree on."""
        catalog = load_checked(self.settings)  # `stations serve`'s load
        assert [s.id for s in catalog.all] == list(self.model)
        out = self.root / "export.geojson"
        if self.settings.database_url:  # `stations export`, from the database
            doc = stored_document(self.settings)
            assert export_document(doc, out) == len(self.model)
            assert export_document(doc, self.root / "out.csv") == len(self.model)
        else:
            checked = check_file(self.settings.stations_path)  # `stations validate`
            assert f": {len(self.model)} stations OK" in checked.summary
            assert export_stations(self.settings.stations_path, out) == len(self.model)
            assert export_stations(self.settings.stations_path, self.root / "out.csv") == len(
                self.model
            )
        assert json.loads(out.read_text("utf-8"))["features"] == list(self.model.values())
        compact_store(self.settings)  # `stations compact`
        assert load_checked(self.settings).counts_by_kind() == catalog.counts_by_kind()


def hostile_patch(changes: Feature, spoil: str) -> None:
    """Spoil a patch: an unknown property, a lone surrogate, a bad elevation or a huge name."""
    props = changes["properties"]
    if spoil == "colour":
        props["colour"] = nested(260)
    elif spoil == "surrogate":
        props["town"] = "\udfff"
    elif spoil == "huge":
        props["name"] = "x" * 300_000
    else:
        changes["geometry"] = {"type": "Point", "coordinates": [107.0, 29.0, math.nan]}


def consistent(feature: Feature) -> bool:
    """Whether a feature has a position exactly when its position_accuracy says it has one."""
    unknown = feature["properties"]["position_accuracy"] == "unknown"
    return (feature["geometry"] is None) == unknown


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_writes_compactions_and_restarts_keep_the_data_sound(backend: str) -> None:
    run_state_machine_as_test(
        lambda: StoreMachine(backend),
        settings=settings(
            max_examples=40,
            stateful_step_count=12,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        ),
    )
