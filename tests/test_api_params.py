"""One parameter system: every route's query string is a model, refused and documented from it."""

import pytest
from fastapi import APIRouter, Depends

from stations.api.params import NO_QUERY, QueryParams, StationsQuery, document_query_parameters
from stations.errors import InvalidInput


def _plain_get_routes(client):
    """Documented GET paths without path parameters, with their query parameters' names."""
    paths = client.get("/openapi.json").json()["paths"]
    for path, operations in paths.items():
        if "{" not in path and "get" in operations:
            names = [p["name"] for p in operations["get"].get("parameters", [])]
            yield path, names


def test_every_route_refuses_an_unknown_parameter_naming_what_it_takes(client):
    routes = list(_plain_get_routes(client))
    assert len(routes) > 10
    for path, names in routes:
        r = client.get(path, params={"zz": "1"})
        allowed = ", ".join(sorted(names)) or "none"
        assert r.status_code == 400, path
        assert r.json()["detail"] == f"unknown query parameter(s) zz; allowed: {allowed}", path


def test_a_bad_bbox_is_reported_first_and_an_unknown_name_before_it(client):
    r = client.get("/api/stations", params={"bbox": "1,2,3", "limit": 0})
    assert r.status_code == 400 and r.json()["detail"].startswith("bbox must be")
    r = client.get("/api/stations", params={"bbox": "1,2,3", "zz": 1})
    assert r.json()["detail"].startswith("unknown query parameter(s) zz")
    r = client.get("/api/stations", params={"limit": 0, "offset": -1})
    assert r.json()["detail"].count("parameter '") == 2  # every value error at once


def test_token_routes_refuse_unknown_names_before_the_token_and_values_after_it(client):
    assert client.get("/api/reports", params={"zz": 1}).status_code == 400
    assert client.get("/api/reports", params={"status": "maybe"}).status_code == 403
    assert client.delete("/api/stations/x", params={"zz": 1}).status_code == 400
    assert client.post("/api/stations", params={"crs": "mars"}, json={}).status_code == 403


def test_the_parser_reads_repeated_values_and_refuses_a_repeated_single_one():
    q = QueryParams(StationsQuery).parse([("kind", "warm_station"), ("kind", "union_station")])
    assert [k.value for k in q.kind] == ["warm_station", "union_station"]
    with pytest.raises(InvalidInput, match="'limit' is given more than once"):
        QueryParams(StationsQuery).parse([("limit", "3"), ("limit", "4")])


def test_a_route_without_declared_query_parameters_fails_at_start_up():
    router = APIRouter()

    @router.get("/bare")
    async def read_bare() -> None:
        """No QueryParams: a typo in its query string would pass silently."""

    with pytest.raises(TypeError, match="/bare"):
        document_query_parameters(router)

    declared = APIRouter()

    @declared.get("/bare", dependencies=[Depends(NO_QUERY)])
    async def read_declared() -> None:
        """Takes no query parameters."""

    document_query_parameters(declared)


def test_shared_state_is_typed_and_holds_the_page_cache(client):
    services = client.app.services
    assert services.settings.cache_max_age_s >= 0
    assert client.get("/").status_code == 200
    assert any(key[1] == "rider" for key in services.pages)
