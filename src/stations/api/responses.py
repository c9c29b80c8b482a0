"""Fast JSON responses (orjson), headers every answer shares, and conditional GET with ETags."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from fastapi import Request
from starlette.responses import JSONResponse, Response

from stations.api.state import services_of

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
