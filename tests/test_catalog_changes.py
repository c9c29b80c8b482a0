"""A catalog derived after writes (`Catalog.with_changes`) answers as one loaded afresh."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import BUNDLED_LOOP, BUNDLED_STATIONS, station
from stations import query
from stations.catalog import Catalog
from stations.loop import load_loop
from stations.models import Station
from stations.rows import OVERLAY_LIMIT, Overlay
from stations.storage.loading import parse_feature

KINDS = ["union_station", "warm_station", "cold_drink_fridge", "worker_service_point"]
AMENITIES = ["drinking_water", "toilet", "phone_charging", "ebike_charging"]
STATUSES = ["open", "closed", "planned"]
FILTERS = [
    query.Filters(),
    query.Filters(statuses=()),
    query.Filters(kinds=["warm_station", "union_station"]),
    query.Filters(amenities=["toilet"], statuses=()),
    query.Filters(amenities=["toilet", "drinking_water"]),
]


def make(sid: str, rng: np.random.Generator) -> Station:
    located = rng.random() > 0.1
    lon, lat = (rng.uniform(106.9, 107.5), rng.uniform(28.75, 29.3)) if located else (None, None)
    feature = station(
        sid,
        lon,
        lat,
        kind=str(rng.choice(KINDS)),
        status=str(rng.choice(STATUSES, p=[0.7, 0.2, 0.1])),
        amenities=sorted({str(a) for a in rng.choice(AMENITIES, int(rng.integers(0, 3)))}),
        position_accuracy="approximate" if located else "unknown",
    )
    parsed, problems, _ = parse_feature(feature, sid)
    assert parsed is not None, problems
    return parsed


def answers(catalog: Catalog, rng_seed: int) -> list[object]:
    rng = np.random.default_rng(rng_seed)
    out: list[object] = [
        [s.id for s in catalog.all],
        sorted(catalog.by_id),
        sorted(s.id for s in catalog.located),
        sorted((k, round(v.loop_km, 6)) for k, v in catalog.loop_places.items()),
        sorted((catalog.station_at(i).id, round(p.loop_km, 6)) for i, p in catalog.loop_members),
        catalog.counts_by_kind(),
        catalog.extent(),
    ]
    for f in FILTERS:
        out.append([s.id for s in catalog.select(f.kinds, f.amenities, f.statuses)])
        out.append(
            [s.id for s in catalog.select(f.kinds, f.amenities, f.statuses, (107, 28.9, 107.3, 29))]
        )
    ctx = query.QueryContext()
    for _ in range(12):
        lon, lat = float(rng.uniform(106.9, 107.5)), float(rng.uniform(28.75, 29.3))
        for f in FILTERS:
            for by in ("straight", "loop"):
                res = query.nearest(catalog, lon, lat, k=6, by=by, filters=f, ctx=ctx)
                out.append([(x["id"], x["properties"]["distance_m"]) for x in res["features"]])
            res = query.within(catalog, lon, lat, 15_000, filters=f, ctx=ctx)
            out.append([(x["id"], x["properties"]["distance_m"]) for x in res["features"]])
    return out


@pytest.mark.parametrize("seed", range(4))
def test_with_changes_answers_as_a_fresh_catalog(seed):
    rng = np.random.default_rng(seed)
    loop = load_loop(BUNDLED_LOOP, calibrate=True)
    base = Catalog.from_paths(BUNDLED_STATIONS, BUNDLED_LOOP).all
    stations = list(base) + [make(f"s{i}", rng) for i in range(300)]
    catalog = Catalog(stations, loop)
    for f in FILTERS:  # cached masks must be carried over correctly
        catalog.mask(f.kinds, f.amenities, f.statuses)
    serial = 300
    for _step in range(5):
        changes: dict[str, Station | None] = {}
        ids = [s.id for s in stations]
        for sid in rng.choice(ids, 8, replace=False).tolist():
            roll = rng.random()
            if roll < 0.25:
                changes[sid] = None  # purged
            else:
                moved = make(sid, rng)  # moved, re-kinded, closed, unlocated...
                changes[sid] = moved
        for _ in range(int(rng.integers(0, 6))):
            changes[f"s{serial}"] = make(f"s{serial}", rng)
            serial += 1
        catalog = catalog.with_changes(changes)
        # The store's order: in place, removed dropped, new ones appended.
        by_id = {s.id: s for s in stations}
        stations = [changes.get(s.id, s) for s in stations if changes.get(s.id, s) is not None]
        stations += [st for sid, st in changes.items() if sid not in by_id and st is not None]
        fresh = Catalog(stations, loop)
        assert answers(catalog, seed) == answers(fresh, seed)


def test_with_changes_keeps_ties_in_file_order(bundled):
    """Two stations share the city-centre point; after a write to the first of them, ties
    still resolve in file order, as after a reload."""
    tied = [s for s in bundled.located if (s.lon, s.lat) == (107.10335, 29.15201)]
    assert len(tied) == 2
    first = tied[0]
    edited = Station(props=first.props, lon=first.lon, lat=first.lat)  # rewritten as is
    derived = bundled.with_changes({first.id: edited})
    for catalog in (bundled, derived):
        res = query.nearest(catalog, 107.10335, 29.15201, k=2, filters=query.Filters(statuses=()))
        assert [f["id"] for f in res["features"]] == [s.id for s in tied]


def test_with_changes_of_nothing_is_the_same_catalog(bundled):
    assert bundled.with_changes({}) is bundled
    assert bundled.with_changes({"no-such-station": None}).all == bundled.all


def test_heavy_churn_rebuilds_and_still_answers_as_fresh():
    rng = np.random.default_rng(11)
    loop = load_loop(BUNDLED_LOOP, calibrate=True)
    stations = [make(f"s{i}", rng) for i in range(200)]
    catalog = Catalog(stations, loop)
    changes = {f"s{i}": (None if i % 5 == 0 else make(f"s{i}", rng)) for i in range(0, 200, 2)}
    derived = catalog.with_changes(changes)
    assert derived._rows.dead == 0  # past MAX_DEAD_SHARE: built compact, afresh
    stations = [changes.get(s.id, s) for s in stations if changes.get(s.id, s) is not None]
    assert answers(derived, 1) == answers(Catalog(stations, loop), 1)


def test_overlay_mapping_behaves_as_a_dict():
    base = {"a": 1, "b": 2, "c": 3}
    view: Overlay[int] = Overlay(base)
    view = view.changed({"b": None, "d": 4, "a": 10})
    view = view.changed({"d": None, "b": 20, "zz": None})
    want = {"a": 10, "c": 3, "b": 20}
    assert dict(view) == want and len(view) == 3
    assert view.get("d") is None and "d" not in view and view["b"] == 20
    assert base == {"a": 1, "b": 2, "c": 3}  # shared base untouched
    with pytest.raises(KeyError):
        view["d"]
    many = Overlay({}).changed({f"k{i}": i for i in range(OVERLAY_LIMIT + 1)})
    assert len(many) == OVERLAY_LIMIT + 1 and many.get("k7") == 7 and not many._top
