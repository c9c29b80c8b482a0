"""Files: JSON read with every problem located, and atomic writes.

An atomic write is a temp file in the same folder, flushed and fsynced, renamed over the
target, then the folder fsynced: a crash leaves either the old file or the new one, never half
of one.
"""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from stations.errors import DataError


def atomic_write_bytes(path: Path, data: bytes, mode: int = 0o644) -> Path:
    """Replace ``path`` with ``data`` atomically (through a temp file named `temp_glob`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)  # mkstemp makes files private
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return path


def keep_backup(name: str, data: bytes, folder: Path, keep: int) -> Path:
    """Store ``data`` (the file ``name`` being replaced) in ``folder``, keeping the last ``keep``.

    Backups are named ``<stem>.<UTC time>.geojson``, so they sort by age.
    """
    folder.mkdir(exist_ok=True)
    stem = Path(name).stem
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    saved = atomic_write_bytes(folder / f"{stem}.{stamp}.geojson", data)
    kept = sorted(folder.glob(f"{stem}.*.geojson"))
    for old in kept[: max(0, len(kept) - keep)]:
        old.unlink(missing_ok=True)
    return saved


def temp_glob(name: str) -> str:
    """The names of `atomic_write_bytes`'s temp files for targets named ``name`` (a glob)."""
    return f".{name}.*.tmp"


def remove_stale_temps(folder: Path, name: str, before: float) -> list[Path]:
    """Remove the temp files a killed atomic write left for targets named ``name`` (a glob).

    Only our own temp names (`temp_glob`) last modified before ``before`` (a ``time.time()``)
    are removed: a caller passes the time it took the lock that every such write holds, so a
    temp file still being written is never touched. Returns the files removed.
    """
    removed = []
    for tmp in folder.glob(temp_glob(name)):
        try:
            if tmp.is_file() and tmp.stat().st_mtime < before:
                tmp.unlink()
                removed.append(tmp)
        except FileNotFoundError:
            continue
    return removed


def fsync_dir(folder: Path) -> None:
    """Make a folder's entries (a created, renamed or removed file) durable."""
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def atomic_write_text(path: Path, text: str, mode: int = 0o644) -> Path:
    """Replace ``path`` with UTF-8 ``text`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"), mode)


def read_json(path: Path) -> Any:
    """Read a JSON file, raising `DataError` with the position of a syntax error."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(str(path), ["file not found"]) from None
    except OSError as exc:
        raise DataError(str(path), [f"cannot read: {exc.strerror}"]) from None
    if not raw.strip():
        raise DataError(str(path), ["file is empty (truncated?); expected a GeoJSON document"])
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise DataError(str(path), [f"not valid JSON: {exc}"]) from None
