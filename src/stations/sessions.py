"""Office sign-in: signed session values and a limit on wrong tokens.

The office app (``/admin``) signs a clerk in once with an admin token and then works from a
session cookie, not from a token kept in the page: the pages are server-rendered and each one,
the printable posters included, is checked on the server before it is built, which a bearer
header held in ``sessionStorage`` cannot do for a plain navigation or a print. The cookie is
``HttpOnly`` (no script can read it), ``Secure`` and ``SameSite=Strict``; writes sent with it
must also carry a CSRF token that only a page served to the session contains (see `csrf_token`).

A session value is ``label~expires~signature``: the token's label, the Unix time it expires and
an HMAC-SHA256 of both under a key derived from that label's token. It is stateless, so every
worker and every replica accepts it without shared storage, and rotating a label's token ends
all of that label's sessions at once. Nothing secret is in it: the label is not a credential.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass

from stations.limits import WindowLimit

#: How long a sign-in lasts: one working day in the field.
SESSION_S = 12 * 3600
_SEP = "~"


@dataclass(frozen=True)
class Session:
    """A signed-in clerk: the token's label and when the session ends (Unix seconds)."""

    label: str
    expires: int


def _key(token: bytes) -> bytes:
    """The signing key of one token (the token itself never signs anything directly)."""
    return hmac.new(token, b"stations admin session v1", hashlib.sha256).digest()


def _mac(token: bytes, message: str) -> str:
    digest = hmac.new(_key(token), message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def issue(label: str, token: bytes, now: float | None = None) -> str:
    """A session value for ``label``, valid `SESSION_S` seconds from ``now``."""
    expires = int(now if now is not None else time.time()) + SESSION_S
    body = f"{label}{_SEP}{expires}"
    return f"{body}{_SEP}{_mac(token, body)}"


def verify(value: str, tokens: list[tuple[str, bytes]], now: float | None = None) -> Session | None:
    """The session ``value`` stands for, or None if it is malformed, forged or expired.

    ``tokens`` are the server's (label, token) pairs; a value signed under a token that is no
    longer configured is refused, so removing or rotating a token signs its clerks out.
    """
    if len(value) > 300:
        return None
    label, _, rest = value.partition(_SEP)
    expires_text, _, signature = rest.partition(_SEP)
    if not label or not expires_text.isdigit() or len(expires_text) > 12 or not signature:
        return None
    expires = int(expires_text)
    if expires <= (now if now is not None else time.time()):
        return None
    body = f"{label}{_SEP}{expires_text}"
    valid = False
    for name, token in tokens:  # every token compared: no early exit, no timing by position
        if hmac.compare_digest(signature, _mac(token, body)) and name == label:
            valid = True
    return Session(label, expires) if valid else None


def csrf_token(value: str, tokens: list[tuple[str, bytes]]) -> str:
    """The CSRF token of a (verified) session value: put in its pages, checked on its writes.

    Derived from the session value under the label's key, so it needs no storage, differs per
    session, and cannot be computed by a page of another origin (which cannot read the cookie).
    """
    label = value.partition(_SEP)[0]
    token = next(t for name, t in tokens if name == label)
    return _mac(token, f"csrf{_SEP}{value}")


def csrf_matches(value: str, given: str, tokens: list[tuple[str, bytes]]) -> bool:
    """Whether ``given`` is the CSRF token of the session ``value`` (constant time)."""
    return hmac.compare_digest(given.encode(), csrf_token(value, tokens).encode())


def failure_limit() -> WindowLimit:
    """Wrong tokens allowed per client address: 10 in 15 minutes (per worker).

    Far too few to guess a token of 128 bits or more, enough for a clerk's typos.
    """
    return WindowLimit(limit=10, window_s=900.0)
