"""Riders' problem reports: public to send, rate-limited, durable, admin-only to read."""

import shutil
import sqlite3

import pytest
from fastapi.testclient import TestClient

from conftest import BUNDLED_LOOP, BUNDLED_STATIONS
from stations.api import create_app
from stations.settings import Settings

AUTH = {"Authorization": "Bearer adm1n"}
SID = "delong-yinxing-union-station"


@pytest.fixture
def api(tmp_path):
    data = tmp_path / "stations.geojson"
    shutil.copy(BUNDLED_STATIONS, data)
    settings = Settings(
        _env_file=None,
        stations_path=data,
        loop_path=BUNDLED_LOOP,
        admin_token="desk:adm1n",
        report_rate_per_hour=3,
    )
    with TestClient(create_app(settings)) as c:
        c.db = tmp_path / "reports.sqlite3"
        yield c


def test_report_list_and_resolve(api):
    r = api.post(
        f"/api/stations/{SID}/reports",
        json={
            "category": "locked_during_hours",
            "text": "  白天锁门 <b>!</b>\x07 ",
            "lon": 107.26,
            "lat": 28.91,
        },
    )
    assert r.status_code == 201, r.text
    rep = r.json()
    assert rep["status"] == "open" and rep["text"] == "白天锁门 <b>!</b>" and "client" not in rep
    # durable, in WAL mode, beside the data
    with sqlite3.connect(api.db) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("SELECT count(*) FROM reports").fetchone()[0] == 1
    view = api.get("/api/map/stations", params={"bbox": "107,28.8,107.5,29.2", "zoom": 12}).json()
    flagged = {f["id"]: f["properties"].get("open_reports") for f in view["features"]}
    assert flagged[SID] == 1 and flagged["jinshan-union-station"] is None
    assert api.get("/api/reports").status_code == 401
    assert api.get("/api/reports", headers={"Authorization": "Bearer x"}).status_code == 403
    listed = api.get("/api/reports", params={"status": "open"}, headers=AUTH).json()["reports"]
    assert [x["id"] for x in listed] == [rep["id"]]
    done = api.post(
        f"/api/reports/{rep['id']}/resolve", json={"note": "已联系管理员"}, headers=AUTH
    )
    assert done.status_code == 200 and done.json()["resolved_by"] == "desk"
    assert api.get("/api/reports", params={"status": "open"}, headers=AUTH).json()["reports"] == []
    assert api.post("/api/reports/999/resolve", json={}, headers=AUTH).status_code == 404


def test_rate_limit_per_device(api):
    for _ in range(3):
        assert (
            api.post(f"/api/stations/{SID}/reports", json={"category": "dirty"}).status_code == 201
        )
    r = api.post(f"/api/stations/{SID}/reports", json={"category": "dirty"})
    assert r.status_code == 429 and "an hour" in r.json()["detail"]


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"category": "haunted"}, 400, "category"),
        ({"category": "other", "text": "x" * 501}, 400, "text"),
        ({"category": "other", "lon": 200.0, "lat": 1.0}, 400, "lon"),
        ({"category": "other", "lon": 107.0}, 400, "lat"),
        ({"category": "other", "extra": 1}, 400, "extra"),
    ],
)
def test_bad_reports(api, body, status, needle):
    r = api.post(f"/api/stations/{SID}/reports", json=body)
    assert r.status_code == status and needle in r.json()["detail"]
    assert not api.db.exists()  # nothing stored


def test_report_on_unknown_station(api):
    r = api.post("/api/stations/nope/reports", json={"category": "other"})
    assert r.status_code == 404


def _stored_clients(db) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [row[0] for row in conn.execute("SELECT client FROM reports ORDER BY id")]


def test_forwarded_for_from_an_untrusted_peer_does_not_change_the_bucket(api):
    for i in range(3):
        r = api.post(
            f"/api/stations/{SID}/reports",
            json={"category": "dirty"},
            headers={"X-Forwarded-For": f"198.51.100.{i}"},
        )
        assert r.status_code == 201
    r = api.post(
        f"/api/stations/{SID}/reports",
        json={"category": "dirty"},
        headers={"X-Forwarded-For": "198.51.100.99"},
    )
    assert r.status_code == 429
    key = api.app.services.reports.client_key("testclient")
    assert _stored_clients(api.db) == [key] * 3


def test_behind_a_trusted_proxy_the_right_hop_is_the_client(tmp_path):
    data = tmp_path / "stations.geojson"
    shutil.copy(BUNDLED_STATIONS, data)
    settings = Settings(
        _env_file=None,
        stations_path=data,
        loop_path=BUNDLED_LOOP,
        report_rate_per_hour=2,
        trusted_proxies="127.0.0.1",
    )
    app = create_app(settings)
    with TestClient(app, client=("127.0.0.1", 40000)) as proxy:

        def send(forwarded_for: str) -> int:
            headers = {"X-Forwarded-For": forwarded_for}
            url = f"/api/stations/{SID}/reports"
            return proxy.post(url, json={"category": "dirty"}, headers=headers).status_code

        # the rider spoofs the left part; nginx appended the address it saw on the right
        assert send("6.6.6.1, 203.0.113.5") == 201
        assert send("6.6.6.2, 203.0.113.5") == 201
        assert send("6.6.6.3, 203.0.113.5") == 429
        assert send("203.0.113.6") == 201  # another rider, another bucket
    key = app.services.reports.client_key
    db = tmp_path / "reports.sqlite3"
    assert _stored_clients(db) == [key("203.0.113.5")] * 2 + [key("203.0.113.6")]
