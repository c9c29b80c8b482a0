"""Riders' problem reports: public to send, rate-limited, durable, admin-only to read."""

import shutil
import sqlite3

import pytest
from fastapi.testclient import TestClient

from conftest import BUNDLED_LOOP, BUNDLED_STATIONS
from stations.api import create_app
from stations.settings import Settings
from stations.storage.reports import ReportStore

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


def test_a_read_while_another_connection_is_creating_the_file_finds_no_reports(tmp_path):
    """A rider's first report creates the file, then its tables; a map request in between (another
    thread or worker) found the file without tables and answered 500 ("no such table")."""
    path = tmp_path / "reports.sqlite3"
    sqlite3.connect(path).close()  # the file exists, its tables not yet
    assert ReportStore(path).open_counts() == {}
