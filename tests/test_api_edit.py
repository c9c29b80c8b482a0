"""Editing through the API: auth, validation that loses nothing, audit, backups, reload."""

import json
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from conftest import BUNDLED_LOOP, BUNDLED_STATIONS, station, stored_bytes, stored_doc
from stations.api import create_app
from stations.coords import CRS, from_wgs84
from stations.settings import Settings
from stations.storage.geojson import GeoJSONStore

TOKEN = "s3cret-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def data(tmp_path) -> Path:
    path = tmp_path / "stations.geojson"
    shutil.copy(BUNDLED_STATIONS, path)
    return path


@pytest.fixture
def api(data):
    settings = Settings(
        _env_file=None, stations_path=data, loop_path=BUNDLED_LOOP, admin_token=f"office:{TOKEN}"
    )
    with TestClient(create_app(settings)) as c:
        yield c


def new(sid="new-station", lon=107.2, lat=28.95, **props):
    return station(sid, lon, lat, **props)


WRITES = [
    ("post", "/api/stations", new()),
    ("put", "/api/stations/delong-yinxing-union-station", None),
    (
        "patch",
        "/api/stations/delong-yinxing-union-station",
        {"properties": {"phone": "023-1234567"}},
    ),
    ("delete", "/api/stations/delong-yinxing-union-station", None),
]


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
def test_every_write_needs_the_right_token(api, data, method, path, body):
    if method == "put":
        body = stored_doc(data)["features"][2]
        assert body["id"] == "delong-yinxing-union-station"
        body["properties"]["phone"] = "023-7654321"
    before = stored_bytes(data)
    kwargs = {"json": body} if body is not None else {}
    none = api.request(method.upper(), path, **kwargs)
    assert none.status_code == 401 and "Bearer" in none.json()["detail"]
    assert none.headers["www-authenticate"].startswith("Bearer")
    wrong = api.request(method.upper(), path, headers={"Authorization": "Bearer nope"}, **kwargs)
    assert wrong.status_code == 403
    assert stored_bytes(data) == before
    right = api.request(method.upper(), path, headers=AUTH, **kwargs)
    assert right.status_code in (200, 201), right.text
    assert stored_bytes(data) != before


def test_writes_disabled_without_a_configured_token(data):
    settings = Settings(_env_file=None, stations_path=data, loop_path=BUNDLED_LOOP)
    with TestClient(create_app(settings)) as c:
        r = c.post("/api/stations", json=new(), headers=AUTH)
        assert r.status_code == 403 and "STATIONS_ADMIN_TOKEN" in r.json()["detail"]
        assert c.get("/api/stations").status_code == 200  # reads stay public


def test_create_is_served_audited_and_backed_up(api, data):
    r = api.post("/api/stations", json=new(name="新驿站"), headers=AUTH)
    assert r.status_code == 201 and r.headers["location"] == "/api/stations/new-station"
    assert r.json()["properties"]["name"] == "新驿站"
    got = api.get("/api/stations/new-station")
    assert got.status_code == 200 and got.json()["properties"]["name"] == "新驿站"
    near = api.get("/api/nearest", params={"lon": 107.2, "lat": 28.95, "k": 1}).json()
    assert near["features"][0]["id"] == "new-station"
    audit = [json.loads(line) for line in (data.parent / "audit.jsonl").read_text().splitlines()]
    assert audit[-1]["actor"] == "office" and audit[-1]["action"] == "create"
    assert audit[-1]["before"] is None and audit[-1]["after"]["id"] == "new-station"
    # The write is in the journal; the file itself changes when the journal is folded in.
    assert data.read_bytes() == BUNDLED_STATIONS.read_bytes()
    assert not (data.parent / ".backups").exists()
    assert GeoJSONStore(data).compact() == 1
    backups = list((data.parent / ".backups").glob("*.geojson"))
    assert len(backups) == 1 and backups[0].read_bytes() == BUNDLED_STATIONS.read_bytes()
    folded = json.loads(data.read_text("utf-8"))
    assert folded["features"][-1]["id"] == "new-station"
    assert not data.with_name("stations.geojson.journal").exists()
    assert api.get("/api/stations/new-station").status_code == 200  # still served


def test_coordinates_in_gcj02(api, data):
    gx, gy = from_wgs84(107.2, 28.95, CRS.GCJ02)
    r = api.post("/api/stations", params={"crs": "gcj02"}, json=new(lon=gx, lat=gy), headers=AUTH)
    assert r.status_code == 201
    assert r.json()["geometry"]["coordinates"] == pytest.approx([gx, gy], abs=2e-7)
    stored = stored_doc(data)["features"][-1]["geometry"]["coordinates"]
    assert stored == pytest.approx([107.2, 28.95], abs=2e-7)


def test_patch_close_and_purge(api, data):
    sid = "delong-yinxing-union-station"
    p = api.patch(
        f"/api/stations/{sid}", json={"properties": {"amenities": ["toilet"]}}, headers=AUTH
    )
    assert p.status_code == 200 and p.json()["properties"]["amenities"] == ["toilet"]
    closed = api.delete(f"/api/stations/{sid}", headers=AUTH)
    assert closed.json()["properties"]["status"] == "closed"
    assert sid not in [
        f["id"]
        for f in api.get("/api/nearest", params={"lon": 107.26, "lat": 28.91, "k": 10}).json()[
            "features"
        ]
    ]
    gone = api.delete(f"/api/stations/{sid}", params={"purge": "true"}, headers=AUTH)
    assert gone.status_code == 200 and gone.json() == {"deleted": True}
    assert api.get(f"/api/stations/{sid}").status_code == 404
    assert api.delete(f"/api/stations/{sid}", headers=AUTH).status_code == 404


JSON = {"content-type": "application/json"}


def raw(body: dict, member: str, into: str | None = None) -> dict:
    """Request arguments sending ``body`` as JSON with ``member`` (raw JSON text) added."""
    text = json.dumps(body)
    if into is None:
        text = text[:-1] + ", " + member + "}"
    else:
        key = f'"{into}": {{'
        text = text.replace(key, key + member + ("" if text.split(key)[1][0] == "}" else ", "), 1)
    return {"content": text.encode(), "headers": JSON}


def new_with_coords(coords: str) -> bytes:
    """A new station whose coordinates are the raw JSON text ``coords`` (NaN, 1e400, ...)."""
    return json.dumps(new()).replace("[107.2, 28.95]", f"[{coords}]").encode()


BAD = [
    (
        "post",
        {"params": {}, "content": b"{not json", "headers": {"content-type": "application/json"}},
        400,
        "",
    ),
    (
        "post",
        {"json": {**new(), "geometry": {"type": "LineString", "coordinates": [[1, 2], [3, 4]]}}},
        400,
        "Point",
    ),
    ("post", {"json": new(lon=200.0)}, 400, "lon"),
    ("post", {"json": new(lon=28.95, lat=107.2)}, 400, "lat"),
    ("post", {"json": new(sid="delong-yinxing-union-station")}, 409, "already exists"),
    ("post", {"json": new(amenities=["jacuzzi"])}, 400, "amenities"),
    ("post", {"json": new(opening_hours="whenever")}, 400, "opening_hours"),
    ("post", {"json": new(colour="red")}, 400, "colour"),
    ("post", {"json": new(), "params": {"crs": "utm"}}, 400, "crs"),
    ("post", {"json": new(), "params": {"crs": "gcj02"}, "headers": {}}, 401, ""),
    (
        "post",
        {
            "content": b'{"a": "' + b"x" * 1_100_000 + b'"}',
            "headers": {"content-type": "application/json"},
        },
        413,
        "larger",
    ),
    ("post", {"json": {**new(), "foo": {"a": 1}}}, 400, "feature member 'foo' is not allowed"),
    (
        "post",
        raw(new(), '"foo": ' + "[" * 252 + "]" * 252),
        400,
        "body.foo[0]",
    ),  # refused by the strict JSON reader first
    ("post", raw(new(), '"town": "\\ud800"', into="properties"), 400, "lone surrogate"),
    ("post", raw(new(), '"notes": "' + "x" * 200_000 + '"', into="properties"), 400, "notes"),
    ("post", {"content": new_with_coords("null, 28.95"), "headers": JSON}, 400, "a number"),
    # refused by the strict JSON reader, naming the member (the longitude)
    ("post", {"content": new_with_coords("NaN, 28.95"), "headers": JSON}, 400, "coordinates[0]"),
    ("post", {"content": new_with_coords("1e400, 28.95"), "headers": JSON}, 400, "coordinates[0]"),
    (
        "post",
        {"content": new_with_coords("1" + "0" * 30 + ", 28.95"), "headers": JSON},
        400,
        "coordinates[0]",
    ),
    ("post", {"content": new_with_coords('107.2, 28.95, "up"'), "headers": JSON}, 400, "[2]"),
    ("post", {"content": new_with_coords("107.2, 28.95, NaN"), "headers": JSON}, 400, "[2]"),
    (
        "post",
        {"content": new_with_coords("1e30, 28.95"), "headers": JSON, "params": {"crs": "gcj02"}},
        400,
        "lon",
    ),
    (
        "post",
        {
            "content": new_with_coords("107.2, 28.95, 1e30"),
            "headers": JSON,
            "params": {"crs": "bd09"},
        },
        400,
        "coordinates[2] must be within",
    ),
    ("put", {"json": new(sid="other")}, 400, "ids cannot change"),
    ("patch", {"json": {"properties": {"kind": "castle"}}}, 400, "kind"),
    ("patch", {"json": {"name": "x"}}, 400, "properties"),
    (
        "patch",
        {"json": {"geometry": {"type": "Point", "coordinates": [107, 29, None]}}},
        400,
        "[2]",
    ),
    ("patch", raw({"properties": {}}, '"town": "\\udfff"', into="properties"), 400, "surrogate"),
]


@pytest.mark.parametrize(("method", "kwargs", "status", "needle"), BAD)
def test_bad_writes_change_nothing(api, data, method, kwargs, status, needle):
    before = stored_bytes(data)
    path = "/api/stations" if method == "post" else "/api/stations/delong-yinxing-union-station"
    headers = kwargs.pop("headers", None)
    headers = AUTH if headers is None else {**AUTH, **headers} if headers else {}
    r = api.request(method.upper(), path, headers=headers, **kwargs)
    assert r.status_code == status, r.text
    assert needle in r.json()["detail"]
    assert stored_bytes(data) == before
    assert not (data.parent / "audit.jsonl").exists()


def test_an_elevation_survives_a_datum_conversion(api, data):
    gx, gy = from_wgs84(107.2, 28.95, CRS.GCJ02)
    body = new()
    body["geometry"]["coordinates"] = [gx, gy, 512.5]
    r = api.post("/api/stations", params={"crs": "gcj02"}, json=body, headers=AUTH)
    assert r.status_code == 201, r.text
    assert r.json()["geometry"]["coordinates"][2] == 512.5
    stored = stored_doc(data)["features"][-1]["geometry"]["coordinates"]
    assert stored[:2] == pytest.approx([107.2, 28.95], abs=2e-7) and stored[2] == 512.5


@pytest.mark.parametrize("lon", ["1" + "0" * 30, "1" + "0" * 400, "-1e400", "true", '"107"'])
@pytest.mark.parametrize("crs", ["wgs84", "gcj02", "bd09"])
def test_hostile_numbers_in_any_datum_are_a_400(api, data, lon, crs):
    before = stored_bytes(data)
    body = new_with_coords(f"{lon}, 28.95")
    r = api.post("/api/stations", params={"crs": crs}, content=body, headers={**AUTH, **JSON})
    assert r.status_code == 400, r.text
    detail = r.json()["detail"]
    assert "lon" in detail or "coordinates[0]" in detail, detail
    assert stored_bytes(data) == before
