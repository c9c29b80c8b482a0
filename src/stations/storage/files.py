"""Files: JSON read with every problem located, and atomic writes.

An atomic write is a temp file in the same folder, flushed and fsynced, renamed over the
target, then the folder fsynced: a crash leaves either the old file or the new one, never half
of one.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import orjson

from stations.errors import DataError


def atomic_write_bytes(path: Path, data: bytes, mode: int = 0o644) -> Path:
    """Replace ``path`` with ``data`` atomically."""
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
