"""Riders' problem reports: public to send, rate-limited, durable, admin-only to read."""

import multiprocessing
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from conftest import settings_on_copy
from stations.api import create_app
from stations.storage.reports import SCHEMA, SCHEMA_VERSION, Category, ReportStore

AUTH = {"Authorization": "Bearer adm1n"}
SID = "delong-yinxing-union-station"


@pytest.fixture
def api(tmp_path):
    settings = settings_on_copy(
        tmp_path,
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


def _first_report(path: str, barrier, n: int) -> int:
    """One process's first report on a new database, started with the others at once."""
    store = ReportStore(Path(path), per_hour=1000)
    barrier.wait()
    return store.add(SID, Category.DIRTY, f"process {n}", None, f"10.0.0.{n}")["id"]


def test_concurrent_first_reports_on_a_new_file(tmp_path):
    """Several processes opening a file that does not exist yet all store their report."""
    path = tmp_path / "reports.sqlite3"
    n = 6
    ctx = multiprocessing.get_context("fork")
    for attempt in range(3):  # the race needs the processes to meet: give it a few chances
        target = path.with_name(f"r{attempt}.sqlite3")
        with ctx.Manager() as manager:
            barrier = manager.Barrier(n)
            with ctx.Pool(n) as pool:
                ids = pool.starmap(_first_report, [(str(target), barrier, i) for i in range(n)])
        assert sorted(ids) == list(range(1, n + 1))
        with sqlite3.connect(target) as db:
            assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
            assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_concurrent_first_use_from_threads(tmp_path):
    """Threads of one worker, reading and writing a new file at once, never see it half made."""
    store = ReportStore(tmp_path / "reports.sqlite3", per_hour=1000)
    barrier = threading.Barrier(8)

    def use(i: int) -> object:
        barrier.wait()
        if i % 2:
            return store.open_counts()
        return store.add(SID, Category.OTHER, None, None, f"a{i}")["id"]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(use, range(8)))
    assert sorted(r for r in results if isinstance(r, int)) == [1, 2, 3, 4]
    assert store.open_counts() == {SID: 4}


@pytest.mark.parametrize("state", ["empty file", "tables missing", "index missing"])
def test_half_made_database_recovers(api, state):
    """A database left behind by a crash while it was being made serves every route again."""
    if state == "empty file":
        api.db.write_bytes(b"")
    else:
        with sqlite3.connect(api.db) as db:
            db.execute("PRAGMA journal_mode=WAL")
            if state == "index missing":
                db.executescript(SCHEMA.split("CREATE INDEX")[0])
    assert api.get("/api/reports", headers=AUTH).json() == {"reports": []}
    view = api.get("/api/map/stations", params={"bbox": "107,28.8,107.5,29.2", "zoom": 12})
    assert view.status_code == 200
    r = api.post(f"/api/stations/{SID}/reports", json={"category": "dirty"})
    assert r.status_code == 201, r.text
    assert len(api.get("/api/reports", headers=AUTH).json()["reports"]) == 1
    with sqlite3.connect(api.db) as db:
        names = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        assert {"reports", "reports_open", "reports_client"} <= names


def test_database_of_an_older_version_gets_the_schema_version(tmp_path):
    """A file made before the schema had a version keeps its reports and gains the version."""
    path = tmp_path / "reports.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(SCHEMA)
        db.execute(
            "INSERT INTO reports (station_id, category, client, created_at) "
            "VALUES ('s', 'dirty', 'c', '2024-01-01T00:00:00+00:00')"
        )
    store = ReportStore(path)
    assert store.open_counts() == {"s": 1}
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_resolving_twice_keeps_the_first_resolution(api, tmp_path):
    """A second resolution is a 409 naming the first resolver; the first note is kept."""
    rep = api.post(f"/api/stations/{SID}/reports", json={"category": "dirty"}).json()
    first = api.post(f"/api/reports/{rep['id']}/resolve", json={"note": "cleaned"}, headers=AUTH)
    assert first.status_code == 200 and first.json()["resolved_by"] == "desk"
    again = api.post(f"/api/reports/{rep['id']}/resolve", json={"note": "redo"}, headers=AUTH)
    assert again.status_code == 409
    assert "already resolved by desk" in again.json()["detail"]
    (kept,) = api.get("/api/reports", headers=AUTH).json()["reports"]
    assert kept["resolution"] == "cleaned" and kept["resolved_at"] == first.json()["resolved_at"]


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
    settings = settings_on_copy(
        tmp_path,
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


def test_a_read_while_another_connection_is_creating_the_file_finds_no_reports(tmp_path):
    """A rider's first report creates the file, then its tables; a map request in between (another
    thread or worker) found the file without tables and answered 500 ("no such table")."""
    path = tmp_path / "reports.sqlite3"
    sqlite3.connect(path).close()  # the file exists, its tables not yet
    assert ReportStore(path).open_counts() == {}
