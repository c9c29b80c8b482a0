"""The office app's door: sign in and out at /admin, the home page, and the guard of every page.

A clerk signs in with an admin token through a plain form (it works without script); the answer
sets the session cookie (`stations.api.auth.SESSION_COOKIE`, see `stations.sessions` for why a
cookie) and goes back to the page that asked. Office pages depend on `office_page`, which sends
anyone without a valid session to the sign-in page first, so no page is built for a stranger.
Pages are answered with `office_html`: a fresh CSP nonce, never cached, never framed.
"""

from __future__ import annotations

import re
import secrets
from typing import Annotated
from urllib.parse import parse_qs, quote, urlsplit

from fastapi import APIRouter, Depends, Request
from pydantic import Field
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, RedirectResponse, Response

from stations import sessions
from stations.api.auth import SESSION_COOKIE, OfficeSession, check_token, office_session, tokens
from stations.api.deps import SettingsDep
from stations.api.params import QueryModel, QueryParams
from stations.api.routes.pages import HTML_RESPONSES, Lang, LangField
from stations.errors import Forbidden, InvalidInput, TooManyAttempts
from stations.web import admin_home as home
from stations.web.admin import TEXTS, admin_page
from stations.web.pages import NONCE, content_security_policy
from stations.web.tiles import TileSource, tile_source

router = APIRouter(tags=["office"], include_in_schema=False)
MAX_FORM_BYTES = 4096
#: Where a sign-in may return to: an office page of this site, never another host.
_NEXT = re.compile(r"/admin(/[A-Za-z0-9._~%/-]*)?(\?[A-Za-z0-9=&._~%-]*)?")
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}


class OfficeQuery(QueryModel):
    """Parameters of an office page without parameters of its own: the language."""

    lang: LangField = Lang.ZH


class HomeQuery(OfficeQuery):
    """Parameters of /admin: the language, and where to go once signed in."""

    next: str | None = Field(default=None, max_length=300, description="An /admin page.")


def office_html(html: str, tiles: TileSource | None = None, status: int = 200) -> HTMLResponse:
    """An office page with a fresh nonce: CSP, not cached (it holds a CSRF token), not framed."""
    nonce = secrets.token_urlsafe(16)
    policy = content_security_policy(tiles or tile_source("none"), nonce, None)
    return HTMLResponse(
        html.replace(NONCE, nonce),
        status_code=status,
        headers={
            "Content-Security-Policy": policy,
            "Cache-Control": "no-store",
            "Referrer-Policy": "same-origin",
        },
    )


def safe_next(value: str | None) -> str:
    """``value`` if it is an office page of this site, else ``/admin``."""
    return value if value and _NEXT.fullmatch(value) else "/admin"


async def office_page(request: Request, settings: SettingsDep) -> OfficeSession:
    """The clerk's session; anyone else is sent to the sign-in page (303), coming back after."""
    session = office_session(request, settings)
    if session is None:
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise HTTPException(303, headers={"Location": f"/admin?next={quote(safe_next(here))}"})
    return session


OfficeDep = Annotated[OfficeSession, Depends(office_page)]


def _signin(
    lang: str, next_page: str, error: str | None = None, status: int = 200, form: bool = True
) -> Response:
    page = admin_page(
        "signin.html", lang, path="/admin", next=next_page, error=error, show_form=form
    )
    return office_html(page, status=status)


def with_lang(page: str, lang: str) -> str:
    """``page`` (an office path, maybe with a query) in ``lang``: ``lang=en`` added when missing."""
    if lang != "en" or "lang" in parse_qs(urlsplit(page).query):
        return page
    return page + ("&" if "?" in page else "?") + "lang=en"


@router.get("/admin", response_class=HTMLResponse, responses=HTML_RESPONSES)
async def read_office_home(
    request: Request,
    q: Annotated[HomeQuery, Depends(QueryParams(HomeQuery))],
    settings: SettingsDep,
) -> Response:
    """The office app: the sign-in form, or the home page once signed in."""
    if not tokens(settings):  # no token can sign in: say so up front, without a form
        return _signin(q.lang.value, "/admin", TEXTS[q.lang.value]["disabled"], form=False)
    session = office_session(request, settings)
    if session is None:
        return _signin(q.lang.value, safe_next(q.next))
    if q.next and safe_next(q.next) != "/admin":
        return RedirectResponse(safe_next(q.next), status_code=303)
    page = admin_page(
        "home.html",
        q.lang.value,
        path="/admin",
        label=session.label,
        csrf=session.csrf,
        texts=home.TEXTS,
        scripts=["stations/admin/home.js"],
        sections=home.SECTIONS,
    )
    return office_html(page)


async def _form(request: Request) -> dict[str, str]:
    """A small urlencoded form, each field once; InvalidInput for anything else."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise InvalidInput("send the sign-in form as application/x-www-form-urlencoded")
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise InvalidInput(f"the form is larger than {MAX_FORM_BYTES} bytes")
    try:
        fields = parse_qs(body.decode("utf-8"), strict_parsing=False, max_num_fields=8)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput(f"the form cannot be read: {exc}") from None
    if any(len(values) > 1 for values in fields.values()):
        raise InvalidInput("each form field may be given once")
    return {name: values[0] for name, values in fields.items()}


def _same_site(request: Request) -> bool:
    """Whether a form post came from a page of this host (a missing Origin is a non-browser)."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc.lower() == request.headers.get("host", "").lower()


def _secure(request: Request) -> bool:
    """Whether the browser will keep a Secure cookie from this address (HTTPS or this machine)."""
    return request.url.scheme == "https" or (request.url.hostname or "") in _LOCAL_HOSTS


@router.post("/admin/session", response_class=HTMLResponse)
async def sign_in(request: Request, settings: SettingsDep) -> Response:
    """Check the token from the form; set the session cookie and go back, or say what is wrong."""
    form = await _form(request)
    lang = "en" if form.get("lang") == "en" else "zh"
    texts_of = TEXTS[lang]
    next_page = safe_next(form.get("next"))
    known = tokens(settings)
    if not known:
        return _signin(lang, next_page, texts_of["disabled"], 403, form=False)
    if not _same_site(request):
        return _signin(lang, next_page, texts_of["cross_site"], 403)
    if not _secure(request):
        return _signin(lang, next_page, NEEDS_HTTPS[lang], 403)
    try:
        label = check_token(request, form.get("token", "").strip().encode(), known)
    except Forbidden:
        return _signin(lang, next_page, texts_of["wrong_token"], 403)
    except TooManyAttempts as exc:
        page = _signin(lang, next_page, str(exc), 429)
        page.headers["Retry-After"] = str(exc.retry_after)
        return page
    secret = next(token for name, token in known if name == label)
    answer = RedirectResponse(with_lang(next_page, lang), status_code=303)
    answer.set_cookie(
        SESSION_COOKIE,
        sessions.issue(label, secret),
        max_age=sessions.SESSION_S,
        path="/",
        secure=True,
        httponly=True,
        samesite="strict",
    )
    answer.headers["Cache-Control"] = "no-store"
    return answer


NEEDS_HTTPS = {
    "zh": "管理页面需要 HTTPS 连接（定位也需要）：请通过 https:// 地址打开。",
    "en": "The office app needs HTTPS (so does the phone's location): open it at its https:// "
    "address.",
}


@router.post("/admin/session/end", response_class=HTMLResponse)
async def sign_out(request: Request, settings: SettingsDep) -> Response:
    """End the session on this browser (the form carries the page's CSRF token)."""
    form = await _form(request)
    session = office_session(request, settings)
    value = request.cookies.get(SESSION_COOKIE, "")
    if session is not None and not sessions.csrf_matches(
        value, form.get("csrf", ""), tokens(settings)
    ):
        raise Forbidden("sign-out needs the page's CSRF token: reload the page and try again")
    lang = "en" if form.get("lang") == "en" else "zh"
    answer = RedirectResponse(with_lang("/admin", lang), status_code=303)
    answer.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="strict")
    return answer
