"""Fast JSON responses (orjson), headers every answer shares, and conditional GET with ETags."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import orjson
from fastapi import Request
from starlette.responses import JSONResponse, Response

from stations.api.state import services_of
from stations.errors import InvalidInput
from stations.models import shown

GEOJSON = "application/geo+json"
#: Added to every answer (by `stations.api.app.GuardMiddleware`, and by the hot path).
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
    (b"cross-origin-resource-policy", b"cross-origin"),
]
NO_CACHE = {"Cache-Control": "no-cache"}  # answers that change with the clock (open_now)


def encode(content: Any) -> bytes:
    """The JSON bytes of every answer (orjson; numpy scalars and arrays allowed)."""
    return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


class ORJSONResponse(JSONResponse):
    """JSON encoded with orjson (several times faster than the standard library on these bodies)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        """Encode with orjson."""
        return encode(content)


class GeoJSONResponse(ORJSONResponse):
    """A GeoJSON body (RFC 7946 media type)."""

    media_type = GEOJSON


def cached(request: Request, content: Any, media_type: str = GEOJSON) -> Response:
    """Answer ``content`` with an ETag over the data version and the URL; 304 when it matches.

    Clients may keep it for ``STATIONS_CACHE_MAX_AGE_S`` seconds.
    """
    services = services_of(request)
    key = f"{services.holder.version}|{request.url.path}?{request.url.query}".encode()
    etag = f'W/"{hashlib.blake2b(key, digest_size=12).hexdigest()}"'
    headers = {
        "ETag": etag,
        "Cache-Control": f"public, max-age={services.settings.cache_max_age_s}",
    }
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return ORJSONResponse(content, headers=headers, media_type=media_type)


#: A station's ETag: its version (`storage.revision.station_version`), then a digest of the
#: answer's bytes, so each representation (datum, derived fields) has its own strong tag while
#: every one of them names the version a write may be based on.
_STATION_ETAG = re.compile(r'"([0-9a-f]{24})(?:\.[0-9a-f]{8})?"')


def station_etag(version: str, body: bytes) -> str:
    """The strong ETag of a station answer: ``"<version>.<digest of the body>"``."""
    return f'"{version}.{hashlib.blake2b(body, digest_size=4).hexdigest()}"'


def if_match_version(request: Request) -> str | None:
    """The version an ``If-Match`` header names: ``*``, a station ETag's version, or None.

    `InvalidInput` (400) for anything else: a weak tag, a list or a malformed value cannot be
    checked against a station's version.
    """
    value = request.headers.get("if-match")
    if value is None:
        return None
    value = value.strip()
    if value == "*":
        return value
    found = _STATION_ETAG.fullmatch(value)
    if found is None:
        raise InvalidInput(
            f"If-Match {shown(value)} is not a station's ETag: send the one ETag that GET "
            '/api/stations/{id} answered (e.g. If-Match: "<24 hex>.<8 hex>"), or * for any'
        )
    return found.group(1)


def station_answer(
    request: Request,
    content: Any,
    version: str,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """A station Feature with its strong ETag; 304 when ``If-None-Match`` names it."""
    body = encode(content)
    etag = station_etag(version, body)
    if request.method in ("GET", "HEAD") and etag in _tags(
        request.headers.get("if-none-match", "")
    ):
        return Response(status_code=304, headers={"ETag": etag, **(headers or {})})
    return Response(
        body, status_code=status, media_type=GEOJSON, headers={"ETag": etag, **(headers or {})}
    )


def _tags(value: str) -> set[str]:
    """The entity-tags of an ``If-None-Match`` header (weak ones compared weakly, RFC 9110)."""
    return {tag.strip().removeprefix("W/") for tag in value.split(",")}
