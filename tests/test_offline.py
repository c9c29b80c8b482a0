"""The offline rider app's server side: the snapshot, the service worker, the manifest, and
reports stored once per idempotency key (the browser side: test_offline_browser.py)."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import struct
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from conftest import collection, station
from stations.api.app import create_app
from stations.settings import DEFAULT_GEODATA, Settings
from stations.storage.reports import Category, ReportStore
from stations.web import assets, offline

AUTH = {"Authorization": "Bearer adm1n"}
SID = "delong-yinxing-union-station"


def _client(tmp_path: Path, **overrides: object) -> TestClient:
    data = tmp_path / "stations.geojson"
    if not data.exists():
        shutil.copy(DEFAULT_GEODATA / "stations.geojson", data)
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        stations_path=data,
        loop_path=DEFAULT_GEODATA / "loop178.geojson",
        admin_token="desk:adm1n",
        report_rate_per_hour=2,
        **overrides,
    )
    return TestClient(create_app(settings))


@pytest.fixture
def api(tmp_path):
    with _client(tmp_path) as c:
        yield c


def rows(body: dict) -> list[dict]:
    return [dict(zip(body["fields"], row, strict=True)) for row in body["stations"]]


def test_snapshot_holds_what_the_cards_need_for_the_open_located_stations(api):
    r = api.get("/api/offline", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200
    assert r.headers["content-encoding"] == "gzip" and r.headers["vary"] == "Accept-Encoding"
    assert r.headers["cache-control"] == "no-cache"
    body = r.json()
    listed = api.get("/api/stations", params={"status": "open", "limit": 100}).json()
    located = [f for f in listed["features"] if f["geometry"]]
    got = rows(body)
    assert [s["id"] for s in got] == [f["id"] for f in located]  # file order: ties as the server
    for s, f in zip(got, located, strict=True):
        assert [s["lon"], s["lat"]] == f["geometry"]["coordinates"]
        for name in ("name", "name_en", "kind", "amenities", "opening_hours", "loop_km"):
            assert s[name] == f["properties"][name]
    assert body["timezone"] == "Asia/Shanghai"
    assert body["loop"]["coordinates"][0] == body["loop"]["coordinates"][-1]
    assert body["loop"]["scale"] == pytest.approx(178000 / body["loop"]["length_m"])


def test_snapshot_is_versioned_by_the_data(api, tmp_path):
    first = api.get("/api/offline")
    etag = first.headers["etag"]
    same = api.get("/api/offline", headers={"If-None-Match": etag})
    assert same.status_code == 304 and same.content == b""
    new = station("s-new", 107.27, 28.92)
    assert api.post("/api/stations", json=new, headers=AUTH).status_code == 201
    changed = api.get("/api/offline", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert "s-new" in [s["id"] for s in rows(changed.json())]
    assert changed.json()["version"] != first.json()["version"]


def test_snapshot_by_region_and_its_limit(tmp_path):
    features = [station(f"s{i}", 107.0 + i / 100, 29.0) for i in range(10)]
    (tmp_path / "stations.geojson").write_text(json.dumps(collection(*features)))
    with _client(tmp_path, offline_max_stations=4) as c:
        whole = c.get("/api/offline")
        assert whole.status_code == 400
        assert "bbox" in whole.json()["detail"] and "10 stations" in whole.json()["detail"]
        part = c.get("/api/offline", params={"bbox": "106.9,28.9,107.035,29.1"})
        assert part.status_code == 200
        assert [s["id"] for s in rows(part.json())] == ["s0", "s1", "s2", "s3"]
        assert part.json()["bbox"] == [106.9, 28.9, 107.035, 29.1]
        for bad in ("1,2,3", "107,29,106,28", "x"):
            r = c.get("/api/offline", params={"bbox": bad})
            assert r.status_code == 400 and "bbox" in r.json()["detail"]
        assert c.get("/api/offline", params={"k": 3}).status_code == 400


def test_page_asks_for_the_loops_region(api):
    page = api.get("/").text
    config = json.loads(re.search(r'id="stations-config">(.*?)</script>', page).group(1))
    url = config["offline"]["snapshot"]
    x0, y0, x1, y1 = (float(v) for v in url.split("bbox=")[1].split(","))
    assert x0 < 107.10437 and x1 > 107.35707 and y0 < 28.91167 and y1 > 29.14749
    assert api.get(url).status_code == 200
    assert '<link rel="manifest" href="/manifest.webmanifest">' in page
    assert "/static/stations/offline.js" in page
    csp = api.get("/").headers["content-security-policy"]
    assert "'nonce-" in csp and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]


def test_service_worker_precaches_every_asset_and_is_checked_each_visit(api):
    r = api.get("/sw.js")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
    assert r.headers["cache-control"] == "no-cache"
    assert "__VERSION__" not in r.text and "__PRECACHE__" not in r.text
    listed = re.search(r"const PRECACHE = \[(.*?)\];", r.text, re.S).group(1)
    urls = re.findall(r'"([^"]+)"', listed)
    assert set(urls) == set(offline.precache())
    assert "/static/stations/rider.js" in urls and "/static/stations/icon-512.png" in urls
    later = re.findall(r'"([^"]+)"', re.search(r"const ON_DEMAND = \[(.*?)\];", r.text).group(1))
    assert later == offline.on_demand() and "/static/stations/opening_hours.js" in later
    for url in urls + later:
        assert api.get(url).status_code == 200, url


def test_service_worker_version_follows_the_assets(tmp_path, monkeypatch):
    before = offline.service_worker.__wrapped__()
    copy = tmp_path / "static"
    shutil.copytree(assets.MOUNTS["stations"], copy)
    (copy / "rider.js").write_text((copy / "rider.js").read_text() + "\n// changed\n")
    monkeypatch.setitem(assets.MOUNTS, "stations", copy)
    after = offline.service_worker.__wrapped__()
    version = re.compile(r'const VERSION = "(\w+)"')
    assert version.search(before).group(1) != version.search(after).group(1)


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_manifest_is_installable(api, lang):
    r = api.get("/manifest.webmanifest", params={"lang": lang})
    assert r.headers["content-type"] == "application/manifest+json"
    doc = r.json()
    assert doc["display"] == "standalone" and doc["scope"] == "/"
    assert doc["start_url"] == ("/" if lang == "zh" else "/?lang=en")
    assert doc["name"] and doc["short_name"] and doc["theme_color"].startswith("#")
    sizes = set()
    for icon in doc["icons"]:
        image = api.get(icon["src"])
        assert image.headers["content-type"] == "image/png"
        w, h = _png_size(image.content)
        assert icon["sizes"] == f"{w}x{h}"
        sizes.add(w)
    assert {192, 512} <= sizes
    assert api.get("/manifest.webmanifest", params={"lang": "fr"}).status_code == 400


def test_snapshot_size_is_small_for_the_bundled_data(api):
    r = api.get("/api/offline", headers={"Accept-Encoding": "gzip"})
    assert len(r.content) > 1000  # decoded
    assert int(r.headers["content-length"]) < 2048  # what goes over the air


def test_a_report_sent_twice_with_one_key_is_stored_once(api):
    url = f"/api/stations/{SID}/reports"
    body = {"category": "no_water", "text": "twice"}
    key = {"Idempotency-Key": "0f8fad5b-d9cb-469f-a165-70867728950e"}
    first = api.post(url, json=body, headers=key)
    again = api.post(url, json=body, headers=key)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert "idempotency_key" not in first.json()
    # the replay did not count against the hourly limit (2 here)
    assert api.post(url, json=body).status_code == 201
    assert api.post(url, json=body).status_code == 429
    assert len(api.get("/api/reports", headers=AUTH).json()["reports"]) == 2
    other = api.post("/api/stations/toudu-union-station/reports", json=body, headers=key)
    assert other.status_code == 409 and "Idempotency-Key" in other.json()["detail"]


@pytest.mark.parametrize("key", ["short", "x" * 129, "has space!", "逗号,键值"])
def test_a_bad_idempotency_key_is_refused(api, key):
    r = api.post(
        f"/api/stations/{SID}/reports",
        json={"category": "dirty"},
        headers={"Idempotency-Key": key.encode()},
    )
    assert r.status_code == 400, r.text
    assert "Idempotency-Key" in r.text or "idempotency" in r.text.lower()
    assert api.get("/api/reports", headers=AUTH).json()["reports"] == []


V1_SCHEMA = """
CREATE TABLE reports (
    id INTEGER PRIMARY KEY AUTOINCREMENT, station_id TEXT NOT NULL, category TEXT NOT NULL,
    text TEXT, lon REAL, lat REAL, client TEXT NOT NULL, created_at TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'open', resolved_at TEXT, resolved_by TEXT, resolution TEXT
);
PRAGMA user_version = 1;
"""


def test_a_version_1_database_gains_the_key_and_keeps_its_reports(tmp_path):
    path = tmp_path / "reports.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(V1_SCHEMA)
        db.execute(
            "INSERT INTO reports (station_id, category, client, created_at) "
            "VALUES ('s', 'dirty', 'c', '2024-01-01T00:00:00+00:00')"
        )
    store = ReportStore(path)
    a = store.add("s", Category.OTHER, "x", None, "10.0.0.1", key="key-123456")
    b = store.add("s", Category.OTHER, "x", None, "10.0.0.1", key="key-123456")
    assert a == b and store.open_counts() == {"s": 2}
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 2


def test_gzip_answer_is_the_plain_answer(api):
    plain = api.get("/api/offline", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    raw = api.get("/api/offline", headers={"Accept-Encoding": "gzip"})
    assert plain.json() == raw.json()
