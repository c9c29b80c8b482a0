"""Planning routes through TestClient, and the planning map."""

import math

import pytest

from stations.coords import CRS
from stations.errors import InvalidInput
from stations.planning import offloop
from stations.planning.demand import parse_demand_csv, parse_demand_geojson
from stations.planning.sites import suggest


def test_coverage_route(client):
    r = client.get("/api/planning/coverage", params={"radius_m": 5000})
    assert r.status_code == 200
    body = r.json()
    assert body["radius_m"] == 5000 and body["gaps"]["type"] == "FeatureCollection"
    assert 0 < body["covered_fraction"] < 1
    planned = client.get(
        "/api/planning/coverage", params={"radius_m": 5000, "include_planned": "true"}
    ).json()
    assert planned["statuses"] == ["open", "planned"]


def test_suggest_get_and_post(client):
    r = client.get("/api/planning/suggest", params={"count": 2, "radius_m": 5000})
    assert r.status_code == 200 and r.headers["content-type"] == "application/geo+json"
    body = r.json()
    assert len(body["features"]) == 2
    assert (
        body["objective"]["after"]["max_distance_m"] < body["objective"]["before"]["max_distance_m"]
    )
    post = client.post(
        "/api/planning/suggest",
        json={
            "count": 1,
            "radius_m": 3000,
            "demand": [
                {"lon": 107.2618, "lat": 28.912, "weight": 3},
                {"lon": 107.33, "lat": 29.05},
            ],
        },
    )
    assert post.status_code == 200, post.text
    assert post.json()["demand"]["total_weight"] == 4


@pytest.mark.parametrize(
    ("method", "params", "body", "needle"),
    [
        ("get", {"radius_m": 0}, None, "radius_m"),
        ("get", {"radius_m": 1e9}, None, "at most"),
        ("get", {}, None, "radius_m"),
        ("get", {"radius_m": 5000, "foo": 1}, None, "unknown query parameter"),
        ("post", {}, {"count": 1, "radius_m": 3000, "demand": []}, "demand"),
        ("post", {}, {"count": 1, "radius_m": 3000, "demand": [{"lon": 200, "lat": 1}]}, "lon"),
        ("post", {}, {"count": -1, "radius_m": 3000, "demand": [{"lon": 1, "lat": 1}]}, "count"),
        ("post", {}, {"count": 1, "radius_m": 3000, "demand": [{"lon": 1, "lat": 1}], "x": 1}, "x"),
    ],
)
def test_bad_planning_input(client, method, params, body, needle):
    path = "/api/planning/coverage" if method == "get" else "/api/planning/suggest"
    r = client.request(method.upper(), path, params=params, json=body)
    assert r.status_code == 400, r.text
    assert needle in r.json()["detail"]


def test_malformed_json_body(client):
    r = client.post(
        "/api/planning/suggest", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400


def test_planning_map_page(client):
    r = client.get("/map", params={"planning": "true", "count": 2})
    assert r.status_code == 200
    assert r.text.count("st-suggested") >= 2
    assert "st-planning-summary" in r.text


def _suggest_raw(client, demand: str, crs: str = "wgs84"):
    body = f'{{"count": 1, "radius_m": 3000, "crs": "{crs}", "demand": [{demand}]}}'
    return client.post(
        "/api/planning/suggest", content=body, headers={"content-type": "application/json"}
    )


@pytest.mark.parametrize(
    ("demand", "crs", "needle"),
    [
        ('{"lon": 107.26, "lat": 28.91, "weight": Infinity}', "wgs84", "weight: numbers must be"),
        ('{"lon": 107.26, "lat": 28.91, "weight": NaN}', "wgs84", "weight: numbers must be"),
        ('{"lon": 107.26, "lat": 28.91, "weight": 1e309}', "wgs84", "weight: numbers must be"),
        ('{"lon": 107.26, "lat": 28.91, "weight": 1e308}', "wgs84", "demand.0.weight"),
        ('{"lon": 107.26, "lat": -90, "weight": 1}', "bd09", "demand[0]: lon/lat (107.26, -90)"),
        ('{"lon": 1e400, "lat": 28.91}', "wgs84", "body.demand[0].lon: numbers must be finite"),
    ],
)
def test_demand_must_be_finite_and_in_range(client, demand, crs, needle):
    # Non-finite weights reached the solver (it raised after seconds, or answered nonsense);
    # BD-09 demand near a pole became NaN on the ring (500).
    r = _suggest_raw(client, demand, crs)
    assert r.status_code == 400, r.text
    assert needle in r.json()["detail"]


def test_suggest_checks_demand_for_every_caller(bundled):
    for weight in (math.inf, math.nan, -1.0, 2e9):
        with pytest.raises(InvalidInput, match=r"demand\[1\]: weight must be a number from 0"):
            suggest(bundled, 1, 3000.0, [(107.26, 28.91, 1.0), (107.3, 28.95, weight)])
    with pytest.raises(InvalidInput, match="radius must be a positive number"):
        suggest(bundled, 1, math.inf, [(107.26, 28.91, 1.0)])


@pytest.mark.parametrize("weight", ["inf", "nan", "-1", "1e10", "x"])
def test_demand_csv_weights_are_checked(weight):
    with pytest.raises(InvalidInput, match="row 3: weight must be a number from 0 to 1e"):
        parse_demand_csv(f"lon,lat,weight\n107.26,28.91,1\n107.3,28.95,{weight}\n", CRS.WGS84, "d")


def test_demand_geojson_weights_are_checked():
    for weight in ("1e400", '"3"', "true", "1e10"):
        point = '"geometry": {"type": "Point", "coordinates": [107.3, 29]}'
        feature = f'{{"type": "Feature", "properties": {{"weight": {weight}}}, {point}}}'
        text = f'{{"type": "FeatureCollection", "features": [{feature}]}}'
        with pytest.raises(InvalidInput, match="feature 0: weight must be a number"):
            parse_demand_geojson(text, CRS.WGS84, "d")


OFF_LOOP = {
    "count": 1,
    "radius_m": 3000,
    "demand": [{"lon": 107.0984, "lat": 29.1566, "weight": 5}],
}


def test_off_loop_solves_one_at_a_time(client):
    """A solve takes a core for seconds: a second one while it runs is a 429, not a queue."""
    assert offloop.SOLVER_SLOTS.acquire(blocking=False)  # a solve in progress
    try:
        busy = client.post("/api/planning/suggest", json=OFF_LOOP)
    finally:
        offloop.SOLVER_SLOTS.release()
    assert busy.status_code == 429
    assert "another off-loop request" in busy.json()["detail"]
    assert int(busy.headers["retry-after"]) > 0
    done = client.post("/api/planning/suggest", json=OFF_LOOP)
    assert done.status_code == 200 and "spopt" in done.json()["solver"]
