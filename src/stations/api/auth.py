"""Who may write: a bearer token from STATIONS_ADMIN_TOKEN, or an office session signed in with one.

Scripts and tools send ``Authorization: Bearer <token>``, read as RFC 9110 (section 11.4) and
RFC 6750 (section 2.1) write it: the scheme in any letter case (``bearer`` too), then one or more
spaces (the grammar's ``1*SP``; a tab or other whitespace is not a separator), then the token,
nothing after it. Anything else is a 401 that shows the expected form. Labels and tokens are
checked when the settings load (`stations.setting_checks.parse_admin_tokens`), so every token
can match.

The office app signs in once at ``/admin`` and then sends its session cookie instead (see
`stations.sessions` for why a cookie and how it is signed); a write sent with the cookie must also
carry the page's CSRF token in ``X-CSRF-Token``. Wrong tokens, by either way, count against the
client's address (`stations.sessions.failure_limit`): past the limit the answer is 429.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from stations import sessions
from stations.api.deps import SettingsDep, client_address
from stations.api.state import services_of
from stations.errors import Forbidden, TooManyAttempts, Unauthorized
from stations.settings import Settings

#: ``Bearer`` (any case), 1*SP, an RFC 6750 b64token.
CREDENTIALS = re.compile(r"(?i:bearer) +([A-Za-z0-9._~+/-]+=*)")
#: The office session cookie; the ``__Host-`` prefix makes browsers require Secure, Path=/ and
#: no Domain, so no other host (a subdomain included) can set or overwrite it.
SESSION_COOKIE = "__Host-stations-admin"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def tokens(settings: Settings) -> list[tuple[str, bytes]]:
    """(label, token) pairs: ``TOKEN`` (label "admin") or ``label:TOKEN,label2:TOKEN2``."""
    return [(label, token.encode()) for label, token in settings.admin_tokens()]


def _known(settings: Settings) -> list[tuple[str, bytes]]:
    known = tokens(settings)
    if not known:
        raise Forbidden(
            "writes and admin routes are disabled on this server: set STATIONS_ADMIN_TOKEN (e.g. "
            "STATIONS_ADMIN_TOKEN=office:$(openssl rand -hex 24)) and restart"
        )
    return known


def check_token(request: Request, given: bytes, known: list[tuple[str, bytes]]) -> str:
    """The label of token ``given``; Forbidden if wrong, TooManyAttempts past the limit."""
    failures = services_of(request).failures
    client = client_address(request)
    wait = failures.retry_after(client)
    if wait is not None:
        message = f"too many wrong tokens from this address: try again in {wait} s"
        raise TooManyAttempts(message, wait)
    label = None
    for name, secret in known:
        if hmac.compare_digest(given, secret):  # every token compared, no early exit on a match
            label = label or name
    if label is None:
        failures.hit(client)
        raise Forbidden("the token is not valid for this server")
    return label


@dataclass(frozen=True)
class OfficeSession:
    """A signed-in clerk, as the pages see them: label, expiry and the CSRF token for writes."""

    label: str
    expires: int
    csrf: str


def office_session(request: Request, settings: Settings) -> OfficeSession | None:
    """The office session of ``request``'s cookie, or None (no cookie, forged or expired)."""
    known = tokens(settings)
    value = request.cookies.get(SESSION_COOKIE)
    if not known or not value:
        return None
    session = sessions.verify(value, known)
    if session is None:
        return None
    return OfficeSession(session.label, session.expires, sessions.csrf_token(value, known))


async def require_writer(request: Request, settings: SettingsDep) -> str:
    """The writer's label: from a bearer token, or from an office session (+ CSRF on writes).

    401 without credentials, 403 with a wrong token, a missing CSRF token or writes disabled,
    429 after too many wrong tokens from one address.
    """
    known = _known(settings)
    header = request.headers.get("authorization")
    if header is None and SESSION_COOKIE in request.cookies:
        return _session_writer(request, known)
    match = CREDENTIALS.fullmatch((header or "").strip())
    if match is None:
        raise Unauthorized("writes need a token: send the header 'Authorization: Bearer <token>'")
    return check_token(request, match.group(1).encode(), known)


def _session_writer(request: Request, known: list[tuple[str, bytes]]) -> str:
    value = request.cookies[SESSION_COOKIE]
    session = sessions.verify(value, known)
    if session is None:
        raise Unauthorized("the office session has ended: sign in again at /admin")
    if request.method not in SAFE_METHODS:
        given = request.headers.get(CSRF_HEADER, "")
        if not given or not sessions.csrf_matches(value, given, known):
            raise Forbidden(
                "this write came with the office session but without the page's CSRF token "
                "(X-CSRF-Token): reload the page and try again"
            )
    return session.label


WriterDep = Annotated[str, Depends(require_writer)]
