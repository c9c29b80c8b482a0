"""Who may write: bearer tokens from STATIONS_ADMIN_TOKEN, compared in constant time.

The header is read as RFC 9110 (section 11.4) and RFC 6750 (section 2.1) write it:
``Authorization: Bearer <token>``, the scheme in any letter case (``bearer`` too), then one or more
spaces (the grammar's ``1*SP``; a tab or other whitespace is not a separator), then the token,
nothing after it. Anything else is a 401 that shows the expected form. Labels and tokens are
checked when the settings load (`stations.settings.parse_admin_tokens`), so every token can match.
"""

from __future__ import annotations

import hmac
import re
from typing import Annotated

from fastapi import Depends, Request

from stations.api.deps import SettingsDep
from stations.errors import Forbidden, Unauthorized
from stations.settings import Settings

#: ``Bearer`` (any case), 1*SP, an RFC 6750 b64token.
CREDENTIALS = re.compile(r"(?i:bearer) +([A-Za-z0-9._~+/-]+=*)")


def tokens(settings: Settings) -> list[tuple[str, bytes]]:
    """(label, token) pairs: ``TOKEN`` (label "admin") or ``label:TOKEN,label2:TOKEN2``."""
    return [(label, token.encode()) for label, token in settings.admin_tokens()]


async def require_writer(request: Request, settings: SettingsDep) -> str:
    """The token's label; 401 without a bearer token, 403 with a wrong one or writes disabled."""
    known = tokens(settings)
    if not known:
        raise Forbidden(
            "writes and admin routes are disabled on this server: set STATIONS_ADMIN_TOKEN (e.g. "
            "STATIONS_ADMIN_TOKEN=office:$(openssl rand -hex 24)) and restart"
        )
    match = CREDENTIALS.fullmatch(request.headers.get("authorization", "").strip())
    if match is None:
        raise Unauthorized("writes need a token: send the header 'Authorization: Bearer <token>'")
    given = match.group(1).encode()
    label = None
    for name, secret in known:
        if hmac.compare_digest(given, secret):  # every token compared, no early exit on a match
            label = label or name
    if label is None:
        raise Forbidden("the bearer token is not valid for this server")
    return label


WriterDep = Annotated[str, Depends(require_writer)]
