"""What a client sends, read strictly: query strings, path ids and JSON bodies give 400s naming
the parameter (`stations.api.strict`), where they used to give 500s or silent replacements."""

from __future__ import annotations

import json
import re
import shutil
from urllib.parse import parse_qsl

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from conftest import BUNDLED_LOOP, BUNDLED_STATIONS
from stations.api import create_app
from stations.api.strict import MAX_JSON_DEPTH, MAX_JSON_STRING, query_pairs, read_json
from stations.errors import InvalidInput
from stations.settings import Settings

TOKEN = "strict-token"


@pytest.mark.parametrize(
    ("query", "needle"),
    [
        (b"lon=%ED%A0%80&lat=1", "parameter 'lon' is not valid UTF-8"),
        (b"lon=1&lat=%FF", "parameter 'lat' is not valid UTF-8"),
        (b"lon=\xff", "parameter 'lon' is not valid UTF-8"),
        (b"%ED%A0%80=1", "a query parameter name is not valid UTF-8"),
        (b"lon=%00", "parameter 'lon' holds a control character"),
        (b"lon=1\x07", "parameter 'lon' holds a control character"),
    ],
)
def test_query_strings_must_be_utf8_without_control_characters(query, needle):
    with pytest.raises(InvalidInput, match=needle):
        query_pairs(query)


@given(st.text(max_size=30).filter(lambda t: not any(c < " " or c == "\x7f" for c in t)))
def test_query_pairs_agree_with_parse_qsl_on_valid_text(text):
    from urllib.parse import quote

    query = f"a={quote(text)}&b&{quote(text)}=x+y"
    assert query_pairs(query.encode()) == parse_qsl(query, keep_blank_values=True)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b'{"a": NaN}', "body.a: numbers must be finite"),
        (b'{"a": [1, -Infinity]}', "body.a[1]: numbers must be finite"),
        (b'{"a": 1e309}', "body.a: numbers must be finite"),
        (b'{"a": 18446744073709551616}', "body.a: integers must fit in 64 bits"),
        (b'{"a": -9223372036854775809}', "body.a: integers must fit in 64 bits"),
        (b'{"a": ' + b"9" * 5000 + b"}", "body.a: integers must fit in 64 bits"),
        (b'{"a": "\\ud800"}', "body.a: a lone surrogate"),
        (b'{"\\udc00": 1}', "body: a member name: a lone surrogate"),
        (b'{"a": "\xed\xa0\x80"}', "the body is not valid UTF-8 (at byte 7)"),
        (b"\xff\xfe{}", "the body is not valid UTF-8"),
        (b'{"a": "' + b"x" * (MAX_JSON_STRING + 1) + b'"}', "body.a: strings must be at most"),
        (
            b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1),
            "]: nested deeper than 32 levels",
        ),
        (b"[" * 100_000 + b"]" * 100_000, "the body nests deeper than"),
        (b"{", "the body is not valid JSON"),
    ],
)
def test_read_json_refuses_naming_the_member(body, needle):
    with pytest.raises(InvalidInput, match=re.escape(needle)):
        read_json(body)


def test_read_json_takes_what_json_allows_within_the_bounds():
    doc = {"a": [1, -(2**63), 2**63 - 1, 1.5e308, "雨\t\n", None, True], "b": {"c": "x" * 100}}
    assert read_json(json.dumps(doc, ensure_ascii=False).encode()) == doc


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    folder = tmp_path_factory.mktemp("strict")
    shutil.copy(BUNDLED_STATIONS, folder / "stations.geojson")
    shutil.copy(BUNDLED_LOOP, folder / "loop178.geojson")
    settings = Settings(
        _env_file=None,
        stations_path=folder / "stations.geojson",
        loop_path=folder / "loop178.geojson",
        admin_token=TOKEN,
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        client.headers["authorization"] = f"Bearer {TOKEN}"
        yield client


@pytest.mark.parametrize(
    ("method", "url", "needle"),
    [
        ("GET", "/api/nearest?lon=%ED%A0%80&lat=28.9", "parameter 'lon' is not valid UTF-8"),
        ("GET", "/api/stations?kind=%FF", "parameter 'kind' is not valid UTF-8"),
        ("GET", "/api/stations?offset=18446744073709551616", "parameter 'offset'"),
        ("GET", "/api/stations?offset=1" + "0" * 400, "parameter 'offset'"),
        ("GET", "/api/reports?offset=18446744073709551616", "parameter 'offset'"),
        ("GET", "/api/reports?station=Bad%20Id", "parameter 'station'"),
        ("GET", "/ogc/collections/stations/items?offset=-1", "parameter 'offset'"),
        ("GET", "/ogc/collections/stations/items?limit=" + "9" * 30, "parameter 'limit'"),
        ("GET", "/ogc/collections/stations?f=" + "x" * 100, "parameter 'f'"),
        ("GET", "/api/stations/%ED%A0%80", "parameter 'station_id'"),
        ("GET", "/api/stations/" + "a" * 65, "parameter 'station_id'"),
        ("GET", "/api/stations/A-B", "parameter 'station_id'"),
        ("GET", "/ogc/collections/%3Cscript%3E", "parameter 'collection_id'"),
        ("GET", "/ogc/collections/stations/items/%00", "parameter 'feature_id'"),
        ("POST", "/api/reports/18446744073709551616/resolve", "parameter 'report_id'"),
        ("POST", "/api/reports/-9223372036854775809/resolve", "parameter 'report_id'"),
        ("POST", "/api/reports/0/resolve", "parameter 'report_id'"),
        ("GET", "/api/map/stations?zoom=3&bbox=" + "1," * 200, "parameter 'bbox'"),
        ("GET", "/api/stations?bbox=" + "1," * 200, "bbox must be at most 200 characters"),
        ("GET", "/api/nearest?lon=1&lat=1&" + "kind=union_station&" * 21, "parameter 'kind'"),
    ],
)
def test_hostile_parameters_are_400s_naming_them(api, method, url, needle):
    r = api.request(method, url, json={} if method == "POST" else None)
    assert r.status_code == 400, r.text
    assert needle in r.json()["detail"]
    assert len(r.json()["detail"]) < 400  # what was sent is echoed cut short


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b'{"category": "dirty", "text": "\\ud800"}', "body.text: a lone surrogate"),
        (b'{"category": "dirty", "lon": NaN, "lat": 1}', "body.lon: numbers must be finite"),
        (b'{"category": "dirty", "lon": 1e400, "lat": 1}', "body.lon: numbers must be finite"),
    ],
)
def test_report_bodies_are_read_strictly(api, body, needle):
    url = "/api/stations/toudu-union-station/reports"
    r = api.post(url, content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    assert needle in r.json()["detail"]


@pytest.mark.parametrize(
    ("member", "raw"),
    [("notes", '"\\ud800"'), ("notes", "18446744073709551616"), ("name", '"\\udc00"')],
)
def test_write_bodies_are_read_strictly(api, member, raw):
    # These reached the store and failed in its JSON encoder: 500, nothing written.
    body = (
        '{"type": "Feature", "geometry": {"type": "Point", "coordinates": [107.3, 28.95]}, '
        f'"properties": {{"id": "strict-new", "{member}": {raw}}}}}'
    )
    r = api.post("/api/stations", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["detail"].startswith(f"body.properties.{member}: ")
