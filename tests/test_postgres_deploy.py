"""The deployment recipe (deploy/start.sh): two replicas behind Debian's nginx, one database.

A client that writes through the balancer and then reads through it sees its write; the write
reaches both replicas.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

import pgcluster
from conftest import station
from helpers import free_port

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "s3cret-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

pytestmark = pytest.mark.slow


def eventually(check: Callable[[], bool], within_s: float = 60.0) -> bool:
    """Whether ``check`` comes true before ``within_s`` (a bound against hanging, not a speed)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            if check():
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    return check()


@pytest.fixture
def deployment(tmp_path) -> Iterator[tuple[str, list[str]]]:
    """The balancer's URL and the replicas' URLs, started by deploy/start.sh."""
    if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        pytest.fail("nginx is not installed: apt-get install nginx (.ci/run does)")
    url = pgcluster.bundled_database()
    listen, ports = free_port(), [free_port(), free_port()]
    run = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATIONS_")}
    env.update(
        STATIONS_DATABASE_URL=url,
        STATIONS_ADMIN_TOKEN=f"office:{TOKEN}",
        STATIONS_DATABASE_POLL_S="0.2",
        STATIONS_BIN=str(Path(sys.executable).parent / "stations"),
    )
    log = (tmp_path / "start.log").open("wb")
    proc = subprocess.Popen(
        ["bash", str(ROOT / "deploy" / "start.sh"), str(run), str(listen), *map(str, ports)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    balancer = f"http://127.0.0.1:{listen}"
    replicas = [f"http://127.0.0.1:{p}" for p in ports]
    try:
        for base in [*replicas, balancer]:
            up = eventually(lambda base=base: httpx.get(f"{base}/healthz").status_code == 200)
            assert up, (tmp_path / "start.log").read_text(errors="replace")[-3000:]
        yield balancer, replicas
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def test_a_client_reads_its_write_through_the_balancer(deployment):
    balancer, replicas = deployment
    with httpx.Client(base_url=balancer, timeout=30) as client:
        for i in range(10):
            sid = f"via-nginx-{i}"
            created = client.post("/api/stations", json=station(sid, 107.2, 28.9 + i / 100),
                                  headers=AUTH)  # fmt: skip
            assert created.status_code == 201, created.text
            read = client.get(f"/api/stations/{sid}")
            assert read.status_code == 200 and read.json()["id"] == sid
    for base in replicas:
        assert eventually(
            lambda base=base: httpx.get(f"{base}/api/stations/via-nginx-9").is_success
        )
