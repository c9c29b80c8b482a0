"""Rider reports in PostgreSQL: the same answers as with SQLite, and one limit across replicas."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import psycopg
import pytest
from fastapi.testclient import TestClient

import pgcluster
from conftest import BUNDLED_LOOP
from stations.api import create_app
from stations.settings import Settings
from stations.storage.postgres.reports import PostgresReportStore
from stations.storage.reports import Category

AUTH = {"Authorization": "Bearer adm1n"}
SID = "delong-yinxing-union-station"


@pytest.fixture
def two() -> Iterator[tuple[TestClient, TestClient, str]]:
    """Two replicas on one database, 3 reports an hour per device; and the database's URL."""
    url = pgcluster.bundled_database()
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=url,
        loop_path=BUNDLED_LOOP,
        admin_token="desk:adm1n",
        report_rate_per_hour=3,
    )
    with ExitStack() as stack:
        a = stack.enter_context(TestClient(create_app(settings)))
        b = stack.enter_context(TestClient(create_app(settings)))
        yield a, b, url


def test_a_report_is_stored_listed_and_resolved_in_the_database(two):
    a, b, url = two
    sent = a.post(
        f"/api/stations/{SID}/reports",
        json={"category": "locked_during_hours", "text": "  白天锁门 \x07 ", "lon": 107.26,
              "lat": 28.91},
    )  # fmt: skip
    assert sent.status_code == 201, sent.text
    report = sent.json()
    assert report["status"] == "open" and report["text"] == "白天锁门" and "client" not in report
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM reports").fetchone() == (1,)
    listed = b.get("/api/reports", params={"status": "open"}, headers=AUTH).json()["reports"]
    assert [r["id"] for r in listed] == [report["id"]]  # the other replica sees it
    view = b.get("/api/map/stations", params={"bbox": "107,28.8,107.5,29.2", "zoom": 12}).json()
    flagged = {f["id"]: f["properties"].get("open_reports") for f in view["features"]}
    assert flagged[SID] == 1
    done = b.post(f"/api/reports/{report['id']}/resolve", json={"note": "已联系"}, headers=AUTH)
    assert done.status_code == 200 and done.json()["resolved_by"] == "desk"
    twice = a.post(f"/api/reports/{report['id']}/resolve", json={}, headers=AUTH)
    assert twice.status_code == 409 and "already resolved by desk" in twice.json()["detail"]
    assert a.post("/api/reports/999/resolve", json={}, headers=AUTH).status_code == 404


def test_the_hourly_limit_holds_across_replicas(two):
    a, b, _ = two
    for client in (a, b, a):
        sent = client.post(f"/api/stations/{SID}/reports", json={"category": "dirty"})
        assert sent.status_code == 201
    refused = b.post(f"/api/stations/{SID}/reports", json={"category": "dirty"})
    assert refused.status_code == 429 and "an hour" in refused.json()["detail"]


def test_concurrent_reports_never_pass_the_limit():
    """20 reports from one device at once, through several connections: exactly the limit."""
    store = PostgresReportStore(pgcluster.bundled_database(), per_hour=5)

    def send(n: int) -> bool:
        try:
            store.add(SID, Category.DIRTY, f"report {n}", None, "10.0.0.7")
        except Exception:  # TooManyReports
            return False
        return True

    with ThreadPoolExecutor(8) as pool:
        accepted = sum(pool.map(send, range(20)))
    assert accepted == 5
    assert len(store.list()) == 5


def test_a_report_is_stored_once_per_key_across_replicas(two):
    """A queued report resent through another replica (or twice at once) is one report."""
    a, b, url = two
    key = {"Idempotency-Key": "0f8fad5b-d9cb-469f-a165-70867728950e"}
    body = {"category": "no_water", "text": "queued offline"}
    with ThreadPoolExecutor(4) as pool:
        sent = list(
            pool.map(
                lambda c: c.post(f"/api/stations/{SID}/reports", json=body, headers=key),
                (a, b, a, b),
            )
        )
    assert [r.status_code for r in sent] == [201] * 4
    assert len({r.json()["id"] for r in sent}) == 1
    assert "idempotency_key" not in sent[0].json()
    with psycopg.connect(url) as conn:
        (count,) = conn.execute("SELECT count(*) FROM reports").fetchone() or (0,)
    assert count == 1
    other = b.post("/api/stations/toudu-union-station/reports", json=body, headers=key)
    assert other.status_code == 409 and "Idempotency-Key" in other.json()["detail"]
    assert a.post(f"/api/stations/{SID}/reports", json=body).status_code == 201  # limit: 2 of 3
