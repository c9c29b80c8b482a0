"""The API behind the office's stations section: ETags and If-Match, history, survey fields,
the hours preview, and the page's door."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from conftest import BUNDLED_LOOP, BUNDLED_STATIONS, station
from stations.api import create_app
from stations.coords import CRS
from stations.errors import PreconditionFailed
from stations.settings import Settings
from stations.storage.geojson import GeoJSONStore
from stations.storage.revision import feature_version
from stations.storage.tabular import feature_to_row, read_rows, rows_to_features, write_rows

TOKEN = "office-token-for-tests-1"
FIELD_TOKEN = "field-token-for-tests-2"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
FIELD = {"Authorization": f"Bearer {FIELD_TOKEN}"}
SID = "delong-yinxing-union-station"
URL = f"/api/stations/{SID}"
SURVEY = {"position_accuracy": "surveyed", "accuracy_m": 8, "surveyed_at": "2026-05-01T08:30:00Z"}


@pytest.fixture
def data(tmp_path) -> Path:
    path = tmp_path / "stations.geojson"
    shutil.copy(BUNDLED_STATIONS, path)
    return path


@pytest.fixture
def api(data):
    settings = Settings(
        _env_file=None,
        stations_path=data,
        loop_path=BUNDLED_LOOP,
        admin_token=f"office:{TOKEN},field:{FIELD_TOKEN}",
    )
    with TestClient(create_app(settings), base_url="https://127.0.0.1") as c:
        yield c


def record(feature: dict) -> dict:
    """A GET answer as a feature to write back (derived members removed)."""
    derived = ("loop_km", "open_now", "navigation")
    props = {k: v for k, v in feature["properties"].items() if k not in derived}
    return {"type": "Feature", "geometry": feature["geometry"], "properties": props}


# --- ETag and If-Match -----------------------------------------------------------------------


def test_the_etag_is_strong_and_names_the_version_in_every_datum(api):
    wgs, gcj = api.get(URL), api.get(URL + "?crs=gcj02")
    assert wgs.headers["etag"].startswith('"') and gcj.headers["etag"].startswith('"')
    assert wgs.headers["etag"] != gcj.headers["etag"]  # two representations...
    assert wgs.headers["etag"][:25] == gcj.headers["etag"][:25]  # ...of one version
    again = api.get(URL, headers={"If-None-Match": wgs.headers["etag"]})
    assert again.status_code == 304 and again.headers["etag"] == wgs.headers["etag"]
    assert api.get(URL, headers={"If-None-Match": gcj.headers["etag"]}).status_code == 200
    # a write based on the GCJ-02 answer is based on the same version
    body = record(gcj.json())
    body["properties"]["phone"] = "023-1234567"
    ok = api.put(URL + "?crs=gcj02", json=body, headers={**AUTH, "If-Match": gcj.headers["etag"]})
    assert ok.status_code == 200, ok.text
    assert ok.headers["etag"][:25] == api.get(URL).headers["etag"][:25] != wgs.headers["etag"][:25]


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_a_stale_if_match_is_412_and_changes_nothing(api, data, method):
    first = api.get(URL)
    changed = api.patch(URL, json={"properties": {"phone": "023-1111111"}}, headers=AUTH)
    assert changed.status_code == 200
    before = data.with_name(data.name + ".journal").read_bytes()
    body = {"json": record(first.json())} if method == "put" else {}
    if method == "patch":
        body = {"json": {"properties": {"notes": "mine"}}}
    stale = api.request(
        method.upper(), URL, headers={**AUTH, "If-Match": first.headers["etag"]}, **body
    )
    assert stale.status_code == 412
    assert "changed since" in stale.json()["detail"] and "If-Match: *" in stale.json()["detail"]
    assert data.with_name(data.name + ".journal").read_bytes() == before
    current = api.get(URL).headers["etag"]
    fresh = api.request(method.upper(), URL, headers={**AUTH, "If-Match": current}, **body)
    assert fresh.status_code == 200, fresh.text


def test_if_match_star_and_malformed_values(api):
    assert api.patch(URL, json={"properties": {"notes": "x"}}, headers={**AUTH, "If-Match": "*"})
    for bad in ('W/"abc"', "abc", '"a", "b"', '"' + "0" * 24 + '", *'):
        answer = api.patch(URL, json={"properties": {}}, headers={**AUTH, "If-Match": bad})
        assert answer.status_code == 400 and "If-Match" in answer.json()["detail"], bad
    gone = api.patch(
        "/api/stations/no-such-station", json={"properties": {}}, headers={**AUTH, "If-Match": "*"}
    )
    assert gone.status_code == 404


def test_if_match_is_checked_inside_the_write_lock(data):
    """Eight writers based on one version at the same moment: exactly one wins."""
    store = GeoJSONStore(data)
    doc, _ = store.snapshot()
    current = next(f for f in doc["features"] if f["id"] == SID)
    version = feature_version(current)
    start = threading.Barrier(8)
    outcomes: list[str] = []

    def write(n: int) -> None:
        start.wait()
        try:
            GeoJSONStore(data).patch(SID, {"properties": {"notes": f"writer {n}"}}, "t", version)
            outcomes.append("ok")
        except PreconditionFailed:
            outcomes.append("412")

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["412"] * 7 + ["ok"]
    assert len(store.history(SID, 50)) == 1


# --- history -------------------------------------------------------------------------------


def test_history_lists_who_when_and_what_changed(api, data):
    assert api.get(URL + "/history").status_code == 401
    assert api.get(URL + "/history", headers=AUTH).json()["history"] == []
    api.patch(URL, json={"properties": {"phone": "023-1234567"}}, headers=AUTH)
    api.patch(
        URL, json={"geometry": {"type": "Point", "coordinates": [107.27, 28.92]}}, headers=FIELD
    )
    api.delete(URL, headers=AUTH)
    answer = api.get(URL + "/history", headers=AUTH)
    assert answer.status_code == 200
    entries = answer.json()["history"]
    assert [(e["actor"], e["action"]) for e in entries] == [
        ("office", "close"),
        ("field", "patch"),
        ("office", "patch"),
    ]
    assert entries[0]["changes"] == [{"field": "status", "before": "open", "after": "closed"}]
    moved = entries[1]["changes"]
    assert moved == [
        {"field": "position", "before": [107.26137, 28.91167], "after": [107.27, 28.92]}
    ]
    assert entries[2]["changes"][0]["after"] == "023-1234567"
    assert entries[2]["at"] < entries[1]["at"] < entries[0]["at"]
    limited = api.get(URL + "/history?limit=1", headers=AUTH).json()["history"]
    assert [e["action"] for e in limited] == ["close"]
    assert api.get(URL + "/history?limit=0", headers=AUTH).status_code == 400
    assert api.get("/api/stations/no-such-one/history", headers=AUTH).status_code == 404


def test_history_follows_the_log_as_it_grows_and_when_it_is_replaced(data):
    store = GeoJSONStore(data)
    store.patch(SID, {"properties": {"notes": "one"}}, "a")
    assert len(store.history(SID, 10)) == 1  # the index is built
    store.patch(SID, {"properties": {"notes": "two"}}, "b")
    with open(store.audit_path, "ab") as log:
        log.write(b'{"at": "half a line')  # a crash mid-append: not a change yet
    assert [e["actor"] for e in store.history(SID, 10)] == ["b", "a"]
    store.import_features([station("imported-one", 107.2, 28.95)], "importer")
    assert store.history("imported-one", 10)[0]["action"] == "import"
    replaced = store.audit_path.with_name("rotated.jsonl")
    replaced.write_text(store.audit_path.read_text().splitlines()[0] + "\n")
    replaced.replace(store.audit_path)  # rotated by hand: a new file
    assert [e["actor"] for e in store.history(SID, 10)] == ["a"]


# --- the survey fields ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("props", "named"),
    [
        ({"accuracy_m": 0}, "accuracy_m"),
        ({"accuracy_m": 1000.5}, "accuracy_m"),
        ({"accuracy_m": "8"}, "accuracy_m"),
        ({"accuracy_m": True}, "accuracy_m"),
        ({"surveyed_at": "2026-05-01 08:30"}, "surveyed_at"),
        ({"surveyed_at": "2026-05-01T08:30:00+08:00"}, "surveyed_at"),
        ({"surveyed_at": "2999-01-01T00:00:00Z"}, "surveyed_at"),
        ({"surveyed_at": 20260501}, "surveyed_at"),
    ],
)
def test_survey_fields_are_validated(api, props, named):
    answer = api.patch(URL, json={"properties": props}, headers=AUTH)
    assert answer.status_code == 400
    assert f"properties.{named}" in answer.json()["detail"]


def test_surveyed_by_is_the_writers_label_whatever_the_client_sends(api):
    sent = {**SURVEY, "surveyed_by": "mallory"}
    answer = api.patch(URL, json={"properties": sent}, headers=AUTH)
    assert answer.status_code == 200 and answer.json()["properties"]["surveyed_by"] == "office"
    # another writer editing the phone does not become the surveyor, nor can it name one
    other = api.patch(
        URL, json={"properties": {"phone": "023-1234567", "surveyed_by": "mallory"}}, headers=FIELD
    )
    assert other.json()["properties"]["surveyed_by"] == "office"
    whole = record(api.get(URL).json())
    whole["properties"]["surveyed_by"] = "field"
    assert api.put(URL, json=whole, headers=FIELD).json()["properties"]["surveyed_by"] == "office"
    # a new survey by the field token is the field token's
    again = api.patch(URL, json={"properties": {**SURVEY, "accuracy_m": 5.5}}, headers=FIELD)
    assert again.json()["properties"]["surveyed_by"] == "field"
    served = api.get(URL).json()["properties"]
    assert served["accuracy_m"] == 5.5 and served["position_accuracy"] == "surveyed"
    # a station never surveyed has no survey members in its answer (answers stay as they were)
    assert "accuracy_m" not in api.get("/api/stations/jinshan-union-station").json()["properties"]


def test_an_unlocated_station_has_no_survey(api):
    answer = api.patch(
        "/api/stations/loop178-union-station-7",
        json={"properties": {"accuracy_m": 5}},
        headers=AUTH,
    )
    assert answer.status_code == 400 and "unknown" in answer.json()["detail"]


# --- the opening hours preview ----------------------------------------------------------------


def test_hours_preview_shows_the_week(api):
    answer = api.get(
        "/api/hours/preview", params={"opening_hours": "Mo-Fr 08:00-18:00"}, headers=AUTH
    )
    assert answer.status_code == 200
    days = answer.json()["days"]
    assert len(days) == 7 and sorted(d["weekday"] for d in days) == list(range(7))
    for day in days:
        open_ = [(i["from"], i["to"]) for i in day["intervals"] if i["state"] == "open"]
        assert open_ == ([("08:00", "18:00")] if day["weekday"] < 5 else [])


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("Mo-Fx 08:00", "invalid opening_hours"),
        ("", "opening_hours"),
        ("Mo " * 300, "opening_hours"),
        ("Mo-Su 08:00-18:00\x00", "control"),
        ("<script>alert(1)</script>", "invalid opening_hours"),
    ],
)
def test_hours_preview_refuses_bad_input_naming_it(api, value, says):
    answer = api.get("/api/hours/preview", params={"opening_hours": value}, headers=AUTH)
    assert answer.status_code == 400
    assert says in answer.json()["detail"]


def test_hours_preview_needs_the_office(api):
    assert api.get("/api/hours/preview?opening_hours=24/7").status_code == 401
    assert api.get("/api/hours/preview?opening_hours=24/7&x=1", headers=AUTH).status_code == 400


# --- the page's door -------------------------------------------------------------------------


def test_the_stations_page_needs_a_session(api):
    away = api.get("/admin/stations?station=" + SID, follow_redirects=False)
    assert away.status_code == 303
    assert away.headers["location"].startswith("/admin?next=/admin/stations")
    api.post("/admin/session", data={"token": TOKEN}, follow_redirects=False)
    page = api.get("/admin/stations?station=" + SID + "&lang=en")
    assert page.status_code == 200 and "Use my position" in page.text
    assert "nonce-" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    assert f'"station":"{SID}"' in page.text
    assert api.get("/admin/stations?station=BAD%20ID").status_code == 400


def test_the_spreadsheet_carries_the_survey(data, tmp_path):
    store = GeoJSONStore(data)
    surveyed = store.patch(SID, {"properties": {**SURVEY, "accuracy_m": 7.5}}, "office")
    sheet = tmp_path / "office.csv"
    write_rows([feature_to_row(surveyed)], sheet)
    header = sheet.read_text(encoding="utf-8-sig").splitlines()[0]
    assert "accuracy_m,surveyed_at,surveyed_by" in header
    good, bad = rows_to_features(read_rows(sheet), CRS.WGS84)
    assert bad.problems == []
    props = good[0][1]["properties"]
    assert (props["accuracy_m"], props["surveyed_at"], props["surveyed_by"]) == (
        7.5,
        "2026-05-01T08:30:00Z",
        "office",
    )
    assert store.plan_import([good[0][1]], update=True).unchanged == [SID]


def test_surrounding_whitespace_is_stripped_alike_by_the_api_the_preview_and_the_sheet(
    api, data, tmp_path
):
    typed = "Mo-Fr 08:00-18:00; PH off "  # a phone keyboard's space after the last word
    preview = api.get("/api/hours/preview", params={"opening_hours": typed}, headers=AUTH)
    assert preview.status_code == 200 and preview.json()["opening_hours"] == typed.strip()
    feature = record(api.get(URL).json())
    feature["properties"].update(opening_hours=typed, phone=" 023-4872 1234 ")
    answer = api.put(URL, json=feature, headers=AUTH)
    assert answer.status_code == 200, answer.text
    stored = api.get(URL).json()["properties"]
    assert (stored["opening_hours"], stored["phone"]) == (typed.strip(), "023-4872 1234")
    feature["properties"]["opening_hours"] = "Mo-Fr 08:00-18:00 "
    assert api.put(URL, json=feature, headers=AUTH).status_code == 200
    assert api.get(URL).json()["properties"]["opening_hours"] == "Mo-Fr 08:00-18:00"
    # the spreadsheet's cells go through the same model: the same stored values
    row = feature_to_row(feature)
    row.update(opening_hours=typed, phone=" 023-4872 1234 ")
    write_rows([row], tmp_path / "sheet.csv")
    good, bad = rows_to_features(read_rows(tmp_path / "sheet.csv"), CRS.WGS84)
    assert bad.problems == []
    store = GeoJSONStore(data)
    store.import_features([good[0][1]], "office", update=True)
    snapshot, _ = store.snapshot()
    props = next(f for f in snapshot["features"] if f["id"] == SID)["properties"]
    assert (props["opening_hours"], props["phone"]) == (typed.strip(), "023-4872 1234")
