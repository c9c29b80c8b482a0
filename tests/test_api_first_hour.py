"""What a new user's first requests meet: swapped or far-away positions, a malformed body, a
repeated parameter, an oversized OGC page."""

from __future__ import annotations

import shutil

import pytest
from fastapi.testclient import TestClient

from conftest import BUNDLED_LOOP, BUNDLED_STATIONS
from stations import query
from stations.api import create_app
from stations.settings import Settings

SWAPPED = {"lon": 28.912, "lat": 107.2618}  # Delong, typed latitude first


@pytest.mark.parametrize("hot", [True, False])
def test_a_swapped_position_in_china_is_named(client, hot):
    params = {**SWAPPED, **({} if hot else {"open_now": "false", "k": 3})}
    r = client.get("/api/nearest", params=params)
    assert r.status_code == 400
    detail = r.json()["detail"]
    assert "lat must be within [-90, 90]" in detail
    assert "did you swap longitude and latitude? lon=107.2618, lat=28.912 is in China" in detail


def test_an_out_of_range_position_not_in_china_swapped_gets_no_swap_hint(client):
    detail = client.get("/api/nearest", params={"lon": 0, "lat": 95}).json()["detail"]
    assert "swap" not in detail


def test_a_far_away_point_is_answered_with_a_note(client):
    far = client.get("/api/nearest", params={"lon": 28.912, "lat": 50}).json()
    assert far["features"]  # still answered: the nearest stations, however far
    assert far["note"].startswith("no station within 200 km: the nearest is 6,7")
    assert "swap" not in far["note"]  # (50, 28.912) is not in China
    near = client.get("/api/nearest", params={"lon": 107.2618, "lat": 28.912}).json()
    assert "note" not in near


def test_a_far_away_point_whose_swap_is_in_china_asks_about_it(client):
    r = client.get("/api/nearest", params={"lon": 28.912, "lat": 80, "by": "loop"}).json()
    assert "did you swap longitude and latitude?" in r["note"]


def test_far_note_only_past_the_threshold():
    assert query.far_note([], 0, 0) is None
    row = (None, {"distance_m": query.FAR_AWAY_M})
    assert query.far_note([row], 107, 29) is None  # type: ignore[list-item]
    row = (None, {"distance_m": query.FAR_AWAY_M + 1})
    assert query.far_note([row], 107, 29) is not None  # type: ignore[list-item]


def test_malformed_json_body_with_a_token(tmp_path):
    shutil.copy(BUNDLED_STATIONS, tmp_path / "stations.geojson")
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        stations_path=tmp_path / "stations.geojson",
        loop_path=BUNDLED_LOOP,
        admin_token="secret-token",
    )
    with TestClient(create_app(settings)) as api:
        r = api.patch(
            "/api/stations/delong-yinxing-union-station",
            content=b'{"properties": {"name": }',
            headers={"Content-Type": "application/json", "Authorization": "Bearer secret-token"},
        )
    assert r.status_code == 400
    detail = r.json()["detail"]
    assert detail.startswith("the body is not valid JSON: Expecting value"), detail
    assert "parameter" not in detail


@pytest.mark.parametrize(
    "url",
    [
        "/api/nearest?lon=107.26&lat=28.91&lon=106",
        "/api/stations?limit=3&limit=4",
        "/ogc/collections/stations/items?offset=1&offset=2",
        "/api/within?lon=107.26&lat=28.91&radius_m=1000&radius_m=2000",
    ],
)
def test_a_repeated_single_valued_parameter_is_refused(client, url):
    r = client.get(url)
    assert r.status_code == 400
    assert "is given more than once" in r.json()["detail"]


def test_repeatable_parameters_still_repeat(client):
    r = client.get("/api/nearest?lon=107.26&lat=28.91&kind=union_station&kind=warm_station")
    assert r.status_code == 200


def test_ogc_items_limit_is_clamped_to_the_maximum(client):
    r = client.get("/ogc/collections/stations/items", params={"limit": 100_000})
    assert r.status_code == 200
    body = r.json()
    assert body["numberReturned"] == body["numberMatched"] == 10
    assert all("limit=10000" in link["href"] for link in body["links"] if "items" in link["href"])
