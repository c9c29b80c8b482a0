"""Planning routes through TestClient, and the planning map."""

import pytest


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
