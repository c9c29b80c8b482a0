"""A rider asking for open stations hears about a nearer one that is closed now (item: the
rider standing 56 m from 德隆 at night was only sent to 头渡, 8 km away)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from conftest import BUNDLED_LOOP, BUNDLED_STATIONS
from stations import query
from stations.api import create_app
from stations.catalog import Catalog
from stations.features import QueryContext
from stations.settings import Settings

DELONG = (107.2618, 28.912)
DELONG_ID = "delong-yinxing-union-station"
TZ = ZoneInfo("Asia/Shanghai")


def closed_hours(now: datetime) -> tuple[str, datetime]:
    """Hours that are closed at ``now`` (every day, one hour starting 2 hours on), and when
    they next open."""
    opens = (now + timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
    shut = opens + timedelta(hours=1)
    return f"Mo-Su {opens:%H:%M}-{shut:%H:%M}", opens


def stations_with(tmp_path: Path, hours: dict[str, str | None]) -> Path:
    doc = json.loads(BUNDLED_STATIONS.read_text(encoding="utf-8"))
    for feature in doc["features"]:
        if feature["id"] in hours:
            feature["properties"]["opening_hours"] = hours[feature["id"]]
    path = tmp_path / "stations.geojson"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


def test_night_at_delong_names_the_closed_station(tmp_path):
    path = stations_with(tmp_path, {DELONG_ID: "Mo-Fr 08:00-18:00"})
    catalog = Catalog.from_paths(path, BUNDLED_LOOP)
    night = datetime(2026, 11, 30, 0, 31, tzinfo=TZ)  # a Monday, 00:31
    ctx = QueryContext(now=night)
    answer = query.find_nearest(
        catalog, *DELONG, k=3, filters=query.Filters(open_now=True), ctx=ctx
    ).geojson()
    assert answer["features"][0]["id"] != DELONG_ID
    closed = answer["nearer_closed"]
    assert closed["id"] == DELONG_ID
    assert closed["name"] == "德隆银杏村工会驿站"
    assert 50 < closed["distance_m"] < 60
    assert closed["open_now"] is False
    assert closed["opens_at"] == "2026-11-30T08:00:00+08:00"
    assert closed["distance_m"] < answer["features"][0]["properties"]["distance_m"]


def test_no_word_when_the_nearest_is_open_or_not_asked(tmp_path):
    path = stations_with(tmp_path, {DELONG_ID: "Mo-Fr 08:00-18:00"})
    catalog = Catalog.from_paths(path, BUNDLED_LOOP)
    day = QueryContext(now=datetime(2026, 11, 30, 10, 0, tzinfo=TZ))
    opened = query.find_nearest(catalog, *DELONG, filters=query.Filters(open_now=True), ctx=day)
    assert "nearer_closed" not in opened.geojson()
    night = QueryContext(now=datetime(2026, 11, 30, 0, 31, tzinfo=TZ))
    unasked = query.find_nearest(catalog, *DELONG, ctx=night)  # closed ones are listed anyway
    assert "nearer_closed" not in unasked.geojson()


def test_hours_that_never_open_again_give_no_time(tmp_path):
    path = stations_with(tmp_path, {DELONG_ID: "off"})
    catalog = Catalog.from_paths(path, BUNDLED_LOOP)
    answer = query.find_nearest(catalog, *DELONG, filters=query.Filters(open_now=True))
    assert answer.geojson()["nearer_closed"]["opens_at"] is None


def test_the_api_answers_it_on_both_paths_and_documents_it(tmp_path):
    hours, opens = closed_hours(datetime.now(TZ))
    path = stations_with(tmp_path, {DELONG_ID: hours})
    settings = Settings(_env_file=None, stations_path=path, loop_path=BUNDLED_LOOP)  # type: ignore[call-arg]
    for hot in (True, False):
        with TestClient(create_app(settings.model_copy(update={"hot_path": hot}))) as client:
            params = {"lon": DELONG[0], "lat": DELONG[1], "open_now": "true"}
            body = client.get("/api/nearest", params=params).json()
            assert body["nearer_closed"]["id"] == DELONG_ID
            assert datetime.fromisoformat(body["nearer_closed"]["opens_at"]) == opens
            plain = client.get("/api/nearest", params={"lon": DELONG[0], "lat": DELONG[1]})
            assert "nearer_closed" not in plain.json()
            schema = client.get("/openapi.json").json()
    answer = schema["paths"]["/api/nearest"]["get"]["responses"]["200"]["content"]
    props = answer["application/geo+json"]["schema"]["properties"]
    assert "opens_at" in json.dumps(props["nearer_closed"])
