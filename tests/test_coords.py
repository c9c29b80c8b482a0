import math

import numpy as np
import prcoords
import pytest
from hypothesis import given
from hypothesis import strategies as st

from stations import coords
from stations.errors import InvalidCoordinates
from stations.geodesy import inverse

# Points spread over mainland China (lon 74-134, lat 18-53), including Nanchuan.
rng = np.random.default_rng(20261123)
CHINA = [
    (107.2618, 28.912),
    (116.397, 39.909),
    (121.47, 31.23),
    (87.6, 43.8),
    (126.6, 45.8),
    (110.3, 20.0),
    (91.1, 29.65),
] + [
    (float(x), float(y))
    for x, y in zip(rng.uniform(74, 134, 300), rng.uniform(18, 53, 300), strict=True)
]


def metres(a, b):
    d, _ = inverse(a[0], a[1], b[0], b[1])
    return float(d[0])


@pytest.mark.parametrize("lon,lat", CHINA)
def test_forward_agrees_with_reference(lon, lat):
    ref = prcoords.wgs_gcj(prcoords.Coords(lat, lon))
    assert metres(coords.wgs84_to_gcj02(lon, lat), (ref.lon, ref.lat)) < 1.0
    ref_bd = prcoords.wgs_bd(prcoords.Coords(lat, lon))
    assert metres(coords.from_wgs84(lon, lat, "bd09"), (ref_bd.lon, ref_bd.lat)) < 1.0


@pytest.mark.parametrize("lon,lat", CHINA)
def test_inverse_agrees_with_reference_and_round_trips(lon, lat):
    g = coords.wgs84_to_gcj02(lon, lat)
    ref = prcoords.gcj_wgs_bored(prcoords.Coords(g[1], g[0]))
    back = coords.gcj02_to_wgs84(*g)
    assert metres(back, (ref.lon, ref.lat)) < 2.0
    assert metres(back, (lon, lat)) < 0.01  # iterative inverse: far better than 2 m
    b = coords.from_wgs84(lon, lat, "bd09")
    ref_b = prcoords.bd_wgs_bored(prcoords.Coords(b[1], b[0]))
    back_b = coords.to_wgs84(*b, "bd09")
    assert metres(back_b, (ref_b.lon, ref_b.lat)) < 2.0
    assert metres(back_b, (lon, lat)) < 0.01


def test_shift_in_nanchuan_is_about_500_m():
    shift = metres(coords.wgs84_to_gcj02(107.2618, 28.912), (107.2618, 28.912))
    assert 400 < shift < 700


def test_no_shift_outside_china():
    assert coords.wgs84_to_gcj02(2.35, 48.85) == (2.35, 48.85)
    assert coords.gcj02_to_wgs84(-74.0, 40.7) == (-74.0, 40.7)


def test_arrays_are_vectorised():
    lons, lats = np.array([107.0, 116.4]), np.array([29.0, 39.9])
    glon, glat = coords.wgs84_to_gcj02(lons, lats)
    assert glon.shape == (2,)
    assert glon[1] == pytest.approx(coords.wgs84_to_gcj02(116.4, 39.9)[0])


@given(st.floats(74, 134), st.floats(18, 53))
def test_round_trip_property(lon, lat):
    for crs in coords.CRS:
        x, y = coords.to_wgs84(*coords.from_wgs84(lon, lat, crs), crs)
        assert math.isclose(x, lon, abs_tol=1e-8) and math.isclose(y, lat, abs_tol=1e-8)


@pytest.mark.parametrize(
    "lon,lat,message",
    [
        (181, 0, "lon must be within"),
        (0, -91, "lat must be within"),
        (float("nan"), 0, "finite"),
        (0, float("inf"), "finite"),
        ("abc", 0, "must be a number"),
        (None, 0, "must be a number"),
        (True, 0, "must be a number"),
    ],
)
def test_check_lonlat_rejects(lon, lat, message):
    with pytest.raises(InvalidCoordinates, match=message):
        coords.check_lonlat(lon, lat)


def test_check_lonlat_accepts_strings_of_numbers():
    assert coords.check_lonlat("107.5", "29") == (107.5, 29.0)


def test_gcj02_and_bd09_is_both_conversions_at_once():
    import random

    from stations.coords import gcj02_and_bd09, gcj02_to_bd09, wgs84_to_gcj02

    rng = random.Random(3)
    for _ in range(500):
        lon, lat = rng.uniform(70, 140), rng.uniform(0, 60)  # inside China and around it
        glon, glat = wgs84_to_gcj02(lon, lat)
        assert gcj02_and_bd09(lon, lat) == (glon, glat, *gcj02_to_bd09(glon, glat))


def test_wgs84_position_checks_then_converts():
    gx, gy = coords.wgs84_to_gcj02(107.1, 29.1)
    wx, wy = coords.wgs84_position(str(gx), gy, coords.CRS.GCJ02)
    assert type(wx) is float and type(wy) is float
    assert abs(wx - 107.1) < 1e-9 and abs(wy - 29.1) < 1e-9
    assert coords.wgs84_position("107.5", 29, "wgs84") == (107.5, 29.0)
    with pytest.raises(InvalidCoordinates, match="^row 3: lat must be within"):
        coords.wgs84_position(107, 95, coords.CRS.BD09, name="row 3")


def test_in_bbox_includes_edges():
    lons, lats = np.array([107.0, 107.5, 108.0, 107.2]), np.array([29.0, 29.5, 29.2, 30.1])
    inside = coords.in_bbox(lons, lats, (107.0, 29.0, 107.5, 29.5))
    assert inside.tolist() == [True, True, False, False]


@pytest.mark.parametrize(
    ("lon", "lat", "crs"),
    [(0.0, -90.0, "bd09"), (107.0, -89.99999, "bd09"), (-180.0, -90.0, "bd09")],
)
def test_wgs84_position_refuses_what_converts_out_of_range(lon, lat, crs):
    # BD-09 near a pole lies past it in WGS84: the geodesics then answered NaN (a 500).
    with pytest.raises(InvalidCoordinates, match="demand\\[0\\]: lon/lat .* in bd09 converts to"):
        coords.wgs84_position(lon, lat, crs, name="demand[0]")


def test_position_in_refuses_what_has_no_position_in_range():
    assert coords.position_in(107.0, 29.0, "gcj02") == coords.wgs84_to_gcj02(107.0, 29.0)
    with pytest.raises(InvalidCoordinates, match="to: .* in bd09, outside lon"):
        coords.position_in(179.9999, 89.9999, coords.CRS.BD09, name="to")


@pytest.mark.parametrize(
    "value",
    [10**400, -(10**400), "1e309", "9" * 5000],
    ids=["10**400", "-10**400", "1e309", "9*5000"],
)
def test_check_lonlat_refuses_huge_numbers_naming_them_briefly(value):
    with pytest.raises(InvalidCoordinates, match="^p: lon must be") as info:
        coords.check_lonlat(value, 0, name="p")
    assert len(str(info.value)) < 140  # the value is echoed, cut short


@given(
    st.floats(-180, 180),
    st.floats(-90, 90),
    st.sampled_from(list(coords.CRS)),
)
def test_conversions_answer_in_range_or_refuse(lon, lat, crs):
    for convert in (coords.wgs84_position, coords.position_in):
        try:
            x, y = convert(lon, lat, crs)
        except InvalidCoordinates:
            continue
        assert math.isfinite(x) and math.isfinite(y)
        assert -180 <= x <= 180 and -90 <= y <= 90
