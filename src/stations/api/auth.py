"""Who may write: bearer tokens from STATIONS_ADMIN_TOKEN, compared in constant time."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request

from stations.api.deps import SettingsDep
from stations.errors import Forbidden, Unauthorized
from stations.settings import Settings


def tokens(settings: Settings) -> list[tuple[str, bytes]]:
    """(label, token) pairs: ``TOKEN`` (label "admin") or ``label:TOKEN,label2:TOKEN2``."""
    if settings.admin_token is None:
        return []
    out = []
    for part in settings.admin_token.get_secret_value().split(","):
        part = part.strip()
        if not part:
            continue
        label, sep, secret = part.partition(":")
        out.append((label, secret.encode()) if sep else ("admin", part.encode()))
    return out


async def require_writer(request: Request, settings: SettingsDep) -> str:
    """The token's label; 401 without a bearer token, 403 with a wrong one or writes disabled."""
    known = tokens(settings)
    if not known:
        raise Forbidden(
            "writes and admin routes are disabled on this server: set STATIONS_ADMIN_TOKEN (e.g. "
            "STATIONS_ADMIN_TOKEN=office:$(openssl rand -hex 24)) and restart"
        )
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("writes need a token: send the header 'Authorization: Bearer <token>'")
    given = token.strip().encode()
    label = None
    for name, secret in known:
        if hmac.compare_digest(given, secret):  # every token compared, no early exit on a match
            label = label or name
    if label is None:
        raise Forbidden("the bearer token is not valid for this server")
    return label


WriterDep = Annotated[str, Depends(require_writer)]
