"""Every route and method of the OpenAPI document, sent hostile values: never a 5xx.

Each parameter (query, path, and every field of a JSON body, nested ones included) gets each
value of a list an attacker or a careless client would send, the others staying valid, so the
hostile one is what reaches the code. Whole bodies are replaced too (not JSON, nested deep,
the wrong content type). Write routes are swept with and without a valid admin token. Every
answer must be below 500, a 4xx must be JSON ``{"detail": "..."}``, and nothing may be logged
at ERROR. Runs in-process for speed; `test_hostile_subset_over_http` sends a sample to a real
`stations serve` and reads its log.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi.testclient import TestClient

from conftest import BUNDLED_LOOP, BUNDLED_STATIONS
from helpers import serve
from hostile import BODIES, JSON_VALUES, RESOLVE_BODY, SUGGEST_BODY, WHOLE_BODIES, WIRE_VALUES
from stations.api import create_app
from stations.settings import Settings

TOKEN = "sweep-token-0123456789"

#: A valid value for each parameter, so that only the hostile one is wrong.
VALID = {
    "lon": "107.2618",
    "lat": "28.912",
    "radius_m": "3000",
    "count": "1",
    "zoom": "10",
    "bbox": "107,28.8,107.5,29.2",
    "station_id": "toudu-union-station",
    "collection_id": "stations",
    "feature_id": "toudu-union-station",
    "report_id": "1",
    "opening_hours": "Mo-Fr 08:00-18:00",
}

#: Parameters whose meaning depends on the datum (swept in every datum).
POSITIONS = {"lon", "lat", "bbox"}


def operations(app: Any) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path template, operation) for every operation the app documents."""
    ops = []
    for path, methods in app.openapi()["paths"].items():
        for method, op in methods.items():
            if method != "parameters":
                ops.append((method.upper(), path, op))
    return ops


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sweep")
    shutil.copy(BUNDLED_STATIONS, folder / "stations.geojson")
    shutil.copy(BUNDLED_LOOP, folder / "loop178.geojson")
    return folder


def sweep_settings(data: Path) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        stations_path=data / "stations.geojson",
        loop_path=data / "loop178.geojson",
        admin_token=TOKEN,
        compact_idle_s=3600,
        report_rate_per_hour=10_000,  # the limit would answer 429 before the values are read
        page_requests_per_minute=100_000,  # so would the page limit
    )


@pytest.fixture(scope="module")
def app(data: Path) -> Any:
    return create_app(sweep_settings(data))


@pytest.fixture(scope="module")
def client(app: Any) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def _params(op: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in op.get("parameters", []) if p["in"] in ("query", "path")]


def _url(
    path: str,
    op: dict[str, Any],
    hostile: tuple[str, str] | None,
    repeat: bool = False,
    datums: dict[str, str] | None = None,
) -> str:
    """The path with each path parameter and required query parameter valid, but ``hostile``.

    ``datums`` sets ``crs`` (and ``to``): numbers valid in one datum may not be in another.
    """
    name_bad, value_bad = hostile or ("", "")
    query: list[str] = []
    for p in _params(op):
        name = p["name"]
        value = value_bad if name == name_bad else quote(VALID.get(name, ""), safe=",")
        if p["in"] == "path":
            path = path.replace("{" + name + "}", value)
        elif name == name_bad:
            query += [f"{name}={value}"] * (2 if repeat else 1)
        elif name in (datums or {}):
            query.append(f"{name}={(datums or {})[name]}")
        elif p.get("required"):
            query.append(f"{name}={value}")
    return path + ("?" + "&".join(query) if query else "")


def _datums(op: dict[str, Any]) -> list[dict[str, str]]:
    """The datum settings to sweep an operation with: wgs84, and the others where it takes one."""
    names = {p["name"] for p in _params(op)} & {"crs", "to"}
    out: list[dict[str, str]] = [{}]
    for datum in ("gcj02", "bd09") if names else ():
        out.append(dict.fromkeys(names, datum))
        if "to" in names:
            out.append({"crs": "wgs84", "to": datum})
    return out


def _placeholders(value: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every location in a JSON value (dict keys and list items), leaves and containers."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*at, key)
            yield from _placeholders(item, (*at, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield (*at, i)
            yield from _placeholders(item, (*at, i))


MARK = "\x01HOSTILE\x01"


def _body_with(body: Any, at: tuple[Any, ...], raw: str) -> bytes:
    """``body`` serialised with the value at ``at`` replaced by the raw JSON text ``raw``."""
    copy = json.loads(json.dumps(body))
    target = copy
    for step in at[:-1]:
        target = target[step]
    target[at[-1]] = MARK
    text = json.dumps(copy, ensure_ascii=False).replace(json.dumps(MARK), raw)
    return text.encode("utf-8", "surrogateescape")


class Checker:
    """Sends requests and collects every answer that breaks the rules."""

    def __init__(self, client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
        self.client = client
        self.caplog = caplog
        self.failures: list[str] = []
        self.sent = 0

    def send(
        self, method: str, url: str, content: bytes | None = None, label: str = "", **headers: str
    ) -> None:
        self.sent += 1
        r = self.client.request(method, url, content=content, headers=headers)
        what = f"{method} {url[:120]} {label or (content or b'')[:80]!r}"
        if r.status_code >= 500:
            self.failures.append(f"{r.status_code} {what}: {r.text[:200]}")
        elif r.status_code >= 400:
            try:
                detail = r.json()["detail"]
            except (ValueError, KeyError, TypeError):
                self.failures.append(
                    f"{r.status_code} without a JSON detail: {what}: {r.text[:200]}"
                )
                return
            if not isinstance(detail, str) or not detail:
                self.failures.append(f"{r.status_code} detail not a message: {what}: {detail!r}")
        errors = [rec for rec in self.caplog.records if rec.levelno >= logging.ERROR]
        if errors:
            self.failures.append(f"logged {errors[0].getMessage()[:200]} on {what}")
            self.caplog.clear()

    def check(self) -> None:
        assert self.sent > 0
        assert not self.failures, f"{len(self.failures)} of {self.sent}:\n" + "\n".join(
            self.failures[:30]
        )


def _sweep_parameters(check: Checker, method: str, path: str, op: dict[str, Any]) -> None:
    body = BODIES.get((method, path))
    content = json.dumps(body).encode() if body is not None else None
    ctype = {"content-type": "application/json"} if body is not None else {}
    for datums in _datums(op):
        for p in _params(op):
            if p["name"] in datums or (datums and p["name"] not in POSITIONS):
                continue  # in other datums, only positions change meaning
            for value in WIRE_VALUES:
                url = _url(path, op, (p["name"], value), False, datums)
                check.send(method, url, content, **ctype)
            if p["in"] == "query":  # the parameter twice: a list where one value goes
                for value in WIRE_VALUES[:12]:
                    url = _url(path, op, (p["name"], value), True, datums)
                    check.send(method, url, content, **ctype)
    # An unknown parameter, and one with a hostile name.
    check.send(method, _url(path, op, None) + "&%ED%A0%80=1", content, **ctype)
    check.send(method, _url(path, op, None).replace("?", "?x=1&", 1), content, **ctype)


def _sweep_body(check: Checker, method: str, path: str, op: dict[str, Any]) -> None:
    base = BODIES[(method, path)]
    url = _url(path, op, None)
    json_type = {"content-type": "application/json"}
    crs_in = isinstance(base, dict) and "crs" in base  # the loop's bodies are lists of fixes
    variants = [base] + [{**base, "crs": d} for d in ("gcj02", "bd09") if crs_in]
    for body in variants:
        for at in _placeholders(body):
            for raw in JSON_VALUES:
                crs = body.get("crs") if isinstance(body, dict) else None
                label = f"body {'.'.join(map(str, at))} = {raw[:60]!r} ({crs})"
                check.send(method, url, _body_with(body, at, raw), label, **json_type)
    for raw in JSON_VALUES if isinstance(base, dict) else []:  # an unknown member
        check.send(method, url, _body_with({**base, "zz": 0}, ("zz",), raw), **json_type)
    for ctype, content in WHOLE_BODIES:
        check.send(method, url, content, **({"content-type": ctype} if ctype else {}))
    for raw in JSON_VALUES:  # the body itself
        check.send(method, url, raw.encode("utf-8", "surrogateescape"), **json_type)


OPERATIONS = operations(create_app(Settings(_env_file=None)))  # type: ignore[call-arg]


def test_the_sweep_covers_every_documented_operation() -> None:
    documented = {(m, p) for m, p, _ in OPERATIONS}
    assert len(documented) >= 27
    with_body = {(m, p) for m, p, op in OPERATIONS if "requestBody" in op}
    assert with_body == set(BODIES)  # a new body route needs a valid body here to be swept
    # writes, the reports list, counts and resolve, a station's history, the hours preview, the loop
    assert len([c for c in CASES if c[0]]) == 12


#: Every operation anonymously, and those that take a token (they document 401) with it too.
CASES = [(None, *o) for o in OPERATIONS] + [
    (TOKEN, *o) for o in OPERATIONS if "401" in o[2].get("responses", {})
]


@pytest.mark.parametrize(
    ("token", "method", "path", "op"),
    CASES,
    ids=[f"{'admin' if t else 'anonymous'}-{m} {p}" for t, m, p, _ in CASES],
)
def test_hostile_values_never_answer_5xx(
    client: TestClient,
    caplog: pytest.LogCaptureFixture,
    method: str,
    path: str,
    op: dict[str, Any],
    token: str | None,
) -> None:
    caplog.set_level(logging.ERROR)
    client.headers.pop("authorization", None)
    if token is not None:
        client.headers["authorization"] = f"Bearer {token}"
    check = Checker(client, caplog)
    _sweep_parameters(check, method, path, op)
    if (method, path) in BODIES:
        _sweep_body(check, method, path, op)
    client.headers.pop("authorization", None)
    check.check()


HTTP_SAMPLE = [
    "/api/nearest?lon=NaN&lat=28.9",
    "/api/nearest?lon=107.2&lat=28.9&crs=bd09&k=" + "9" * 5000,
    "/api/convert?lon=179.9999&lat=89.9999&to=bd09",
    "/api/nearest?lon=0&lat=-90&crs=bd09",
    "/api/nearest?lon=%ED%A0%80&lat=28.9",
    "/api/stations?offset=" + str(2**64),
    "/api/stations/%ED%A0%80",
    "/api/reports?offset=" + str(2**64),
    "/ogc/collections/stations/items?offset=1" + "0" * 400,
    "/embed?station=%FF",
]


def test_hostile_subset_over_http(data: Path) -> None:
    env = {
        "STATIONS_STATIONS_PATH": str(data / "stations.geojson"),
        "STATIONS_LOOP_PATH": str(data / "loop178.geojson"),
        "STATIONS_ADMIN_TOKEN": TOKEN,
    }
    auth = {"authorization": f"Bearer {TOKEN}"}
    with serve(env, forbid=("Traceback", "ERROR")) as base:  # either in its log fails
        with httpx.Client(base_url=base) as http:
            answers = [http.get(url, headers=auth) for url in HTTP_SAMPLE]
            answers.append(
                http.post(
                    "/api/planning/suggest",
                    content=_body_with(SUGGEST_BODY, ("demand", 0, "weight"), "1e309"),
                    headers={"content-type": "application/json"},
                )
            )
            answers.append(
                http.post(
                    "/api/reports/" + str(2**64) + "/resolve",
                    json=RESOLVE_BODY,
                    headers=auth,
                )
            )
    for r in answers:
        assert r.status_code == 400, (r.request.url, r.status_code, r.text)
        assert r.json()["detail"]
