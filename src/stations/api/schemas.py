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


_NUMBER_OR_NULL = {"type": ["number", "null"]}
#: A rider's answer (/api/nearest, /api/within): stations nearest first, with what a rider needs.
RIDER_ANSWER: dict[str, Any] = {
    "type": "object",
    "required": ["type", "features", "numberReturned", "query"],
    "properties": {
        "type": {"enum": ["FeatureCollection"]},
        "features": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["type", "id", "geometry", "properties"],
                "properties": {
                    "type": {"enum": ["Feature"]},
                    "id": {"type": "string"},
                    "geometry": {"type": "object"},
                    "properties": {
                        "type": "object",
                        "description": "The station's properties (see the README's schema), "
                        "then what this answer adds.",
                        "required": ["id", "name", "kind", "status", "distance_m"],
                        "properties": {
                            "distance_m": {
                                "type": "number",
                                "description": "Ellipsoidal (WGS84) distance from the query "
                                "point, or along the loop with by=loop.",
                            },
                            "bearing_deg": {
                                **_NUMBER_OR_NULL,
                                "description": "Initial bearing from the query point, degrees "
                                "clockwise from north.",
                            },
                            "loop_km": {**_NUMBER_OR_NULL, "description": "Km mark on the loop."},
                            "open_now": {
                                "type": ["boolean", "null"],
                                "description": "Open at this moment (null: hours unknown).",
                            },
                            "navigation": {
                                "type": "object",
                                "description": "Links into Amap and Baidu Maps (ride, walk).",
                            },
                        },
                    },
                },
            },
        },
        "numberReturned": {"type": "integer"},
        "query": {"type": "object", "description": "The query as understood (WGS84 position)."},
        "note": {
            "type": "string",
            "description": "Present when the answer needs a word: e.g. no station within 200 km "
            "(a position far from every station, often swapped lon/lat or a wrong datum).",
        },
        "loop_calibration": {
            "type": "object",
            "description": "How loop_km is computed from the geometry (present with a loop).",
        },
        "nearer_closed": {
            "type": "object",
            "description": "/api/nearest with open_now=true (by=straight) only, and only when "
            "the station nearest to the point (same kind, amenity and status filters) is not "
            "open now and nearer than the first station answered: which it is and when it "
            "next opens.",
            "properties": {
                "id": {"type": "string"},
                "name": {"type": "string"},
                "name_en": {"type": ["string", "null"]},
                "distance_m": {"type": "number", "description": "Ellipsoidal distance, m."},
                "open_now": {
                    "type": ["boolean", "null"],
                    "description": "false: closed now; null: hours unknown.",
                },
                "opens_at": {
                    "type": ["string", "null"],
                    "format": "date-time",
                    "description": "When it next opens, ISO 8601 with the offset of "
                    "STATIONS_TIMEZONE; null when unknown (no hours, or none ahead).",
                },
            },
        },
    },
}


def rider_answer_responses() -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` of the riders' routes: `RIDER_ANSWER` as GeoJSON."""
    content = {"application/geo+json": {"schema": RIDER_ANSWER}}
    return {200: {"description": "The stations, nearest first.", "content": content}}
