"""/docs and answers to HEAD: what a new user and an uptime checker meet first."""

from __future__ import annotations

import re

import pytest


def test_docs_serve_a_current_swagger_ui_without_a_cdn(client):
    r = client.get("/docs")
    assert r.status_code == 200
    assert "/static/swagger-ui/swagger-ui-bundle.js" in r.text and "cdn" not in r.text.lower()
    bundle = client.get("/static/swagger-ui/swagger-ui-bundle.js")
    assert bundle.status_code == 200
    # Swagger UI 5 reads OpenAPI 3.1 (the version FastAPI writes); 4.x could not.
    versions = set(re.findall(r'"(5\.\d+\.\d+)"', bundle.text))
    assert any(int(v.split(".")[1]) >= 10 for v in versions), versions
    assert client.get("/openapi.json").json()["openapi"].startswith("3.1")


def test_docs_scripts_run_only_with_the_answers_nonce(client):
    first, second = client.get("/docs"), client.get("/docs")
    csp = first.headers["content-security-policy"]
    nonce = re.search(r"'nonce-([\w-]+)'", csp).group(1)
    assert "script-src 'self' 'nonce-" in csp and "unsafe-inline" not in csp.split(";")[1]
    scripts = re.findall(r"<script[^>]*>", first.text)
    assert scripts and all(f'nonce="{nonce}"' in tag for tag in scripts)
    assert nonce not in second.headers["content-security-policy"]  # fresh per answer


@pytest.mark.parametrize("path", ["/", "/map", "/embed", "/healthz", "/docs", "/api/loop"])
def test_head_answers_like_get_without_a_body(client, path):
    head, get = client.head(path), client.get(path)
    assert head.status_code == 200 == get.status_code
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]


def test_head_of_a_hot_route_and_of_a_post_only_route(client):
    assert client.head("/api/nearest?lon=107.2618&lat=28.912").status_code == 200
    assert client.head("/api/nearest?lon=400&lat=28.912").status_code == 400
    assert client.head("/api/reports/1/resolve").status_code == 405
