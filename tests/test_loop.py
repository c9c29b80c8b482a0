import pytest
from pyproj import Geod

from stations.errors import DataError
from stations.loop import CLOCKWISE, COUNTERCLOCKWISE, Loop, parse_loop

GEOD = Geod(ellps="WGS84")
# A small square ring near the equator, counterclockwise: (0,0) -> (0.1,0) -> (0.1,0.1) -> (0,0.1).
SQUARE = [(0.0, 0.0), (0.1, 0.0), (0.1, 0.1), (0.0, 0.1), (0.0, 0.0)]


def edge(a, b):
    return GEOD.inv(a[0], a[1], b[0], b[1])[2]


@pytest.fixture
def square():
    return Loop(SQUARE, {"official_length_m": None})


def test_length_and_orientation(square):
    expected = sum(edge(a, b) for a, b in zip(SQUARE[:-1], SQUARE[1:], strict=True))
    assert square.length_m == pytest.approx(expected, abs=0.01)
    assert square.orientation == COUNTERCLOCKWISE
    reverse = Loop(SQUARE[::-1], {})
    assert reverse.orientation == CLOCKWISE


def test_snap_known_chainage_and_offroute(square):
    e = edge(SQUARE[0], SQUARE[1])
    # A point just south of the first edge, a third of the way along.
    snap = square.snap(0.0333333, -0.001)
    assert snap.chainage_m == pytest.approx(e / 3, abs=2.0)
    assert snap.offroute_m == pytest.approx(GEOD.inv(0.0333333, -0.001, 0.0333333, 0.0)[2], abs=1)
    # On the second edge, half-way up.
    snap2 = square.snap(0.1, 0.05)
    assert snap2.chainage_m == pytest.approx(e + edge(SQUARE[1], SQUARE[2]) / 2, abs=2.0)
    assert snap2.offroute_m < 1.0


def test_along_takes_the_shorter_way_with_wrap_around(square):
    length = square.length_m
    # From just before the end of the ring to just after its start: 200 m forward across km 0.
    a = square.along(length - 100, 100)
    assert a.distance_m == pytest.approx(200)
    assert a.direction == COUNTERCLOCKWISE
    # The other way round it is also 200 m, travelling clockwise.
    b = square.along(100, length - 100)
    assert b.distance_m == pytest.approx(200)
    assert b.direction == CLOCKWISE
    c = square.along(0, length / 4)
    assert c.distance_m == pytest.approx(length / 4) and c.direction == COUNTERCLOCKWISE


def test_snap_past_start_wraps_into_range(square):
    snap = square.snap(-0.0005, 0.0)  # just beyond the start vertex
    assert 0 <= snap.chainage_m < square.length_m


def test_calibration_scales_km_marks():
    geometric = Loop(SQUARE, {"official_length_m": 100_000}, calibrate=False)
    calibrated = Loop(SQUARE, {"official_length_m": 100_000}, calibrate=True)
    assert geometric.scale == 1.0 and geometric.calibration()["basis"] == "geometry"
    assert calibrated.scale == pytest.approx(100_000 / calibrated.length_m)
    assert calibrated.km_mark(calibrated.length_m) == pytest.approx(100.0)
    assert calibrated.calibration()["basis"] == "official_length"


def line(coords, **props):
    return {
        "type": "Feature",
        "properties": props,
        "geometry": {"type": "LineString", "coordinates": coords},
    }


@pytest.mark.parametrize(
    "doc,message",
    [
        (line([[0, 0], [1, 0], [1, 1], [0, 1]]), "not closed"),
        (line([[0, 0], [1, 0], [0, 0]]), "at least 4"),
        (line([[0, 0], [1, 0], [1, 95], [0, 0]]), "position 2: lat must be within"),
        (
            {
                "type": "Feature",
                "properties": {},
                "geometry": {"type": "Point", "coordinates": [0, 0]},
            },
            "must be a LineString",
        ),
        ({"type": "FeatureCollection", "features": []}, "exactly one Feature"),
        (line([[0, 0], [1, 0], [1, 1], [0, 0]], official_length_m=-5), "official_length_m"),
        (line([[0, 0], [1, 0], [1, 1], [0, 0]], geometric_length_m=5), "update it"),
        ([1, 2], "expected a GeoJSON Feature"),
    ],
)
def test_parse_loop_rejects(doc, message):
    with pytest.raises(DataError) as info:
        parse_loop(doc, "loop.geojson")
    assert message in str(info.value.problems)


def test_bundled_loop(bundled):
    loop = bundled.loop
    assert loop is not None
    assert loop.properties["accuracy"] == "schematic"
    assert loop.official_length_m == 178_000
    assert 60_000 < loop.length_m < 178_000
    coords = loop.stored
    assert tuple(coords[0]) == tuple(coords[-1])
