"""Response schemas for the OpenAPI document (bodies are built as dicts and sent with orjson)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorOut(BaseModel):
    """Every 4xx/5xx body."""

    detail: str = Field(description="What went wrong and what to send instead.")


class HealthOut(BaseModel):
    """Liveness: ``ok``, or ``degraded`` while a PostgreSQL-backed replica lost its database."""

    status: str
    stations: int
    sequence: int | None = None  # PostgreSQL store: the last change-log sequence applied
    behind: int | None = None  # ...and how many announced changes are not applied yet
    detail: str | None = None  # why degraded (the database URL without its password)


def _geojson(kind: str) -> dict[str, Any]:
    return {"type": "object", "required": ["type"], "properties": {"type": {"enum": [kind]}}}


_ERROR_CONTENT = {"application/json": {"schema": ErrorOut.model_json_schema()}}
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {
        "description": "Invalid input; the message names the parameter.",
        "content": _ERROR_CONTENT,
    },
    404: {"description": "Not found.", "content": _ERROR_CONTENT},
    413: {"description": "Request body too large.", "content": _ERROR_CONTENT},
}


def geojson_responses(
    kind: str = "FeatureCollection", media: str = "application/geo+json"
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for a GeoJSON (or JSON) answer of ``kind``, plus conditional 304."""
    return {
        200: {"description": f"GeoJSON {kind}.", "content": {media: {"schema": _geojson(kind)}}},
        304: {"description": "Not modified (If-None-Match matched the ETag)."},
    }


def json_responses(required: list[str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for a JSON object answer with these required members."""
    schema = {"type": "object", "required": required}
    return {200: {"description": "JSON.", "content": {"application/json": {"schema": schema}}}}
