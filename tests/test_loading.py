import pytest

from conftest import BUNDLED_STATIONS, collection, station
from stations.errors import DataError
from stations.storage.loading import load_stations, parse_stations


def problems_of(doc):
    with pytest.raises(DataError) as info:
        parse_stations(doc, "s.geojson")
    return "\n".join(info.value.problems)


def test_bundled_file_is_valid_and_honest():
    parsed = load_stations(BUNDLED_STATIONS)
    union = [s for s in parsed.stations if s.props.kind == "union_station"]
    assert len(union) == 8
    assert parsed.warnings == []
    for s in parsed.stations:
        assert s.props.source
        if s.props.position_accuracy != "surveyed":
            assert "待核实" in s.props.name or "未知" in s.props.name or "银杏村" in s.props.name
    assert any("银杏村" in s.props.name for s in union)
    kinds = {s.props.kind for s in parsed.stations}
    assert {"warm_station", "cold_drink_fridge"} <= kinds


def test_file_errors(write_json, tmp_path):
    with pytest.raises(DataError, match="file not found"):
        load_stations(tmp_path / "missing.geojson")
    with pytest.raises(DataError, match="not valid JSON"):
        load_stations(write_json("bad.geojson", '{"type": "FeatureCollection", '))
    with pytest.raises(DataError, match="empty"):
        load_stations(write_json("empty.geojson", ""))
    with pytest.raises(DataError, match="expected a GeoJSON FeatureCollection, got 'Feature'"):
        load_stations(write_json("f.geojson", station("a", 1, 2)))


@pytest.mark.parametrize(
    "feature,expected",
    [
        (
            {
                **station("a", 1, 2),
                "geometry": {"type": "LineString", "coordinates": [[0, 0], [1, 1]]},
            },
            "feature 0 (id 'a'): geometry must be a Point, got 'LineString'",
        ),
        (station("a", 181, 29), "geometry.lon must be within [-180, 180], got 181"),
        (station("a", 29, 107), "lat must be within [-90, 90], got 107 (lat/lon swapped?"),
        (station("a", "x", 29), "lon must be a number"),
        (station("a", 1, 2, kind="spa"), "properties.kind: 'spa' is not allowed"),
        (station("a", 1, 2, amenities=["sauna"]), "properties.amenities.0: 'sauna' is not allowed"),
        (station("a", 1, 2, opening_hours="whenever"), "invalid opening_hours 'whenever'"),
        (station("a", 1, 2, loop_km=3), "properties.loop_km: unknown property"),
        (station("Bad Id", 1, 2), "id 'Bad Id' must be"),
        (station("a", 1, 2, source=""), "properties.source"),
        (station("a", None, None), "geometry is null; only stations with position_accuracy"),
        (station("a", 1, 2, position_accuracy="unknown"), "'unknown' but a position is given"),
        (station("a", 1, 2, amenities=["toilet", "toilet"]), "lists an amenity twice"),
        (station("a", 1, 2, phone="call me"), "phone 'call me'"),
        ("nope", "feature 0: not a GeoJSON Feature"),
    ],
)
def test_feature_problems_name_feature_and_field(feature, expected):
    assert expected in problems_of(collection(feature))


def test_every_problem_is_reported_and_duplicates_named():
    doc = collection(
        station("a", 107, 29),
        station("a", 107.1, 29.1),
        station("b", 500, 29),
        station("c", 1, 2, kind="x"),
    )
    text = problems_of(doc)
    assert "feature 1 (id 'a'): duplicate id, already used by feature 0" in text
    assert "feature 2 (id 'b')" in text and "feature 3 (id 'c')" in text


def test_swapped_coordinates_warn():
    parsed = parse_stations(collection(station("a", 35.0, 80.0)), "s")
    assert parsed.stations and "lat/lon swapped" in parsed.warnings[0]
    parsed = parse_stations(collection(station("b", 2.35, 48.85)), "s")
    assert "outside mainland China" in parsed.warnings[0]


def test_unlocated_station_is_kept():
    parsed = parse_stations(collection(station("u", None, None, position_accuracy="unknown")), "s")
    assert parsed.stations[0].located is False


def test_valid_opening_hours_accepted():
    parsed = parse_stations(
        collection(station("a", 107, 29, opening_hours="Mo-Su 08:00-18:00; PH off")), "s"
    )
    assert parsed.stations[0].props.opening_hours == "Mo-Su 08:00-18:00; PH off"


def test_feature_cache_validates_only_what_changed(monkeypatch):
    from stations.errors import DataError
    from stations.storage import loading
    from stations.storage.loading import FeatureCache, parse_stations

    calls = []
    real = loading.parse_feature
    monkeypatch.setattr(
        loading, "parse_feature", lambda f, label: calls.append(label) or real(f, label)
    )
    cache = FeatureCache()
    doc = collection(station("a", 107.2, 28.9), station("b", 107.3, 28.9))
    parse_stations(doc, "t", cache)
    assert len(calls) == 2
    parse_stations(doc, "t", cache)
    assert len(calls) == 2  # nothing changed: nothing validated again
    doc["features"][1]["properties"]["kind"] = "castle"  # a change is validated, and refused
    with pytest.raises(DataError, match="kind"):
        parse_stations(doc, "t", cache)
    assert len(calls) == 3
    swapped = collection(station("c", 28.9, 80.0))  # outside China: a warning
    first = parse_stations(swapped, "t", cache)
    again = parse_stations(swapped, "t", cache)
    assert first.warnings and again.warnings == first.warnings  # warnings are never cached away


def test_loading_pauses_the_collector_and_restores_it(write_json, monkeypatch):
    import gc

    import stations.storage.loading as loading

    seen = []
    real_parse = loading.parse_stations

    def parse_spy(doc, source, cache=None):
        seen.append(gc.isenabled())
        return real_parse(doc, source, cache)

    monkeypatch.setattr(loading, "parse_stations", parse_spy)
    good = write_json("good.geojson", collection(station("a", 107.2, 28.9)))
    bad = write_json("bad.geojson", collection(station("a", 107.2, 28.9), station("a", 107.3, 29)))
    assert gc.isenabled()
    assert len(load_stations(good).stations) == 1
    with pytest.raises(DataError):
        load_stations(bad)  # a failed load restores it too
    assert seen == [False, False]
    assert gc.isenabled()
    gc.disable()
    try:
        load_stations(good)
        assert not gc.isenabled()  # a caller's own pause is kept
    finally:
        gc.enable()
