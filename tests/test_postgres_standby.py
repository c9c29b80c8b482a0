"""A replica that loads and follows a hot standby (``STATIONS_DATABASE_READ_URL``).

The standby is made with ``pg_basebackup`` from a primary the test starts, and follows it by
streaming replication; the replica writes to the primary and reads the standby.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import psycopg
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

TOKEN = "s3cret-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

pytestmark = pytest.mark.slow


def eventually(check: Callable[[], bool], within_s: float = 30.0) -> bool:
    """Whether ``check`` comes true before ``within_s`` (a bound against hanging, not a speed)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


@pytest.fixture
def primary_and_standby() -> Iterator[tuple[str, str]]:
    """URLs of one database on a primary and on its hot standby."""
    primary = pgcluster.Cluster().init()
    primary.start()
    standby: pgcluster.Cluster | None = None
    try:
        url = primary.new_database()
        for args in (["db", "upgrade"], ["db", "import", str(BUNDLED_STATIONS)]):
            result = CliRunner().invoke(cli, args, env={"STATIONS_DATABASE_URL": url})
            assert result.exit_code == 0, result.output
        standby = primary.standby()
        name = url.rsplit("/", 1)[1]
        yield url, standby.url(name)
    finally:
        close_pools()
        if standby is not None:
            standby.destroy()
        primary.destroy()


def test_a_replica_following_a_standby_sees_writes_made_on_the_primary(primary_and_standby):
    primary, standby = primary_and_standby
    with psycopg.connect(standby) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=primary,
        database_read_url=standby,
        loop_path=BUNDLED_LOOP,
        admin_token=f"office:{TOKEN}",
        database_poll_s=0.2,
    )
    with TestClient(create_app(settings)) as api:
        assert api.get("/healthz").json()["stations"] == 10
        # A write made elsewhere on the primary reaches the replica through the standby.
        open_store(settings).create(station("on-primary", 107.2, 28.95), "elsewhere")
        assert eventually(lambda: api.get("/api/stations/on-primary").status_code == 200)
        # Its own write it serves at once, though the standby may not have it yet.
        mine = api.post("/api/stations", json=station("mine", 107.21, 28.95), headers=AUTH)
        assert mine.status_code == 201, mine.text
        assert api.get("/api/stations/mine").status_code == 200
        assert eventually(lambda: api.get("/healthz").json()["stations"] == 12)
        assert api.get("/healthz").json()["status"] == "ok"
