"""The audit log beside the stations file (``audit.jsonl``): written per change, read per station.

Each change appends one JSON line (fsynced): when, which token label, the action, the station's
id and the station before and after (a bulk import writes one line naming the ids it created and
updated). `AuditLog.history` answers a station's last changes without reading the whole log per
request: each process keeps an index (station id -> byte offsets of its lines), built by one scan
the first time and then extended by reading only the bytes appended since; a request then reads
just the lines it returns. A log replaced or cut shorter (rotated by hand) is indexed afresh. A
half-written last line (a crash mid-append) is left out, and the next append ends it first.
"""

from __future__ import annotations

import json
import os
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

#: Bytes read at a time while indexing.
CHUNK = 1 << 20
#: Audit actions that write one station with its before and after.
_FEATURE_KEYS = ("before", "after")
#: A one-station line as `AuditLog.append` writes it starts ``{"at": "...", "actor": "...",
#: "action": "...", "id": "<id>", "before": ...``: its id is read from those first bytes without
#: parsing the stations (most of the line). The key's bytes cannot occur inside a JSON string
#: (its quotes would be escaped there). Other lines are parsed whole.
_ID_KEY = b', "id": "'
_ID = re.compile(rb"[a-z0-9][a-z0-9-]{0,63}")


@dataclass
class _Index:
    """Where each station's lines start, for one audit file, indexed up to ``scanned`` bytes."""

    identity: tuple[int, int]
    scanned: int = 0
    offsets: dict[str, list[int]] = field(default_factory=dict)


_INDEXES: dict[str, _Index] = {}
_LOCK = threading.Lock()


def _ids(entry: Any) -> list[str]:
    """The station ids an audit line concerns."""
    if not isinstance(entry, dict):
        return []
    if isinstance(entry.get("id"), str):
        return [entry["id"]]
    out: list[str] = []
    for key in ("created", "updated"):
        value = entry.get(key)
        if isinstance(value, list):
            out += [sid for sid in value if isinstance(sid, str)]
    return out


def _line_ids(line: bytes) -> list[str]:
    """The station ids of one audit line (none if it is not a change's JSON)."""
    at = line.find(_ID_KEY, 0, 512)
    if at > 0 and line.startswith(b'{"at": '):
        start = at + len(_ID_KEY)
        end = line.find(b'"', start, start + 65)
        if end > 0 and _ID.fullmatch(line, start, end):
            return [line[start:end].decode("ascii")]
    try:
        return _ids(orjson.loads(line))
    except orjson.JSONDecodeError:
        return []


class AuditLog:
    """The audit log at ``path`` (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, entry: dict[str, Any]) -> None:
        """Append one change, stamped with the time, and fsync it (call under the write lock).

        A line a crash left half-written is ended first, so it cannot swallow this one.
        """
        line = json.dumps(
            {"at": datetime.now(UTC).isoformat(timespec="milliseconds"), **entry},
            ensure_ascii=False,
        )
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            torn = size > 0 and os.pread(fd, 1, size - 1) != b"\n"
            os.write(fd, (("\n" if torn else "") + line + "\n").encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)

    def history(self, station_id: str, limit: int) -> list[dict[str, Any]]:
        """The station's last ``limit`` changes, newest first.

        Each is ``{"at", "actor", "action", "before", "after"}`` (``before`` and ``after`` are
        null for a bulk import, whose line does not hold the stations).
        """
        with _LOCK:
            index = self._indexed()
            starts = list(index.offsets.get(station_id, [])[-limit:]) if index else []
        out: list[dict[str, Any]] = []
        if not starts:
            return out
        with open(self.path, "rb") as log:
            for start in reversed(starts):
                log.seek(start)
                entry = orjson.loads(log.readline())
                out.append(
                    {
                        "at": entry.get("at"),
                        "actor": entry.get("actor"),
                        "action": entry.get("action"),
                        **{k: entry.get(k) for k in _FEATURE_KEYS},
                    }
                )
        return out

    def _indexed(self) -> _Index | None:
        """The log's index, extended to its last complete line (call under `_LOCK`)."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return None
        key = str(self.path.resolve())
        identity = (stat.st_dev, stat.st_ino)
        index = _INDEXES.get(key)
        if index is None or index.identity != identity or stat.st_size < index.scanned:
            index = _INDEXES[key] = _Index(identity)
        if stat.st_size > index.scanned:
            self._scan(index)
        return index

    def _scan(self, index: _Index) -> None:
        """Index the complete lines appended since ``index.scanned``."""
        with open(self.path, "rb") as log:
            log.seek(index.scanned)
            start, rest = index.scanned, b""
            while chunk := log.read(CHUNK):
                data = rest + chunk
                lines = data.split(b"\n")
                rest = lines.pop()  # incomplete (or empty after the last newline)
                for line in lines:
                    ids = _line_ids(line)
                    for sid in ids:
                        index.offsets.setdefault(sid, []).append(start)
                    start += len(line) + 1
            index.scanned = start


def differences(before: Any, after: Any) -> list[dict[str, Any]]:
    """What a change changed, field by field: ``[{"field", "before", "after"}]``.

    Fields are the station's properties and ``position`` ([lon, lat]); a created station lists
    every field it was given, a removed one every field it had.
    """
    old, new = _fields(before), _fields(after)
    keys = [*old, *(k for k in new if k not in old)]
    return [
        {"field": k, "before": old.get(k), "after": new.get(k)}
        for k in keys
        if old.get(k) != new.get(k)
    ]


def _fields(feature: Any) -> dict[str, Any]:
    if not isinstance(feature, dict):
        return {}
    props = feature.get("properties")
    out = dict(props) if isinstance(props, dict) else {}
    geometry = feature.get("geometry")
    coords = geometry.get("coordinates") if isinstance(geometry, dict) else None
    out["position"] = list(coords[:2]) if isinstance(coords, list) else None
    return out
