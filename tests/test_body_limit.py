"""The request body limit: a body past ``max_body_bytes`` is a 413 however it is sent."""

import shutil

import httpx
import pytest
from fastapi.testclient import TestClient

from conftest import BUNDLED_STATIONS, settings_on_copy, stored_bytes
from helpers import serve
from stations.api import create_app

TOKEN = "body-limit-token"
AUTH = {"Authorization": f"Bearer {TOKEN}", "content-type": "application/json"}
LIMIT = 4096
SID = "delong-yinxing-union-station"


@pytest.fixture
def api(tmp_path):
    settings = settings_on_copy(
        tmp_path,
        admin_token=f"office:{TOKEN}",
        max_body_bytes=LIMIT,
    )
    data = settings.stations_path
    with TestClient(create_app(settings)) as c:
        c.data = data
        yield c


def chunks(total: int, size: int = 1000):
    """A JSON body of ``total`` bytes sent in chunks (no Content-Length: chunked encoding)."""
    body = b'{"category": "other", "text": "' + b"x" * (total - 35) + b'"}'
    for i in range(0, len(body), size):
        yield body[i : i + size]


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("POST", "/api/stations", AUTH),
        ("POST", "/api/stations", {"content-type": "application/json"}),
        ("PUT", f"/api/stations/{SID}", AUTH),
        ("PATCH", f"/api/stations/{SID}", AUTH),
        ("POST", f"/api/stations/{SID}/reports", {"content-type": "application/json"}),
        ("POST", "/api/reports/1/resolve", AUTH),
    ],
)
def test_chunked_body_over_the_limit_is_413(api, method, path, headers):
    before = stored_bytes(api.data)
    r = api.request(method, path, content=chunks(LIMIT + 500), headers=headers)
    assert r.status_code == 413, r.text
    assert r.json()["detail"] == f"request body larger than {LIMIT} bytes"
    assert stored_bytes(api.data) == before


def test_chunked_body_within_the_limit_is_read_whole(api):
    """A body sent in many small chunks under the limit reaches the route intact."""
    body = b'{"category": "other", "text": "' + "驿站".encode() * 200 + b'"}'
    parts = (body[i : i + 7] for i in range(0, len(body), 7))
    r = api.post(f"/api/stations/{SID}/reports", content=parts, headers=AUTH)
    assert r.status_code == 201, r.text
    assert r.json()["text"] == "驿站" * 200


def test_chunked_body_over_the_limit_over_real_http(tmp_path):
    """Through uvicorn too: the server answers 413 before the route reads the body."""
    data = tmp_path / "stations.geojson"
    shutil.copy(BUNDLED_STATIONS, data)
    env = {
        "STATIONS_STATIONS_PATH": str(data),
        "STATIONS_MAX_BODY_BYTES": str(LIMIT),
        "STATIONS_ADMIN_TOKEN": TOKEN,
    }
    with serve(env) as base:
        r = httpx.post(f"{base}/api/stations", content=chunks(LIMIT * 4), headers=AUTH)
        assert r.status_code == 413 and "larger than" in r.json()["detail"]
        ok = httpx.post(f"{base}/api/stations/{SID}/reports", content=chunks(520, 64), headers=AUTH)
        assert ok.status_code == 201, ok.text
