"""The loop's API: preview a driven track without writing, replace the loop with If-Match.

The preview and the replacement build the loop with the same code as ``stations loop import``
(`stations.loop_import`); the write goes through the store (`Store.replace_loop`): audited, the
old loop kept, and every worker serves the new one on its next request.
"""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from conftest import BUNDLED_LOOP, BUNDLED_STATIONS
from helpers import serve
from stations.api.app import create_app
from stations.cli import app as cli
from stations.loop import load_loop
from stations.loop_import import loop_digest
from stations.settings import Settings
from stations.storage.loopfile import version_of
from tracks import drive, gpx_bytes

TOKEN = "loop-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
GPX = {**AUTH, "Content-Type": "application/gpx+xml"}


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    shutil.copy(BUNDLED_STATIONS, tmp_path / "stations.geojson")
    shutil.copy(BUNDLED_LOOP, tmp_path / "loop178.geojson")
    return {"stations": tmp_path / "stations.geojson", "loop": tmp_path / "loop178.geojson"}


def make_client(files: dict[str, Path], **extra: object) -> TestClient:
    settings = Settings(
        _env_file=None,
        stations_path=files["stations"],
        loop_path=files["loop"],
        admin_token=f"office:{TOKEN}",
        **extra,
    )
    return TestClient(create_app(settings), base_url="https://127.0.0.1")


@pytest.fixture
def client(files):
    with make_client(files) as c:
        yield c


@pytest.fixture(scope="module")
def track(bundled) -> list[tuple[float, float]]:
    return drive(bundled.loop)


def untouched(files: dict[str, Path]) -> None:
    assert files["loop"].read_bytes() == BUNDLED_LOOP.read_bytes()
    folder = files["loop"].parent
    assert not (folder / "audit.jsonl").exists()
    assert not (folder / ".backups").exists()


def test_preview_answers_the_changes_and_writes_nothing(client, files, track, bundled):
    answer = client.post("/api/loop/preview", content=gpx_bytes(track), headers=GPX)
    assert answer.status_code == 200, answer.text
    p = answer.json()
    assert p["version"] == version_of(BUNDLED_LOOP.read_bytes())
    assert p["old"]["geometric_length_m"] == round(bundled.loop.length_m, 1)
    assert p["old"]["accuracy"] == "schematic"
    # the detour makes the new loop longer; the track is kept in fewer vertices
    assert p["new"]["geometric_length_m"] > p["old"]["geometric_length_m"] + 1000
    assert p["new"]["track_points"] == len(track)
    assert 6 < p["new"]["vertices"] < len(track)
    assert p["loop"]["geometry"]["type"] == "LineString"
    assert p["digest"] == loop_digest(p["loop"])
    rows = {r["id"]: r for r in p["stations"]}
    assert set(rows) == {s.id for s in bundled.all}
    placed = [r for r in rows.values() if r["old_km"] is not None]
    assert placed and all(r["new_km"] is not None for r in placed)
    for r in placed:
        assert r["moved_km"] == pytest.approx((r["new_km"] - r["old_km"] + 89) % 178 - 89, abs=0.01)
        assert (r["change"] == "moved") == (abs(r["moved_km"]) > p["flag_km"])
    assert p["changed"] == sum(r["change"] is not None for r in rows.values()) > 0
    untouched(files)


def test_accept_replaces_through_the_store_then_a_stale_version_gets_412(client, files, track):
    body = gpx_bytes(track)
    p = client.post("/api/loop/preview", content=body, headers=GPX).json()
    put = client.put("/api/loop", content=body, headers={**GPX, "If-Match": p["version"]})
    assert put.status_code == 200, put.text
    done = put.json()
    assert done["digest"] == p["digest"]
    assert put.headers["etag"] == done["version"] == version_of(files["loop"].read_bytes())
    stored = load_loop(files["loop"])
    assert stored.properties["accuracy"] == "gps_track"
    assert stored.official_length_m == 178_000  # the old loop's properties kept
    served = client.get("/api/loop").json()["properties"]
    assert served["geometric_length_m"] == done["geometric_length_m"]
    marks = {m["id"]: m["loop_km"] for m in served["station_marks"]}
    assert marks == {r["id"]: r["new_km"] for r in p["stations"] if r["new_km"] is not None}
    audit = [json.loads(line) for line in (files["loop"].parent / "audit.jsonl").open()]
    assert [(a["action"], a["actor"]) for a in audit] == [("replace_loop", "office")]
    assert audit[0]["before"]["properties"]["accuracy"] == "schematic"
    assert audit[0]["after"]["vertices"] == done["vertices"]
    backups = list((files["loop"].parent / ".backups").glob("loop178.*.geojson"))
    assert [b.read_bytes() for b in backups] == [BUNDLED_LOOP.read_bytes()]
    # the same preview accepted again (or by a colleague) is now stale
    after = files["loop"].read_bytes()
    stale = client.put("/api/loop", content=body, headers={**GPX, "If-Match": p["version"]})
    assert stale.status_code == 412 and "preview" in stale.json()["detail"]
    assert files["loop"].read_bytes() == after


def test_fixes_as_json_give_the_same_loop_as_gpx(client, files, track):
    from_gpx = client.post("/api/loop/preview", content=gpx_bytes(track), headers=GPX).json()
    fixes = [[x, y, 1_764_489_600_000 + 1000 * i, 8.0] for i, (x, y) in enumerate(track)]
    from_json = client.post("/api/loop/preview", json=fixes, headers=AUTH)
    assert from_json.status_code == 200, from_json.text
    assert from_json.json()["digest"] == from_gpx["digest"]
    untouched(files)


def test_if_match_is_required_and_star_replaces_whatever_is_there(client, files, track):
    body = gpx_bytes(track)
    for value in (None, "", "abc", '"a", "b"', 'W/"abc'):
        headers = GPX if value is None else {**GPX, "If-Match": value}
        answer = client.put("/api/loop", content=body, headers=headers)
        assert answer.status_code == 400 and "If-Match" in answer.json()["detail"], value
    untouched(files)
    assert (
        client.put("/api/loop", content=body, headers={**GPX, "If-Match": "*"}).status_code == 200
    )


def test_credentials_are_checked_before_the_track_is_read(client, files, track):
    body = gpx_bytes(track, padding=600)
    assert len(body) > 1_048_576  # past the app's usual body limit: the loop's own applies
    assert client.post("/api/loop/preview", content=body, headers=GPX).status_code == 200
    bare = {"Content-Type": "application/gpx+xml"}
    assert client.post("/api/loop/preview", content=body, headers=bare).status_code == 401
    wrong = {**bare, "Authorization": "Bearer wrong-token-000"}
    assert client.put("/api/loop", content=body, headers=wrong).status_code == 403
    client.cookies.set("__Host-stations-admin", "forged", domain="127.0.0.1")
    assert client.post("/api/loop/preview", content=body, headers=bare).status_code == 401
    untouched(files)


def closed_square(lat: float = 29.0) -> list[tuple[float, float]]:
    return [(107.0, lat), (107.0, lat + 0.05), (107.05, lat + 0.05), (107.05, lat), (107.0, lat)]


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE gpx [
 <!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
 <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
 <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
 <!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
]>
<gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1"><trk><name>&d;</name><trkseg>
<trkpt lat="29" lon="107"/><trkpt lat="29.05" lon="107"/><trkpt lat="29.05" lon="107.05"/>
<trkpt lat="29" lon="107.05"/><trkpt lat="29" lon="107"/></trkseg></trk></gpx>"""
EXTERNAL = BOMB.replace(
    b'<!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">',
    b'<!ENTITY a SYSTEM "file:///etc/passwd">',
)


def square_gpx(**replace: str) -> bytes:
    body = gpx_bytes(closed_square())
    for old, new in replace.items():
        body = body.replace(old.encode(), new.encode())
    return body


@pytest.mark.parametrize(
    ("body", "kind", "message"),
    [
        (BOMB, "application/gpx+xml", "DTD"),
        (EXTERNAL, "application/gpx+xml", "DTD"),
        (b"<gpx><trk><trkseg><trkpt lat=", "application/gpx+xml", "not well-formed"),
        (b"\xff\xfe\x00garbage", "application/gpx+xml", "not a readable GPX"),
        (b"", "application/gpx+xml", "not a readable GPX"),
        (square_gpx(**{'lat="29.0500000"': 'lat="NaN"'}), "application/gpx+xml", "not numbers"),
        (square_gpx(**{'lat="29.0500000"': 'lat="95"'}), "application/gpx+xml", "lat [-90, 90]"),
        (gpx_bytes(closed_square()[:-1]), "application/gpx+xml", "does not close: it ends"),
        (square_gpx(**{'lat="29.0500000"': 'lat="-60"'}), "application/gpx+xml", "km long"),
        (b"[[107, 29], [107, 29.05], [107.05, 29.05]]", "application/json", "fewer than 4"),
        (b'[[107, 29, "x"]]', "application/json", "fix 0"),
        (b"[[107, NaN], [1, 2], [3, 4], [5, 6]]", "application/json", "finite"),
        (b'{"type": "Feature"}', "application/json", "array of fixes"),
        (b"[[200, 29], [107, 29.05], [107.05, 29.05], [107, 29]]", "application/json", "fix 0"),
        (gpx_bytes(closed_square()), "text/plain", "application/gpx+xml"),
    ],
)
def test_hostile_tracks_are_refused_with_a_reason(client, files, body, kind, message):
    for path, method in (("/api/loop/preview", "POST"), ("/api/loop", "PUT")):
        headers = {**AUTH, "Content-Type": kind, "If-Match": "*"}
        answer = client.request(method, path, content=body, headers=headers)
        assert answer.status_code == 400, (path, answer.text)
        assert message in answer.json()["detail"], answer.json()["detail"]
    untouched(files)


def test_a_track_that_does_not_close_says_how_far_apart_its_ends_are(client, track):
    half = track[: len(track) // 2]
    answer = client.post("/api/loop/preview", content=gpx_bytes(half), headers=GPX)
    assert answer.status_code == 400
    assert "does not close: it ends" in answer.json()["detail"]
    assert " m from where it starts" in answer.json()["detail"]


def test_size_and_point_limits(files, track):
    with make_client(files, max_track_bytes=200_000, max_track_points=1000) as c:
        many = gpx_bytes(track[:1500])
        assert len(many) < 200_000
        answer = c.post("/api/loop/preview", content=many, headers=GPX)
        assert answer.status_code == 400 and "more than 1000 points" in answer.json()["detail"]
        fixes = [[x, y] for x, y in track[:1500]]
        answer = c.post(
            "/api/loop/preview",
            content=orjson.dumps(fixes),
            headers=AUTH | {"Content-Type": "application/json"},
        )
        assert answer.status_code == 400 and "at most 1000" in answer.json()["detail"]
        huge = gpx_bytes(track[:900], padding=300)
        answer = c.post("/api/loop/preview", content=huge, headers=GPX)
        assert answer.status_code == 413
        chunked = c.post("/api/loop/preview", content=iter([huge]), headers=GPX)
        assert chunked.status_code == 413
    untouched(files)


def test_cli_import_shares_the_code_and_the_store(files, track, tmp_path):
    """`stations loop import` builds the same loop as the API and writes it through the store."""
    track_file = tmp_path / "drive.gpx"
    track_file.write_bytes(gpx_bytes(track))
    with make_client(files) as c:
        previewed = c.post("/api/loop/preview", content=gpx_bytes(track), headers=GPX).json()
    args = ["loop", "import", str(track_file), "--loop", str(files["loop"])]
    # a dry run shows the page's preview: old and new marks, the same count, the scale
    dry = CliRunner().invoke(cli, [*args, "--stations", str(files["stations"]), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    for row in previewed["stations"]:
        if row["old_km"] is not None and row["new_km"] is not None:
            assert f"{row['old_km']:.1f}" in dry.output and f"{row['new_km']:.1f}" in dry.output
    assert f"{previewed['changed']} station(s) moved more than 2 km" in dry.output
    scale = previewed["new"]["km_scale"]
    assert scale != 1 and f"x {scale:.3f}" in dry.output
    assert previewed["changed"] == sum(r["change"] is not None for r in previewed["stations"])
    result = CliRunner().invoke(
        cli, [*args, "--stations", str(files["stations"]), "--actor", "ana"]
    )
    assert result.exit_code == 0, result.output
    stored = orjson.loads(files["loop"].read_bytes())["features"][0]
    assert loop_digest(stored) == previewed["digest"]
    audit = [json.loads(line) for line in (tmp_path / "audit.jsonl").open()]
    assert [(a["action"], a["actor"]) for a in audit] == [("replace_loop", "ana")]


def test_every_worker_serves_the_new_loop_on_its_next_request(files, track):
    """Workers between their full checks trust the journal alone; replacing the loop moves it.

    Riders keep both workers busy (so each has checked every file within the last second and
    trusts the journal until then); right after the replacement, every answer has the new loop.
    """
    env = {
        "STATIONS_STATIONS_PATH": str(files["stations"]),
        "STATIONS_LOOP_PATH": str(files["loop"]),
        "STATIONS_ADMIN_TOKEN": f"office:{TOKEN}",
    }
    stop = threading.Event()

    def riders() -> None:
        while not stop.is_set():
            with httpx.Client() as fresh:
                fresh.get(f"{base}/api/loop")

    with serve(env, args=("--workers", "2")) as base:
        old = httpx.get(f"{base}/api/loop").json()["properties"]["geometric_length_m"]
        threads = [threading.Thread(target=riders) for _ in range(2)]
        for thread in threads:
            thread.start()
        try:
            body = gpx_bytes(track)
            put = httpx.put(f"{base}/api/loop", content=body, headers={**GPX, "If-Match": "*"})
            assert put.status_code == 200, put.text
            new = put.json()["geometric_length_m"]
            assert new != old
            for _ in range(20):  # fresh connections: either worker answers
                with httpx.Client() as fresh:
                    served = fresh.get(f"{base}/api/loop").json()["properties"]
                assert served["geometric_length_m"] == new
        finally:
            stop.set()
            for thread in threads:
                thread.join()


def test_the_maps_credit_the_loop_they_show(client, track):
    """The attribution follows the data: GeoNames for the sketch, the GPS track once replaced."""

    def shown(page: str) -> str:  # the page's JSON escapes "&" as \u0026
        return client.get(page).text.replace("\\u0026", "&")

    for page in ("/", "/map"):
        assert "Loop &amp; sites: GeoNames CC BY 4.0 (approximate)" in shown(page)
    version = client.post("/api/loop/preview", content=gpx_bytes(track), headers=GPX).json()
    answer = client.put(
        "/api/loop", content=gpx_bytes(track), headers={**GPX, "If-Match": version["version"]}
    )
    assert answer.status_code == 200, answer.text
    day = client.get("/api/loop").json()["properties"]["imported"][:10]
    for page in ("/", "/map"):
        text = shown(page)
        assert f"Loop: GPS track, {day} · Sites: GeoNames CC BY 4.0 (approximate)" in text
        assert "Loop &amp; sites" not in text
