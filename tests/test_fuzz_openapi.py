"""Property-based fuzzing of the whole OpenAPI schema: no 5xx, answers conform to the schema.

Schemathesis draws requests from the schema; hooks on this schema widen its strategies with
hostile values like those of `hostile` (NaN and infinities, integers past 64 bits, digit
strings past any parser's limit, empty and 10 kB strings, NUL, lone surrogates in bodies,
path traversal, markup, SQL, a right-to-left override, lists where one value goes), so that
some of every operation's examples carry one in a query parameter, a path parameter or a body
member. Writes go to a copy of the data, with the admin token, so bodies reach validation.
"""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import BUNDLED_LOOP, BUNDLED_STATIONS
from hostile import BODIES, HOSTILE_JSON, HOSTILE_TEXT
from stations.api import create_app
from stations.settings import Settings

TOKEN = "fuzz-token-0123456789"


def _data() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="stations-fuzz-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    shutil.copy(BUNDLED_STATIONS, folder / "stations.geojson")
    shutil.copy(BUNDLED_LOOP, folder / "loop178.geojson")
    return folder


DATA = _data()
app = create_app(
    Settings(
        _env_file=None,  # type: ignore[call-arg]
        stations_path=DATA / "stations.geojson",
        loop_path=DATA / "loop178.geojson",
        admin_token=TOKEN,
        report_rate_per_hour=10_000,
        compact_idle_s=3600,
        page_requests_per_minute=100_000,  # every example reaches the pages' own checks
    )
)
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


def _with_one_hostile(values: dict[str, Any] | None, names: list[str], pool: list[Any]) -> Any:
    """A strategy: ``values`` with one of ``names`` set to one value of ``pool``."""
    if not names:
        return st.just(values)
    return st.tuples(st.sampled_from(names), st.sampled_from(pool)).map(
        lambda pick: {**(values or {}), pick[0]: pick[1]}
    )


def _names(context: Any, location: str) -> list[str]:
    operation = context.operation
    if operation is None:
        return []
    return [p.name for p in getattr(operation, location)]


@schema.hook
def flatmap_query(context: Any, query: dict[str, Any] | None) -> Any:
    """A third of the queries keep what the schema drew; the others get one hostile value."""
    hostile = _with_one_hostile(query, _names(context, "query"), HOSTILE_TEXT)
    return st.one_of(st.just(query), hostile, hostile)


@schema.hook
def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any] | None) -> Any:
    """Path parameters, some replaced by a hostile value (no surrogates: URLs cannot hold them)."""
    pool = [v for v in HOSTILE_TEXT if v and "/" not in v] + [2**64, -(2**63) - 1]
    hostile = _with_one_hostile(path_parameters, _names(context, "path_parameters"), pool)
    return st.one_of(st.just(path_parameters), hostile, hostile)


def _locations(value: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every member and item of a JSON value, by its path (depth-first, containers first)."""
    found: list[tuple[Any, ...]] = []
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, item in items:
        found.append((*at, key))
        found += _locations(item, (*at, key))
    return found


def _replaced(body: Any, at: tuple[Any, ...], new: Any) -> Any:
    if not at:
        return new
    copy = body.copy()
    copy[at[0]] = _replaced(body[at[0]], at[1:], new)
    return copy


def _hostile_member(body: Any) -> Any:
    """A strategy: ``body`` with one member (at any depth), or all of it, hostile."""
    spots = [(), *_locations(body)]
    return st.tuples(st.sampled_from(spots), st.sampled_from(HOSTILE_JSON)).map(
        lambda pick: _replaced(body, *pick)
    )


@schema.hook
def flatmap_body(context: Any, body: Any) -> Any:
    """Bodies as drawn, or with a hostile member; so too the route's valid body (`BODIES`).

    A body drawn from a loose schema (a Feature is any object to OpenAPI) is refused before its
    members are read; the valid one gets a hostile member that reaches the code behind.
    """
    operation = context.operation
    valid = BODIES.get((operation.method.upper(), operation.path)) if operation else None
    options = [st.just(body), _hostile_member(body)]
    if valid is not None:
        options.append(_hostile_member(valid))
    return st.one_of(options)


def send(client: TestClient, case: Any) -> Any:
    """Send ``case`` as schemathesis would, but with JSON that may hold NaN and infinities.

    Schemathesis serialises bodies with ``allow_nan=False`` (NaN is not JSON), yet clients send
    it: the body goes out as Python's `json` writes it.
    """
    kwargs = case.as_transport_kwargs(headers={"authorization": f"Bearer {TOKEN}"})
    content = None
    if "json" in kwargs:
        content = json.dumps(kwargs.pop("json")).encode()
    # a header value drawn outside ASCII goes out as its UTF-8 bytes, as a raw client sends it
    headers = {k: v.encode() if isinstance(v, str) else v for k, v in kwargs["headers"].items()}
    return client.request(
        kwargs["method"],
        kwargs["url"],
        params=kwargs.get("params"),
        headers=headers,
        content=content,
    )


@pytest.fixture(scope="module")
def fuzz_client() -> Iterator[TestClient]:
    """One client for every example: the lifespan (loading the data) runs once."""
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_never_fails(fuzz_client, case):
    response = send(fuzz_client, case)
    assert response.status_code < 500, response.text
    if 400 <= response.status_code < 500:
        assert isinstance(response.json()["detail"], str)
    # Ranges of lon/lat, NaN, k and radius limits are checked by the domain layer (one message
    # for CLI and API), not in the schema, so "schema-valid request rejected" is not a defect here.
    # And the hooks above replace what schemathesis drew (a body of random bytes may become a
    # valid body with one hostile but legal member, such as lat -90), so its own label of a
    # case as invalid no longer describes what is sent: "invalid request accepted" is not
    # judged either. What is judged is above (no 5xx, a JSON detail) and the response schemas.
    case.validate_response(
        response,
        excluded_checks=[
            schemathesis.checks.ignored_auth,
            schemathesis.checks.positive_data_acceptance,
            schemathesis.checks.negative_data_rejection,
        ],
    )


def test_the_hooks_put_hostile_values_in_the_examples():
    # The hooks must reach the strategies: draw a few cases and find hostile values in them.
    operation = schema["/api/nearest"]["GET"]
    seen: list[Any] = []

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(operation.as_strategy())
    def collect(case):
        seen.extend((case.query or {}).values())

    collect()
    assert any(v in HOSTILE_TEXT for v in seen)
