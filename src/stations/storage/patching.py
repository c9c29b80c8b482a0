"""A patch of one station, as every store reads it: checked first, merged under the write lock."""

from __future__ import annotations

from typing import Any

from stations.errors import InvalidInput
from stations.storage.base import Feature


def patch_properties(station_id: str, changes: Any) -> dict[str, Any]:
    """The properties a patch changes; InvalidInput for anything but a patch of this station."""
    if not isinstance(changes, dict) or not set(changes) <= {"properties", "geometry"}:
        raise InvalidInput("a patch is an object with 'properties' and/or 'geometry'")
    props = changes.get("properties", {})
    if not isinstance(props, dict):
        raise InvalidInput("properties must be an object")
    if "id" in props and props["id"] != station_id:
        raise InvalidInput("ids cannot change")
    return props


def merged(current: Feature, props: dict[str, Any], changes: Feature) -> Feature:
    """``current`` with the patch applied (validated afterwards by the store's write)."""
    return {
        **current,
        "properties": {**current["properties"], **props},
        "geometry": changes.get("geometry", current.get("geometry")),
    }
