"""The office app's door: sign-in, session cookie, CSRF on writes, the limit on wrong tokens."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from office import LABEL, office_server, readme_shot
from office import TOKEN as OFFICE_TOKEN
from office import sign_in as browser_sign_in
from stations import sessions
from stations.api.app import create_app
from stations.api.auth import SESSION_COOKIE
from stations.limits import WindowLimit
from stations.settings import Settings
from test_browser import Watch, browser  # noqa: F401 (the browser fixture)

TOKEN = "s3cr3t-token-1234567890"
OTHER = "0ther-token-0987654321"


@pytest.fixture
def client(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = Settings(admin_token=f"office:{TOKEN},field:{OTHER}")
    with TestClient(create_app(settings), base_url="https://127.0.0.1") as c:
        yield c


def sign_in(client: TestClient, token: str = TOKEN, **fields: str):
    return client.post("/admin/session", data={"token": token, **fields}, follow_redirects=False)


def csrf_of(page: str) -> str:
    found = re.search(r'"csrf":"([^"]+)"', page)
    assert found is not None
    return found.group(1)


def test_signin_page_then_home(client):
    page = client.get("/admin")
    assert page.status_code == 200
    assert "登录驿站管理" in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    answer = sign_in(client, next="/admin/stations?lang=en")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/admin/stations?lang=en"
    cookie = answer.headers["set-cookie"]
    for attribute in ("HttpOnly", "Secure", "SameSite=strict", "Path=/"):
        assert attribute in cookie
    assert TOKEN not in cookie
    home = client.get("/admin")
    assert "office" in home.text and 'id="signout"' in home.text


def test_signing_in_and_out_keeps_the_language(client):
    answer = sign_in(client, next="/admin/stations?station=x", lang="en")
    assert answer.headers["location"] == "/admin/stations?station=x&lang=en"
    assert sign_in(client, lang="en").headers["location"] == "/admin?lang=en"
    assert sign_in(client, lang="zh").headers["location"] == "/admin"
    page = client.get("/admin?lang=en")
    assert '<input type="hidden" name="lang" value="en">' in page.text
    out = client.post(
        "/admin/session/end", data={"csrf": csrf_of(page.text), "lang": "en"},
        follow_redirects=False,
    )  # fmt: skip
    assert out.status_code == 303 and out.headers["location"] == "/admin?lang=en"
    assert "Sign in to the station office" in client.get(out.headers["location"]).text


def test_wrong_token_refused_and_limited(client):
    for _ in range(10):
        answer = sign_in(client, "wrong-token")
        assert answer.status_code == 403
        assert "令牌不正确" in answer.text
    limited = sign_in(client)  # even the right token waits once the limit is reached
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) > 0
    bearer = client.post("/api/stations", json={}, headers={"Authorization": f"Bearer {TOKEN}"})
    assert bearer.status_code == 429


def test_next_never_leaves_the_office(client):
    for target in ("https://evil.example/admin", "//evil.example", "/api/stations", "/admin\\x"):
        answer = sign_in(client, next=target)
        assert answer.headers["location"] == "/admin"


def test_cookie_writes_need_csrf(client):
    sign_in(client)
    missing = client.post("/api/stations", json={})
    assert missing.status_code == 403
    assert "CSRF" in missing.json()["detail"]
    wrong = client.post("/api/stations", json={}, headers={"X-CSRF-Token": "x" * 43})
    assert wrong.status_code == 403
    csrf = csrf_of(client.get("/admin").text)
    ok = client.post("/api/stations", json={}, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 400  # past the door: the body itself is judged


def test_forged_or_foreign_sessions_refused(client):
    forged = sessions.issue("office", b"not-the-token")
    client.cookies.set(SESSION_COOKIE, forged, domain="127.0.0.1")
    assert "登录驿站管理" in client.get("/admin").text
    # signed with field's token but claiming office: refused
    swapped = sessions.issue("office", OTHER.encode())
    client.cookies.set(SESSION_COOKIE, swapped, domain="127.0.0.1")
    assert "登录驿站管理" in client.get("/admin").text
    assert client.post("/api/stations", json={}).status_code == 401


def test_session_expires():
    known = [("office", TOKEN.encode())]
    value = sessions.issue("office", TOKEN.encode(), now=1000)
    assert sessions.verify(value, known, now=1000 + sessions.SESSION_S - 1) is not None
    assert sessions.verify(value, known, now=1000 + sessions.SESSION_S) is None
    assert sessions.verify(value, [("office", b"rotated")], now=1001) is None


def test_sign_out_needs_the_pages_token(client):
    sign_in(client)
    csrf = csrf_of(client.get("/admin").text)
    refused = client.post("/admin/session/end", data={"csrf": "nope"}, follow_redirects=False)
    assert refused.status_code == 403
    answer = client.post("/admin/session/end", data={"csrf": csrf}, follow_redirects=False)
    assert answer.status_code == 303
    assert (
        "Max-Age=0" in answer.headers["set-cookie"]
        or "expires=" in answer.headers["set-cookie"].lower()
    )


def test_cross_site_form_and_plain_http_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = Settings(admin_token=f"office:{TOKEN}")
    with TestClient(create_app(settings), base_url="https://127.0.0.1") as c:
        answer = c.post(
            "/admin/session",
            data={"token": TOKEN},
            headers={"Origin": "https://evil.example"},
            follow_redirects=False,
        )
        assert answer.status_code == 403 and SESSION_COOKIE not in answer.headers.get(
            "set-cookie", ""
        )
    with TestClient(create_app(settings), base_url="http://office.example") as c:
        answer = c.post("/admin/session", data={"token": TOKEN}, follow_redirects=False)
        assert answer.status_code == 403 and "HTTPS" in answer.text


def test_disabled_without_tokens(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with TestClient(create_app(Settings()), base_url="https://127.0.0.1") as c:
        page = c.get("/admin")  # said up front, with no form to fill in for nothing
        assert page.status_code == 200 and "此服务器未开启管理功能" in page.text
        assert 'id="token"' not in page.text and 'id="signin-error"' in page.text
        english = c.get("/admin?lang=en")
        assert "The office app is disabled" in english.text and 'id="token"' not in english.text
        assert c.get("/admin/stations", follow_redirects=True).text.count('id="token"') == 0
        answer = c.post("/admin/session", data={"token": TOKEN}, follow_redirects=False)
        assert answer.status_code == 403 and "STATIONS_ADMIN_TOKEN" in answer.text


def test_bad_forms_are_400(client):
    assert client.post("/admin/session", json={"token": TOKEN}).status_code == 400
    twice = client.post(
        "/admin/session",
        content=b"token=a&token=b",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert twice.status_code == 400
    bad = client.post(
        "/admin/session",
        content=b"token=%ff%fe",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert bad.status_code == 403  # percent-escapes decoded as text: a wrong token


def test_window_limit():
    limit = WindowLimit(limit=2, window_s=10, max_keys=2)
    limit.hit("a", now=0)
    assert limit.retry_after("a", now=0.5) is None
    limit.hit("a", now=1)
    assert limit.retry_after("a", now=2) == 9
    assert limit.retry_after("a", now=11) is None
    for key in "bcd":
        limit.hit(key, now=0)
    assert len(limit) == 2


def test_clerk_signs_in_in_chromium(browser, tmp_path):  # noqa: F811
    """Chromium keeps the Secure session cookie on http://127.0.0.1 and signs in by the form."""
    context = browser.new_context(viewport={"width": 360, "height": 740}, locale="zh-CN")
    page = context.new_page()
    watch = Watch(page)
    with office_server(tmp_path) as base:
        page.goto(base + "/admin")
        readme_shot(page, "office-signin.png")  # the home page's is test_office_day's
        page.fill("#token", "wrong")
        page.click("#signin")
        assert "令牌不正确" in page.locator("#signin-error").inner_text()
        assert [e for e in watch.errors if "403" not in e] == []  # the refusal is a 403 page
        watch.errors.clear()
        browser_sign_in(page, base)
        assert page.locator("#admin-label").inner_text() == LABEL
        cookies = {c["name"]: c for c in context.cookies()}
        assert cookies[SESSION_COOKIE]["httpOnly"] and cookies[SESSION_COOKIE]["secure"]
        assert page.evaluate("document.cookie") == ""  # no script can read the session
        assert OFFICE_TOKEN not in page.content()
        page.click("#signout")
        page.wait_for_selector("#token")
    watch.clean()
    context.close()
