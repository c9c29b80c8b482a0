"""The store under real processes: concurrent writers, a server killed mid-write, a bad file."""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from conftest import BUNDLED_LOOP, BUNDLED_STATIONS, station
from helpers import free_port, serve
from stations.storage.loading import load_stations

TOKEN = "t0ken-for-process-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

WRITER = """
import sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from conftest import station
from stations.storage.geojson import GeoJSONStore
store = GeoJSONStore(Path({path!r}))
for i in range({n}):
    store.create(station(f"cli-{{i}}", 107.0 + i * 0.001, 28.8), "cli")
"""


@pytest.fixture
def data(tmp_path):
    path = tmp_path / "stations.geojson"
    shutil.copy(BUNDLED_STATIONS, path)
    return path


def env_for(data):
    return {
        "STATIONS_STATIONS_PATH": str(data),
        "STATIONS_LOOP_PATH": str(BUNDLED_LOOP),
        "STATIONS_ADMIN_TOKEN": TOKEN,
    }


def test_concurrent_writers_lose_nothing(data):
    # 4 clients x 25 creates through 2 API workers, while another process writes 25 directly.
    with serve(env_for(data), ("--workers", "2")) as base:
        cli = subprocess.Popen(
            [
                sys.executable,
                "-c",
                WRITER.format(tests=os.path.dirname(__file__), path=str(data), n=20),
            ]
        )
        sheet = data.parent / "office.csv"
        rows = "".join(
            f"imp-{i},驿站{i},union_station,107.3,{28.8 + i * 0.001:.3f},approximate,t\n"
            for i in range(5)
        )
        sheet.write_text("id,name,kind,lon,lat,position_accuracy,source\n" + rows, encoding="utf-8")
        importer = subprocess.Popen(
            [sys.executable, "-m", "stations", "import", str(sheet), "--stations", str(data)],
            stdout=subprocess.DEVNULL,
        )

        def client(c: int) -> list[str]:
            done = []
            with httpx.Client(base_url=base, headers=AUTH, timeout=60) as h:
                for i in range(25):
                    sid = f"api-{c}-{i}"
                    r = h.post(
                        "/api/stations", json=station(sid, 107.2 + i * 0.001, 29.0 + c * 0.01)
                    )
                    assert r.status_code == 201, r.text
                    done.append(sid)
            return done

        with ThreadPoolExecutor(4) as pool:
            acknowledged = [sid for ids in pool.map(client, range(4)) for sid in ids]
        assert cli.wait(timeout=120) == 0
        assert importer.wait(timeout=120) == 0
        ids = {s.id for s in load_stations(data).stations}
        assert set(acknowledged) <= ids and {f"cli-{i}" for i in range(20)} <= ids
        assert {f"imp-{i}" for i in range(5)} <= ids
        assert len(ids) == 10 + 100 + 25
        # Every worker serves the new data (no restart). A worker that missed two folds reloads
        # the file in a thread and answers from the data of a moment ago meanwhile (holder.py),
        # so each worker is given until a deadline; then every answer, from fresh connections
        # (any worker), must be the new data.
        wanted = ("api-3-24", "cli-19", "imp-4", "api-0-0")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            codes = [httpx.get(f"{base}/api/stations/{sid}").status_code for sid in wanted * 4]
            if set(codes) == {200}:
                break
            time.sleep(0.2)
        for sid in wanted * 3:
            assert httpx.get(f"{base}/api/stations/{sid}").status_code == 200
        assert httpx.get(f"{base}/healthz").json()["stations"] == 135
    audit = (data.parent / "audit.jsonl").read_text().splitlines()
    assert len(audit) == 100 + 20 + 1  # the import is one change


def test_sigkill_mid_stream_keeps_every_acknowledged_write(data):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATIONS_")}
    env.update(env_for(data))
    proc = subprocess.Popen(
        [sys.executable, "-m", "stations", "serve", "--port", str(port), "--no-access-log"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            httpx.get(base + "/healthz", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.1)
    acknowledged: list[str] = []
    stop = threading.Event()

    def stream():
        with httpx.Client(base_url=base, headers=AUTH, timeout=5) as h:
            i = 0
            while not stop.is_set():
                sid = f"k-{i}"
                try:
                    r = h.post("/api/stations", json=station(sid, 107.1 + i * 1e-4, 28.9))
                except httpx.TransportError:
                    return
                if r.status_code == 201:
                    acknowledged.append(sid)
                i += 1

    t = threading.Thread(target=stream)
    t.start()
    while len(acknowledged) < 15:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    stop.set()
    t.join()
    ids = {s.id for s in load_stations(data).stations}  # the file is valid
    assert set(acknowledged) <= ids
    assert len(acknowledged) >= 15
    leftovers = [p.name for p in data.parent.iterdir() if p.name.endswith(".tmp")]
    assert len(leftovers) <= 1  # at most the write that was cut off; never read as data


def test_corrupt_file_at_start_is_refused_naming_the_backup(data):
    from stations.storage.geojson import GeoJSONStore

    store = GeoJSONStore(data)
    store.create(station("one", 107.2, 28.9), "test")
    assert store.compact() == 1  # folding the journal in makes a backup
    data.write_bytes(data.read_bytes()[:500])  # truncated
    before = data.read_bytes()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATIONS_")}
    env.update(env_for(data))
    r = subprocess.run(
        [sys.executable, "-m", "stations", "serve", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1
    assert "not valid JSON" in r.stderr or "JSON" in r.stderr
    assert ".backups" in r.stderr and "stations validate" in r.stderr
    assert "Traceback" not in r.stderr
    assert data.read_bytes() == before  # refused, never replaced
    json.loads(next((data.parent / ".backups").glob("*.geojson")).read_text("utf-8"))
