"""The loop file: its version, and its replacement (validated, atomic, the old file kept).

The loop is one GeoJSON Feature in a one-feature collection. Its version is a digest of the
file's bytes, written as a strong HTTP entity tag: whoever previews a new loop against one
version replaces it only if the file still holds that version (``If-Match``), so a colleague's
loop recorded meanwhile is never overwritten unseen. The file it replaces is kept in
``.backups/`` beside it, as compaction keeps the stations file.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import orjson

from stations.errors import DataError, InvalidInput, PreconditionFailed
from stations.loop import parse_loop
from stations.storage.files import atomic_write_bytes, keep_backup


def version_of(data: bytes) -> str:
    """The version of a loop file holding ``data``: a strong entity tag (quoted digest)."""
    return f'"{hashlib.blake2b(data, digest_size=16).hexdigest()}"'


def loop_version(path: Path) -> str:
    """The version of the loop file ``path`` (`version_of`); DataError if it cannot be read."""
    try:
        return version_of(path.read_bytes())
    except OSError as exc:
        raise DataError(str(path), [f"cannot read the loop file: {exc.strerror}"]) from None


def encode_loop(feature: dict[str, Any]) -> bytes:
    """The loop file's bytes: ``feature`` as a one-feature collection, indented."""
    body = {"type": "FeatureCollection", "features": [feature]}
    return orjson.dumps(body, option=orjson.OPT_INDENT_2) + b"\n"


def summary(feature: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the audit log records of a loop: its properties and vertex count, not every vertex."""
    if not isinstance(feature, dict):
        return None
    geometry = feature.get("geometry") or {}
    coords = geometry.get("coordinates") if isinstance(geometry, dict) else None
    return {
        "id": feature.get("id"),
        "properties": feature.get("properties"),
        "vertices": len(coords) if isinstance(coords, list) else None,
    }


def check_loop(feature: dict[str, Any]) -> None:
    """Refuse a new loop that loading would refuse (`InvalidInput` naming every problem)."""
    try:
        parse_loop(feature, "the new loop")
    except DataError as exc:
        raise InvalidInput("; ".join(exc.problems) or str(exc)) from None


def check_loop_version(current: str, if_version: str | None) -> None:
    """`PreconditionFailed` unless ``if_version`` (None: no check) is the ``current`` version."""
    if if_version is not None and if_version != current:
        raise PreconditionFailed(
            "the loop was replaced since this preview was made (its version no longer "
            "matches If-Match): preview the track again and check the new km marks"
        )


def replace_loop_file(
    path: Path,
    feature: dict[str, Any],
    if_version: str | None,
    keep_backups: int,
) -> dict[str, Any]:
    """Replace the loop file ``path`` with ``feature`` (call under the store's lock).

    ``feature`` is validated as loading validates (`InvalidInput` naming every problem); with
    ``if_version``, the file must still hold that version (`PreconditionFailed` otherwise).
    The old file is copied to ``.backups/`` beside it (the last ``keep_backups`` kept) before
    the new one is renamed into place. Returns the audit entry: both loops' `summary`.
    """
    check_loop(feature)
    before = path.read_bytes() if path.exists() else b""
    check_loop_version(version_of(before), if_version)
    if before:
        keep_backup(path.name, before, path.parent / ".backups", keep_backups)
    atomic_write_bytes(path, encode_loop(feature))
    return {
        "action": "replace_loop",
        "before": summary(feature_of(before)),
        "after": summary(feature),
    }


def feature_of(data: bytes) -> dict[str, Any] | None:
    """The loop Feature in a loop file's bytes (None if there is none to read)."""
    try:
        doc = orjson.loads(data) if data else None
    except orjson.JSONDecodeError:
        return None
    features = doc.get("features") if isinstance(doc, dict) else None
    if isinstance(features, list) and features and isinstance(features[0], dict):
        return features[0]
    return doc if isinstance(doc, dict) else None
