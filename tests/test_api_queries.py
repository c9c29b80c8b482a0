import pytest

from stations.coords import wgs84_to_gcj02


def test_nearest_delong(client):
    r = client.get("/api/nearest", params={"lon": 107.2618, "lat": 28.912, "k": 3})
    assert r.status_code == 200 and r.headers["content-type"] == "application/geo+json"
    feats = r.json()["features"]
    assert feats[0]["id"] == "delong-yinxing-union-station"
    assert [f["properties"]["distance_m"] for f in feats] == sorted(
        f["properties"]["distance_m"] for f in feats
    )
    assert set(feats[0]["properties"]["navigation"]) == {
        "amap_ride",
        "amap_walk",
        "baidu_ride",
        "baidu_walk",
    }


def test_nearest_gcj02_and_by_loop(client):
    glon, glat = wgs84_to_gcj02(107.2618, 28.912)
    r = client.get("/api/nearest", params={"lon": glon, "lat": glat, "crs": "gcj02", "by": "loop"})
    body = r.json()
    props = body["features"][0]["properties"]
    assert body["features"][0]["id"] == "delong-yinxing-union-station"
    assert {"loop_distance_m", "direction", "offroute_m", "loop_km"} <= set(props)
    assert body["loop_calibration"]["basis"] == "official_length"


def test_within(client):
    r = client.get("/api/within", params={"lon": 107.2618, "lat": 28.912, "radius_m": 9000})
    ids = [f["id"] for f in r.json()["features"]]
    assert ids == ["delong-yinxing-union-station", "toudu-union-station"]


@pytest.mark.parametrize(
    "params,needle",
    [
        ({"lon": 107, "lat": 91}, "lat must be within [-90, 90]"),
        ({"lon": -181, "lat": 29}, "lon must be within [-180, 180]"),
        ({"lon": "nan", "lat": 29}, "parameter 'lon': Input should be a finite number"),
        ({"lon": "inf", "lat": 29}, "parameter 'lon': Input should be a finite number"),
        ({"lon": "x", "lat": 29}, "parameter 'lon'"),
        ({"lat": 29}, "parameter 'lon': Field required"),
        ({"lon": 107, "lat": 29, "k": 0}, "k must be from 1 to 100"),
        ({"lon": 107, "lat": 29, "k": 101}, "k must be from 1 to 100"),
        ({"lon": 107, "lat": 29, "crs": "utm"}, "parameter 'crs'"),
        (
            {"lon": 107, "lat": 29, "kind": "spa"},
            "parameter 'kind.0': Input should be 'union_station'",
        ),
        ({"lon": 107, "lat": 29, "amenity": "sauna"}, "parameter 'amenity.0'"),
        ({"lon": 107, "lat": 29, "by": "air"}, "parameter 'by'"),
        ({"lon": 107, "lat": 29, "radius": 5}, "unknown query parameter(s) radius"),
    ],
)
def test_nearest_bad_input_is_400_naming_the_parameter(client, params, needle):
    r = client.get("/api/nearest", params=params)
    assert r.status_code == 400, r.text
    assert needle in r.json()["detail"]


def test_within_bad_radius(client):
    r = client.get("/api/within", params={"lon": 107, "lat": 29, "radius_m": 10_000_000})
    assert r.status_code == 400 and "radius_m must be from 0 to 200000" in r.json()["detail"]
    r = client.get("/api/within", params={"lon": 107, "lat": 29})
    assert r.status_code == 400 and "radius_m" in r.json()["detail"]


@pytest.mark.parametrize("bbox", ["1,2,3", "a,b,c,d", "107,29,106,30", "0,-95,1,1"])
def test_bad_bbox(client, bbox):
    r = client.get("/api/stations", params={"bbox": bbox})
    assert r.status_code == 400 and "bbox" in r.json()["detail"]


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("/api/nearest?lon=0&lat=-90&crs=bd09", "lon/lat (0, -90) in bd09 converts to"),
        ("/api/nearest?lon=107.2&lat=-89.99999&crs=bd09&by=loop", "in bd09 converts to"),
        ("/api/within?lon=0&lat=-90&crs=bd09&radius_m=100", "in bd09 converts to"),
        ("/api/convert?lon=0&lat=-90&crs=bd09&to=gcj02", "in bd09 converts to"),
        (
            "/api/convert?lon=179.9999&lat=89.9999&to=bd09",
            "to: lon/lat (179.9999, 89.9999) in wgs84",
        ),
        ("/api/nearest?lon=107.2&lat=28.9&max_distance_m=1e309", "parameter 'max_distance_m'"),
        ("/api/within?lon=107.2&lat=28.9&radius_m=-inf", "parameter 'radius_m'"),
        ("/api/nearest?lon=107.2&lat=28.9&k=18446744073709551616", "parameter 'k'"),
    ],
)
def test_positions_out_of_range_after_a_datum_shift_are_400s(client, url, needle):
    # The datum formulas carry a position near a pole past it: NaN distances answered 500, and
    # /api/convert answered latitudes above 90.
    r = client.get(url)
    assert r.status_code == 400, r.text
    assert needle in r.json()["detail"]
