"""The office's reports inbox and station posters: the API they use, the pages, their guards."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from conftest import BUNDLED_LOOP, BUNDLED_STATIONS
from stations import sessions
from stations.api.app import create_app
from stations.api.auth import SESSION_COOKIE
from stations.settings import Settings
from stations.web.poster import hours_lines, rider_link, weekly_hours

TOKEN = "desk-token-5e8c1a9f"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
DELONG = "delong-yinxing-union-station"
JINSHAN = "jinshan-union-station"
XSS = "<img src=x onerror=alert(1)>"


def make_client(tmp_path: Path, **settings: object) -> TestClient:
    data = tmp_path / "stations.geojson"
    if not data.exists():
        shutil.copy(BUNDLED_STATIONS, data)
    config = Settings(
        _env_file=None,
        stations_path=data,
        loop_path=BUNDLED_LOOP,
        admin_token=f"desk:{TOKEN}",
        **settings,  # type: ignore[arg-type]
    )
    return TestClient(create_app(config), base_url="https://127.0.0.1")


@pytest.fixture
def api(tmp_path):
    with make_client(tmp_path) as client:
        yield client


def session_cookie() -> dict[str, str]:
    """The Cookie header of a signed-in clerk (as the sign-in form would set it)."""
    return {"Cookie": f"{SESSION_COOKIE}={sessions.issue('desk', TOKEN.encode())}"}


def report(api: TestClient, station: str, category: str, text: str | None = None) -> int:
    answer = api.post(f"/api/stations/{station}/reports", json={"category": category, "text": text})
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


def test_counts_follow_open_reports_and_need_a_token(api):
    assert api.get("/api/reports/counts", headers=AUTH).json() == {"counts": {}}
    first = report(api, DELONG, "locked_during_hours")
    report(api, DELONG, "no_water")
    report(api, JINSHAN, "dirty")
    assert api.get("/api/reports/counts", headers=AUTH).json() == {
        "counts": {DELONG: 2, JINSHAN: 1}
    }
    resolved = api.post(f"/api/reports/{first}/resolve", json={"note": "opened"}, headers=AUTH)
    assert resolved.status_code == 200
    counts = api.get("/api/reports/counts", headers=AUTH)
    assert counts.json() == {"counts": {DELONG: 1, JINSHAN: 1}}
    assert counts.headers["content-type"].startswith("application/json")
    # the session cookie reads too (a GET needs no CSRF token), nothing else does
    assert api.get("/api/reports/counts", headers=session_cookie()).json()["counts"][DELONG] == 1
    assert api.get("/api/reports/counts").status_code == 401
    assert (
        api.get("/api/reports/counts", headers={"Authorization": "Bearer nope"}).status_code == 403
    )
    forged = {"Cookie": f"{SESSION_COOKIE}={sessions.issue('desk', b'not-the-token')}"}
    assert api.get("/api/reports/counts", headers=forged).status_code == 401


def test_counts_take_no_parameters_and_are_disabled_without_tokens(api, tmp_path):
    bad = api.get("/api/reports/counts", params={"station": DELONG}, headers=AUTH)
    assert bad.status_code == 400 and "station" in bad.json()["detail"]
    assert api.post("/api/reports/counts", headers=AUTH).status_code == 405
    config = Settings(_env_file=None, stations_path=tmp_path / "stations.geojson")
    with TestClient(create_app(config)) as closed:
        answer = closed.get("/api/reports/counts", headers=AUTH)
        assert answer.status_code == 403 and "STATIONS_ADMIN_TOKEN" in answer.json()["detail"]


def test_reports_filter_by_category(api):
    report(api, DELONG, "locked_during_hours", "锁门")
    report(api, JINSHAN, "locked_during_hours")
    report(api, DELONG, "no_water")
    everything = api.get("/api/reports", headers=AUTH).json()["reports"]
    assert [r["category"] for r in everything] == [
        "no_water",
        "locked_during_hours",
        "locked_during_hours",
    ]  # newest first
    locked = api.get("/api/reports", params={"category": "locked_during_hours"}, headers=AUTH)
    assert {r["station_id"] for r in locked.json()["reports"]} == {DELONG, JINSHAN}
    both = api.get(
        "/api/reports",
        params={"category": "locked_during_hours", "station": DELONG, "status": "open"},
        headers=AUTH,
    ).json()["reports"]
    assert [(r["station_id"], r["text"]) for r in both] == [(DELONG, "锁门")]
    paged = api.get("/api/reports", params={"limit": 1, "offset": 1}, headers=AUTH).json()
    assert [r["id"] for r in paged["reports"]] == [everything[1]["id"]]
    for value in ("castle", "", XSS, "LOCKED_DURING_HOURS"):
        bad = api.get("/api/reports", params={"category": value}, headers=AUTH)
        assert bad.status_code == 400, value
        assert "category" in bad.json()["detail"]


def test_resolving_again_keeps_the_first_resolver(api):
    number = report(api, DELONG, "broken_equipment")
    first = api.post(f"/api/reports/{number}/resolve", json={"note": "fixed"}, headers=AUTH)
    assert first.json()["resolved_by"] == "desk"
    no_csrf = api.post(f"/api/reports/{number}/resolve", json={}, headers=session_cookie())
    assert no_csrf.status_code == 403 and "CSRF" in no_csrf.json()["detail"]
    cookie = {**session_cookie(), "X-CSRF-Token": csrf_of(api)}
    again = api.post(f"/api/reports/{number}/resolve", json={"note": "again"}, headers=cookie)
    assert again.status_code == 409 and "desk" in again.json()["detail"]
    (kept,) = api.get("/api/reports", headers=AUTH).json()["reports"]
    assert kept["resolution"] == "fixed"


def csrf_of(api: TestClient) -> str:
    page = api.get("/admin/reports", headers=session_cookie()).text
    config = page.split('id="admin-config">', 1)[1].split("</script>", 1)[0]
    return str(json.loads(config)["csrf"])


@pytest.mark.parametrize(
    "path",
    [
        "/admin/reports",
        "/admin/reports?station=delong-yinxing-union-station&category=no_water&lang=en",
        f"/admin/stations/{DELONG}/poster",
        "/admin/stations/no-such-station/poster?lang=en",
    ],
)
def test_office_pages_send_strangers_to_sign_in(api, path):
    answer = api.get(path, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/admin?next=/admin")
    forged = {"Cookie": f"{SESSION_COOKIE}={sessions.issue('desk', b'forged')}"}
    assert api.get(path, headers=forged, follow_redirects=False).status_code == 303


def test_inbox_page_opens_with_its_filters(api):
    page = api.get(
        "/admin/reports",
        params={"station": DELONG, "category": "no_water", "status": "all", "lang": "en"},
        headers=session_cookie(),
    )
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    config = json.loads(page.text.split('id="admin-config">', 1)[1].split("</script>", 1)[0])
    assert config["filters"] == {"station": DELONG, "category": "no_water", "status": "all"}
    assert config["texts"]["reports_title"] == "Riders' reports"
    assert '<script nonce="' in page.text and "/static/stations/admin/reports.js" in page.text


@pytest.mark.parametrize(
    "query",
    [
        {"station": "Bad Id"},
        {"station": XSS},
        {"category": "castle"},
        {"status": "maybe"},
        {"lang": "fr"},
        {"zz": "1"},
        {"station": "a" * 65},
    ],
)
def test_inbox_refuses_hostile_filters(api, query):
    answer = api.get("/admin/reports", params=query, headers=session_cookie())
    assert answer.status_code == 400
    assert next(iter(query)) in answer.json()["detail"]


def test_poster_shows_the_station_and_links_the_rider_page(api):
    page = api.get(f"/admin/stations/{DELONG}/poster", headers=session_cookie())
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    text = page.text
    assert "德隆银杏村工会驿站" in text and "工会驿站" in text and "德隆镇" in text
    assert "开放时间待调查" in text  # the bundled stations have no surveyed hours
    assert 'src="data:image/svg+xml' in text
    assert "https://127.0.0.1/?station=" + DELONG in text
    assert "STATIONS_PUBLIC_URL" in text  # unset: the page says where the address came from
    assert (
        "@page"
        in (Path(__file__).parents[1] / "src/stations/web/static/admin/poster.css").read_text()
    )
    missing = api.get("/admin/stations/no-such-station/poster", headers=session_cookie())
    assert missing.status_code == 404 and "no-such-station" in missing.json()["detail"]
    bad = api.get("/admin/stations/Bad%20Id/poster", headers=session_cookie())
    assert bad.status_code == 400
    unknown = api.get(f"/admin/stations/{DELONG}/poster?x=1", headers=session_cookie())
    assert unknown.status_code == 400 and "x" in unknown.json()["detail"]


def test_poster_uses_the_public_url_when_set(tmp_path):
    with make_client(tmp_path, public_url="https://stations.example.cn/nc/") as client:
        page = client.get(f"/admin/stations/{DELONG}/poster", headers=session_cookie()).text
    assert f"https://stations.example.cn/nc/?station={DELONG}" in page
    assert "STATIONS_PUBLIC_URL" not in page


@pytest.mark.parametrize(
    "value",
    [
        "ftp://x.example",
        "https://",
        "https://u:p@x.example",
        "https://x.example/?a=1",
        "https://x.example/#f",
        "https://x.example/a b",
        "javascript:alert(1)",
    ],  # fmt: skip
)
def test_public_url_setting_refuses_what_a_qr_code_should_not_carry(value):
    with pytest.raises(ValueError, match="public_url"):
        Settings(_env_file=None, public_url=value)


def test_poster_scheme_trusted_only_from_a_trusted_proxy(tmp_path):
    """X-Forwarded-Proto counts only from a trusted proxy; the Host header is the clerk's own."""
    headers = {**session_cookie(), "X-Forwarded-Proto": "https", "Host": "desk.example:8443"}
    for proxies, scheme in (([], "http"), (["127.0.0.1"], "https")):
        app = make_client(tmp_path, trusted_proxies=proxies).app
        with TestClient(app, base_url="http://127.0.0.1", client=("127.0.0.1", 5000)) as c:
            page = c.get(f"/admin/stations/{DELONG}/poster", headers=headers).text
        assert f"{scheme}://desk.example:8443/?station={DELONG}" in page


def test_poster_refuses_a_host_header_it_cannot_link(api):
    for host in ("evil.example/path", "a b", "x.example:99999999", "<script>"):
        answer = api.get(
            f"/admin/stations/{DELONG}/poster", headers={**session_cookie(), "Host": host}
        )
        assert answer.status_code == 400, host
        assert "STATIONS_PUBLIC_URL" in answer.json()["detail"]


def test_markup_in_station_fields_is_text_on_the_poster(tmp_path):
    data = json.loads(BUNDLED_STATIONS.read_text())
    props = next(f for f in data["features"] if f["id"] == DELONG)["properties"]
    props.update(name=XSS, name_en=XSS, address=XSS, town=XSS, phone=None)
    (tmp_path / "stations.geojson").write_text(json.dumps(data, ensure_ascii=False))
    with make_client(tmp_path) as client:
        page = client.get(f"/admin/stations/{DELONG}/poster", headers=session_cookie()).text
    assert XSS not in page and "&lt;img src=x onerror=alert(1)&gt;" in page


def test_rider_page_takes_a_station_to_open(api):
    assert api.get("/", params={"station": DELONG}).status_code == 200
    for bad in ("Bad Id", XSS, "a" * 65):
        answer = api.get("/", params={"station": bad})
        assert answer.status_code == 400 and "station" in answer.json()["detail"]
    assert rider_link("https://x.example/", DELONG) == f"https://x.example/?station={DELONG}"


MONDAY = date(2026, 11, 30)


@pytest.mark.parametrize(
    ("hours", "zh", "en", "varies"),
    [
        ("24/7", ["每天 24 小时开放"], ["Open 24 hours, every day"], False),
        ("Mo-Su 08:00-18:00", ["每天 08:00–18:00"], ["Daily 08:00–18:00"], False),
        (
            "Mo-Fr 08:00-18:00; Sa 09:00-12:00,14:00-17:00",
            ["周一至周五 08:00–18:00", "周六 09:00–12:00、14:00–17:00", "周日 休息"],
            ["Mon–Fri 08:00–18:00", "Sat 09:00–12:00, 14:00–17:00", "Sun closed"],
            False,
        ),
        (
            "Mo-Fr 08:00-18:00; PH off",  # public holidays in the coming year: other weeks differ
            ["周一至周五 08:00–18:00", "周六、周日 休息"],
            ["Mon–Fri 08:00–18:00", "Sat, Sun closed"],
            True,
        ),
        (
            "Sa 22:00-02:00",
            ["周一至周五 休息", "周六 22:00–24:00", "周日 00:00–02:00"],
            None,
            False,
        ),
    ],
)
def test_hours_said_in_words_from_the_parser(hours, zh, en, varies):
    week, differ = weekly_hours(hours, "Asia/Shanghai", MONDAY)
    assert hours_lines(week, "zh") == zh
    if en is not None:
        assert hours_lines(week, "en") == en
    assert differ is varies
    # any day of the week gives the same week
    assert weekly_hours(hours, "Asia/Shanghai", date(2026, 12, 6))[0] == week
