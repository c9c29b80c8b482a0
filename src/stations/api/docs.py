"""The API's documentation pages: Swagger UI at /docs (try it out) and ReDoc at /redoc (read it).

Both come from the fastapi-offline package and are served by this service: no CDN, which
mainland users often cannot reach, and no Google Fonts (see docs/api-docs.md). Each answer gets a
fresh CSP nonce for the page's one inline script.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

#: Swagger UI 5 and ReDoc 2 (both read OpenAPI 3.1) from the fastapi-offline package.
OFFLINE_STATIC = Path(fastapi_offline.__file__).parent / "static"
_SCRIPT_TAG = re.compile(r"<script(?=[\s>])")
_TITLE = "stations API"


def docs_csp(nonce: str) -> str:
    """The documentation pages: their own files and one inline script (its nonce), nothing else.

    ReDoc searches in a web worker it starts from a ``blob:`` URL, hence ``worker-src blob:``.
    """
    return (
        f"default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; font-src 'self'; worker-src 'self' blob:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'"
    )


def _page(html: HTMLResponse) -> str:
    return bytes(html.body).decode()


def _answer(page: str) -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    return HTMLResponse(
        _SCRIPT_TAG.sub(f'<script nonce="{nonce}"', page),
        headers={"Content-Security-Policy": docs_csp(nonce), "Cache-Control": "no-cache"},
    )


def mount_docs(app: FastAPI) -> None:
    """Serve /docs (Swagger UI), /redoc (ReDoc) and their files under /static/swagger-ui/."""
    app.mount("/static/swagger-ui", StaticFiles(directory=OFFLINE_STATIC), name="swagger-ui")
    swagger = _page(
        get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=_TITLE,
            swagger_js_url="/static/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/static/swagger-ui/favicon.png",
            swagger_ui_parameters={"validatorUrl": None, "tryItOutEnabled": False},
        )
    )
    redoc = _page(
        get_redoc_html(
            openapi_url="/openapi.json",
            title=_TITLE,
            redoc_js_url="/static/swagger-ui/redoc.standalone.js",
            redoc_favicon_url="/static/swagger-ui/favicon.png",
            with_google_fonts=False,
        )
    )

    @app.get("/docs", include_in_schema=False)
    async def read_docs() -> HTMLResponse:
        return _answer(swagger)

    @app.get("/redoc", include_in_schema=False)
    async def read_redoc() -> HTMLResponse:
        return _answer(redoc)
