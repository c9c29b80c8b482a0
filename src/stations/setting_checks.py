"""Checks of setting values, each a function raising ``ValueError`` that says what to write.

`stations.settings` calls them from its validators, so that a bad value stops the service at
start in one line instead of failing a page or a write later.
"""

from __future__ import annotations

import re
from ipaddress import ip_network
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def check_origin(origin: str) -> str:
    """An origin as browsers send it: scheme://host[:port], nothing after."""
    parts = urlsplit(origin)
    if (
        parts.scheme not in ("http", "https")
        or not parts.netloc
        or origin != (f"{parts.scheme}://{parts.netloc}")
    ):
        raise ValueError(
            f"{origin!r} is not an origin: write scheme://host[:port] with nothing "
            "after, e.g. https://news.example.cn"
        )
    return origin


def check_timezone(value: str) -> str:
    """An IANA zone name this machine knows."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"timezone {value!r} is not a known IANA zone name, e.g. Asia/Shanghai"
        ) from None
    return value


def proxy_networks(value: object) -> object:
    """A comma-separated string split; each entry an IP address or network (CIDR)."""
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list):
        for entry in value:
            try:
                ip_network(str(entry), strict=False)
            except ValueError:
                raise ValueError(
                    f"trusted_proxies: {entry!r} is not an IP address or network "
                    "(e.g. 127.0.0.1, 10.0.0.0/8, ::1)"
                ) from None
    return value


def check_database_url(value: str | None) -> str | None:
    """A blank value counts as unset; anything else must be a postgresql:// URL."""
    if value is None or not value.strip():
        return None
    if not value.startswith(("postgresql://", "postgres://")):
        raise ValueError("a database URL must start with postgresql:// (or be unset)")
    return value.strip()


def check_public_url(value: str | None) -> str | None:
    """An http(s) address with a host and nothing after the path; no trailing slash."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    parts = urlsplit(value)
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.username is not None
        or parts.query
        or parts.fragment
        or not PUBLIC_URL_SYNTAX.fullmatch(value)
    ):
        raise ValueError(
            f"public_url must be an http(s) address such as https://stations.example.cn "
            f"(a path allowed; no user, query or fragment); got {value!r}"
        )
    return value.rstrip("/")


#: What a public address may hold: letters, digits and the URL characters a QR code carries well.
PUBLIC_URL_SYNTAX = re.compile(r"https?://[A-Za-z0-9.\-\[\]:]+(/[A-Za-z0-9._~%/-]*)?")
#: A label: what the audit log and ``resolved_by`` record for a token's writes.
TOKEN_LABEL = re.compile(r"[\w.@-]{1,64}")
#: A token as an ``Authorization: Bearer`` header can carry it (RFC 6750's b64token).
TOKEN_SYNTAX = re.compile(r"[A-Za-z0-9._~+/-]+=*")


def parse_admin_tokens(value: str) -> list[tuple[str, str]]:
    """``TOKEN`` (label "admin") or ``label:TOKEN,label2:TOKEN2`` as (label, token) pairs.

    Raises ``ValueError`` naming the entry when a label is empty or has characters other than
    letters, digits, ``_ . @ -`` (a label with a space never reached the log intact), or when a
    token could not be sent in an ``Authorization: Bearer`` header (RFC 6750: letters, digits,
    ``- . _ ~ + /``, then ``=`` padding), since such a token would never match.
    """
    out = []
    for n, part in enumerate(value.split(","), start=1):
        part = part.strip()
        if not part:
            continue
        label, token = part.split(":", 1) if ":" in part else ("admin", part)
        if not TOKEN_LABEL.fullmatch(label):
            raise ValueError(
                f"admin_token entry {n}: label {label!r} must be 1-64 letters, digits or _ . @ - "
                "(no spaces), e.g. office:TOKEN"
            )
        if not TOKEN_SYNTAX.fullmatch(token):
            raise ValueError(
                f"admin_token entry {n} ({label}): the token must be letters, digits and "
                "- . _ ~ + / (then = padding), no spaces; e.g. $(openssl rand -hex 24)"
            )
        out.append((label, token))
    return out
