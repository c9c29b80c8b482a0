"""API replicas on one PostgreSQL store: read-your-writes, replicas kept in step, and faults.

Each replica here is an app with its own catalog holder (`stations.replica.ReplicaHolder`),
as each `stations serve` worker has, on a PostgreSQL the tests start. The fault tests stop and
start a cluster of their own, so that the shared one stays up for the other tests.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

import pgcluster
from conftest import BUNDLED_LOOP, BUNDLED_STATIONS, station
from stations.api import create_app
from stations.cli import app as cli
from stations.settings import Settings
from stations.storage.postgres.connect import close_pools
from stations.storage.store import open_store
from tracks import drive, gpx_bytes

TOKEN = "s3cret-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
KNOWN = "delong-yinxing-union-station"
BUNDLED_BYTES = BUNDLED_LOOP.read_bytes()


def settings_for(url: str) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=url,
        loop_path=BUNDLED_LOOP,
        admin_token=f"office:{TOKEN}",
        database_poll_s=0.2,
    )


def eventually(check: Callable[[], bool], within_s: float = 20.0) -> bool:
    """Whether ``check`` comes true before ``within_s`` (a bound against hanging, not a speed)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return check()


@pytest.fixture
def replicas() -> Iterator[tuple[TestClient, TestClient]]:
    """Two replicas (A, B) on one fresh database holding the bundled stations."""
    settings = settings_for(pgcluster.bundled_database())
    with ExitStack() as stack:
        a = stack.enter_context(TestClient(create_app(settings)))
        b = stack.enter_context(TestClient(create_app(settings)))
        yield a, b


def test_a_replica_serves_its_own_write_at_once(replicas):
    a, _ = replicas
    before = a.get("/healthz").json()
    assert before["status"] == "ok" and before["behind"] == 0
    created = a.post("/api/stations", json=station("pg-new", 107.2, 28.95), headers=AUTH)
    assert created.status_code == 201, created.text
    assert a.get("/api/stations/pg-new").status_code == 200  # no wait: read-your-writes
    after = a.get("/healthz").json()
    assert after["sequence"] == before["sequence"] + 1
    assert after["stations"] == before["stations"] + 1


def test_a_write_through_one_replica_reaches_the_other(replicas):
    a, b = replicas
    assert b.get("/api/stations/pg-far").status_code == 404
    assert a.post("/api/stations", json=station("pg-far", 107.2, 28.95), headers=AUTH).is_success
    assert eventually(lambda: b.get("/api/stations/pg-far").status_code == 200)
    patched = a.patch(f"/api/stations/{KNOWN}", json={"properties": {"phone": "023-1234567"}},
                      headers=AUTH)  # fmt: skip
    assert patched.status_code == 200
    assert eventually(
        lambda: b.get(f"/api/stations/{KNOWN}").json()["properties"].get("phone") == "023-1234567"
    )
    near = b.get("/api/nearest", params={"lon": 107.2, "lat": 28.95, "k": 1}).json()
    assert near["features"][0]["properties"]["id"] == "pg-far"  # the index holds it too
    assert b.delete("/api/stations/pg-far?purge=true", headers=AUTH).status_code in (200, 204)
    assert eventually(lambda: a.get("/api/stations/pg-far").status_code == 404)


def test_writes_from_another_process_reach_every_replica(replicas):
    """A CLI-style write (a store handle of its own, no API) is followed by both replicas."""
    a, b = replicas
    settings = a.app.services.settings  # type: ignore[attr-defined]
    open_store(settings).import_features(
        [station(f"bulk-{i}", 107.2 + i / 1000, 28.95) for i in range(50)], "cli"
    )
    for client in (a, b):
        assert eventually(lambda c=client: c.get("/healthz").json()["stations"] == 60)
        assert client.get("/api/stations/bulk-49").status_code == 200


def test_bad_writes_are_refused_as_by_the_file_store_and_change_nothing(replicas):
    a, _ = replicas
    version = open_store(a.app.services.settings).version()  # type: ignore[attr-defined]
    bad = a.post("/api/stations", json=station("bad", 107.2, 28.95, kind="castle"), headers=AUTH)
    assert bad.status_code == 400 and "kind" in bad.json()["detail"]
    clash = a.post("/api/stations", json=station(KNOWN, 107.2, 28.95), headers=AUTH)
    assert clash.status_code == 409 and "already exists" in clash.json()["detail"]
    assert open_store(a.app.services.settings).version() == version  # type: ignore[attr-defined]


@pytest.fixture
def own_cluster() -> Iterator[pgcluster.Cluster]:
    """A cluster of this test's own, to stop and start."""
    cluster = pgcluster.Cluster().init()
    cluster.start()
    try:
        yield cluster
    finally:
        close_pools()
        cluster.destroy()


def _database_on(cluster: pgcluster.Cluster) -> str:
    """A new database on ``cluster``, upgraded and holding the bundled stations (`stations db`)."""
    url = cluster.new_database()
    env = {"STATIONS_DATABASE_URL": url}
    for args in (["db", "upgrade"], ["db", "import", str(BUNDLED_STATIONS)]):
        result = CliRunner().invoke(cli, args, env=env)
        assert result.exit_code == 0, result.output
    return url


def test_a_lost_database_degrades_then_recovers_without_a_restart(own_cluster):
    settings = settings_for(_database_on(own_cluster))
    with TestClient(create_app(settings)) as api:
        assert api.post("/api/stations", json=station("s1", 107.2, 28.95), headers=AUTH).is_success
        sequence = api.get("/healthz").json()["sequence"]
        own_cluster.stop("immediate")  # as a crash
        assert eventually(lambda: api.get("/healthz").json()["status"] == "degraded")
        health = api.get("/healthz").json()
        assert health["sequence"] == sequence and health["stations"] == 11
        assert "cannot be reached" in health["detail"]
        # Reads go on from memory...
        assert api.get("/api/stations/s1").status_code == 200
        near = api.get("/api/nearest", params={"lon": 107.2, "lat": 28.95, "k": 1})
        assert near.status_code == 200 and near.json()["features"][0]["id"] == "s1"
        # ...and writes are refused, saying why.
        refused = api.post("/api/stations", json=station("s2", 107.2, 28.95), headers=AUTH)
        assert refused.status_code == 503
        assert "cannot be reached" in refused.json()["detail"]
        assert "writes are refused" in refused.json()["detail"]
        own_cluster.start()
        assert eventually(lambda: api.get("/healthz").json()["status"] == "ok")
        again = api.post("/api/stations", json=station("s2", 107.2, 28.95), headers=AUTH)
        assert again.status_code == 201, again.text
        assert api.get("/api/stations/s2").status_code == 200
        assert api.get("/healthz").json()["sequence"] == sequence + 1


def test_serve_with_the_database_down_is_one_line_without_the_password():
    port = pgcluster._free_port()
    url = f"postgresql://clerk:pw-not-shown@127.0.0.1:{port}/stations"
    result = CliRunner().invoke(cli, ["serve"], env={"STATIONS_DATABASE_URL": url})
    assert result.exit_code == 1
    assert "pw-not-shown" not in result.output
    assert f"postgresql://clerk:***@127.0.0.1:{port}/stations" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_an_edited_loop_file_is_followed_as_with_the_files(tmp_path):
    loop = tmp_path / "loop.geojson"
    shutil.copy(BUNDLED_LOOP, loop)
    settings = settings_for(pgcluster.bundled_database()).model_copy(update={"loop_path": loop})
    with TestClient(create_app(settings)) as api:
        before = api.get("/api/loop").json()
        doc = json.loads(loop.read_text("utf-8"))
        line = doc["features"][0]["geometry"]
        line["coordinates"] = line["coordinates"][::-1]  # the same ring, driven the other way
        loop.write_text(json.dumps(doc), "utf-8")
        assert eventually(lambda: api.get("/api/loop").json() != before)
        assert api.get("/healthz").json()["status"] == "ok"


def test_a_loop_replaced_through_one_replica_is_served_by_both(replicas, bundled):
    """PUT /api/loop on A stores the loop in the database; B reloads it from the change log."""
    a, b = replicas
    gpx = {**AUTH, "Content-Type": "application/gpx+xml"}
    body = gpx_bytes(drive(bundled.loop))
    before = b.get("/api/loop").json()["properties"]
    preview = a.post("/api/loop/preview", content=body, headers=gpx).json()
    put = a.put("/api/loop", content=body, headers={**gpx, "If-Match": preview["version"]})
    assert put.status_code == 200, put.text
    served = a.get("/api/loop").json()["properties"]  # A at once (read-your-writes)
    assert served["geometric_length_m"] == put.json()["geometric_length_m"]
    assert served["geometric_length_m"] != before["geometric_length_m"]
    assert eventually(
        lambda: (
            b.get("/api/loop").json()["properties"]["geometric_length_m"]
            == served["geometric_length_m"]
        )
    )
    marks = {
        m["id"]: m["loop_km"] for m in b.get("/api/loop").json()["properties"]["station_marks"]
    }
    assert marks == {r["id"]: r["new_km"] for r in preview["stations"] if r["new_km"] is not None}
    assert BUNDLED_LOOP.read_bytes() == BUNDLED_BYTES  # the file is not where the loop lives now
    # The same preview accepted on B is stale; a station written after it follows in order.
    stale = b.put("/api/loop", content=body, headers={**gpx, "If-Match": preview["version"]})
    assert stale.status_code == 412 and "preview" in stale.json()["detail"]
    assert b.post(
        "/api/stations", json=station("after-loop", 107.2, 28.95), headers=AUTH
    ).is_success
    assert eventually(lambda: a.get("/api/stations/after-loop").status_code == 200)
    assert (
        a.get("/api/loop").json()["properties"]["geometric_length_m"]
        == served["geometric_length_m"]
    )
    for client in (a, b):
        assert client.get("/healthz").json()["status"] == "ok"


def test_a_replica_serves_the_database_loop_without_a_loop_file(tmp_path):
    url = pgcluster.bundled_database()
    loop = json.loads(BUNDLED_LOOP.read_text("utf-8"))["features"][0]
    loop["properties"]["name"] = "the database's loop"
    open_store(settings_for(url)).replace_loop(loop, "office")
    settings = settings_for(url).model_copy(update={"loop_path": tmp_path / "absent.geojson"})
    with TestClient(create_app(settings)) as api:
        assert api.get("/api/loop").json()["properties"]["name"] == "the database's loop"
        assert api.post("/api/stations", json=station("s-x", 107.2, 28.95), headers=AUTH).is_success
        assert api.get("/healthz").json()["status"] == "ok"
