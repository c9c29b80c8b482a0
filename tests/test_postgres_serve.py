"""Real `stations serve` replicas on one PostgreSQL: in step, none lost, and through a crash.

Each test starts a PostgreSQL cluster of its own (it stops or kills it) and `stations serve`
processes on free ports (`helpers.serve`), talking to them over HTTP on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

import pgcluster
from conftest import BUNDLED_STATIONS, station
from helpers import serve
from stations.cli import app as cli

TOKEN = "s3cret-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

pytestmark = pytest.mark.slow


@pytest.fixture
def cluster() -> Iterator[pgcluster.Cluster]:
    own = pgcluster.Cluster().init()
    own.start()
    try:
        yield own
    finally:
        own.destroy()


def prepared(cluster: pgcluster.Cluster) -> str:
    """A database on ``cluster`` with the schema and the bundled stations; its URL."""
    url = cluster.new_database()
    for args in (["db", "upgrade"], ["db", "import", str(BUNDLED_STATIONS)]):
        result = CliRunner().invoke(cli, args, env={"STATIONS_DATABASE_URL": url})
        assert result.exit_code == 0, result.output
    return url


def env_for(url: str) -> dict[str, str]:
    return {
        "STATIONS_DATABASE_URL": url,
        "STATIONS_ADMIN_TOKEN": f"office:{TOKEN}",
        "STATIONS_DATABASE_POLL_S": "0.2",
    }


def eventually(check: Callable[[], bool], within_s: float = 30.0) -> bool:
    """Whether ``check`` comes true before ``within_s`` (a bound against hanging, not a speed)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def ids_on(base: str) -> set[str]:
    body = httpx.get(f"{base}/api/stations", params={"limit": 10_000}, timeout=10).json()
    return {f["id"] for f in body["features"]}


def test_two_replicas_stay_in_step_and_lose_nothing_under_concurrent_writes(cluster, tmp_path):
    url = prepared(cluster)
    with serve(env_for(url)) as a, serve(env_for(url)) as b:
        created = httpx.post(f"{a}/api/stations", json=station("via-a", 107.2, 28.95),
                             headers=AUTH, timeout=10)  # fmt: skip
        assert created.status_code == 201, created.text
        assert eventually(lambda: httpx.get(f"{b}/api/stations/via-a").status_code == 200)

        def client(n: int) -> list[str]:
            done = []
            with httpx.Client(timeout=30) as http:
                for i in range(25):
                    sid = f"c{n}-{i}"
                    base = (a, b)[(n + i) % 2]
                    answer = http.post(f"{base}/api/stations",
                                       json=station(sid, 107.0 + n / 10, 28.5 + i / 100),
                                       headers=AUTH)  # fmt: skip
                    assert answer.status_code == 201, answer.text
                    done.append(sid)
            return done

        bulk = tmp_path / "bulk.geojson"
        bulk.write_text(
            '{"type": "FeatureCollection", "features": ['
            + ",".join(json.dumps(station(f"bulk-{i}", 107.3, 28.6 + i / 1000)) for i in range(200))
            + "]}",
            "utf-8",
        )
        importer = subprocess.Popen(
            [sys.executable, "-m", "stations", "db", "import", str(bulk)],
            env={**os.environ, "STATIONS_DATABASE_URL": url},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        with ThreadPoolExecutor(4) as pool:
            written = [sid for ids in pool.map(client, range(4)) for sid in ids]
        out, _ = importer.communicate(timeout=120)
        assert importer.returncode == 0, out.decode()
        expected = set(written) | {f"bulk-{i}" for i in range(200)} | {"via-a"}
        assert len(expected) == 301
        for base in (a, b):
            assert eventually(lambda base=base: expected <= ids_on(base)), base


def test_serve_waits_for_the_database_with_wait_for_db(cluster):
    url = prepared(cluster)
    cluster.stop()
    timer = threading.Timer(2.0, cluster.start)
    timer.start()
    try:
        with serve(env_for(url), args=("--wait-for-db", "60")) as base:
            health = httpx.get(f"{base}/healthz").json()
            assert health["status"] == "ok" and health["stations"] == 10
    finally:
        timer.join()


def _kill_database(cluster: pgcluster.Cluster) -> None:
    """SIGKILL the postmaster and every server process it started (a crash, not a shutdown)."""
    pid = int((cluster.data / "postmaster.pid").read_text().split()[0])
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    for victim in [pid, *map(int, children.stdout.split())]:
        try:
            os.kill(victim, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        time.sleep(0.05)


def test_a_killed_database_loses_no_acknowledged_write_and_replicas_catch_up(cluster):
    url = prepared(cluster)
    acked: list[str] = []
    read_failures: list[str] = []
    stop = threading.Event()
    with serve(env_for(url)) as a, serve(env_for(url)) as b:

        def write() -> None:
            with httpx.Client(timeout=30) as http:
                i = 0
                while not stop.is_set():
                    sid = f"w-{i}"
                    try:
                        answer = http.post(f"{(a, b)[i % 2]}/api/stations",
                                           json=station(sid, 107.2, 28.6 + i / 1000),
                                           headers=AUTH)  # fmt: skip
                    except httpx.TransportError:
                        answer = None
                    if answer is not None and answer.status_code == 201:
                        acked.append(sid)
                    elif answer is not None and answer.status_code != 503:
                        read_failures.append(f"write {sid}: {answer.status_code} {answer.text}")
                    i += 1
                    time.sleep(0.01)

        def read() -> None:
            with httpx.Client(timeout=30) as http:
                while not stop.is_set():
                    for base in (a, b):
                        near = http.get(f"{base}/api/nearest", params={"lon": 107.2, "lat": 28.6})
                        if near.status_code != 200:
                            read_failures.append(f"read: {near.status_code}")

        threads = [threading.Thread(target=write), threading.Thread(target=read)]
        for thread in threads:
            thread.start()
        try:
            assert eventually(lambda: len(acked) >= 20)
            _kill_database(cluster)
            killed_at = len(acked)
            time.sleep(1.0)
            cluster.start()
            assert eventually(lambda: len(acked) >= killed_at + 20)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=60)
        assert read_failures == []
        for base in (a, b):
            assert eventually(lambda base=base: set(acked) <= ids_on(base)), base
            assert eventually(lambda base=base: caught_up(base)), base


def caught_up(base: str) -> bool:
    """Whether the replica at ``base`` is healthy and has applied every announced write."""
    health = httpx.get(f"{base}/healthz", timeout=10).json()
    return bool(health["status"] == "ok" and health["behind"] == 0)
