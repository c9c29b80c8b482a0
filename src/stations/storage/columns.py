"""The column file: validated stations as memory-mapped arrays beside the GeoJSON.

Reading a national GeoJSON file costs seconds and gigabytes (every feature becomes Python
objects, then is validated); each API worker and each CLI call paid it. The column file
``stations.geojson.columns`` holds the same stations, already validated, as flat arrays:
coordinates, the filter codes, the ids, and each station's properties as its JSON. A reader maps
the file (`mmap`: the page cache is shared by every process reading it) and makes a station's
Python objects only when it is asked for (`Columns.station`, a bounded LRU).

The GeoJSON stays the source of truth. The column file is a cache keyed by the position it was
read at (`storage.snapshot.Position`: the GeoJSON's identity and its journal's inode and
offset; a PostgreSQL replica's cache: a `LogPosition`), written after a full load or a fold, and
used only at exactly that position. One stale, of another format, truncated or corrupt (a CRC-32
of its arrays) is ignored with a log line and rewritten by the next full load.

Layout: ``MAGIC``, the header's length (8 bytes, little-endian), the header (JSON: format,
position, warnings, the arrays' dtype, shape and offset, the CRC), then the arrays, each
64-byte aligned.
"""

from __future__ import annotations

import logging
import mmap
import zlib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from stations.geodesy import unit_vectors
from stations.masks import AMENITY_BIT, KIND_CODE, STATUS_CODE
from stations.models import Amenity, Kind, PositionAccuracy, Station, StationProperties, Status
from stations.storage.files import atomic_write_bytes
from stations.storage.journal import journal_path
from stations.storage.snapshot import LogPosition, Position, StorePosition, file_identity

log = logging.getLogger("stations.columns")

MAGIC = b"STATIONS-COLUMNS"
#: Raised whenever what the file holds or how it is laid out changes: older files are ignored.
FORMAT = 3
ALIGN = 64
SUFFIX = ".columns"


def columns_path(stations_path: Path) -> Path:
    """Where the column file of a stations file lives (beside it)."""
    return stations_path.with_name(stations_path.name + SUFFIX)


def current_position(stations_path: Path) -> Position:
    """The position a reader reading the files now would stand at (journal read to its end)."""
    identity = file_identity(stations_path)
    try:
        st = journal_path(stations_path).stat()
    except FileNotFoundError:
        return Position(identity, None, 0)
    return Position(identity, st.st_ino, st.st_size)


def _position_doc(position: StorePosition) -> dict[str, Any]:
    if isinstance(position, LogPosition):  # a replica's cache (`storage.postgres.cache`)
        return {"source": position.source, "seq": position.seq}
    return {
        "snapshot": position.snapshot,
        "journal_inode": position.journal_inode,
        "journal_offset": position.journal_offset,
    }


def _props_json(station: Station) -> bytes:
    # exclude_unset: a station made from it has the same fields set as the validated one.
    return orjson.dumps(station.props.model_dump(mode="json", exclude_unset=True))


def _id_lookup(ids: Sequence[str]) -> dict[str, npt.NDArray[Any]]:
    """The ids sorted (bytes as wide as the longest) and the file rank of each, for bisection.

    Mapped, it is shared by every worker instead of a dict of a million ids in each.
    """
    encoded = [i.encode() for i in ids]
    width = max((len(e) for e in encoded), default=1)
    array = np.array(encoded, dtype=f"S{width}")
    order = np.argsort(array, kind="stable")
    return {"ids_sorted": array[order], "ids_rank": order.astype(np.int64)}


#: The arrays with one row per station (``props`` and ``ids`` are bytes, cut by offsets).
ROW_ARRAYS = ("lon", "lat", "kind", "status", "amenities", "xyz")


def row_arrays(stations: Sequence[Station]) -> tuple[dict[str, npt.NDArray[Any]], list[bytes]]:
    """The `ROW_ARRAYS` of validated ``stations``, and each one's properties as JSON."""
    nan = float("nan")
    lon = np.array([nan if s.lon is None else s.lon for s in stations], np.float64)
    lat = np.array([nan if s.lat is None else s.lat for s in stations], np.float64)
    arrays: dict[str, npt.NDArray[Any]] = {
        "lon": lon,
        "lat": lat,
        "kind": np.array([KIND_CODE[s.props.kind] for s in stations], np.int8),
        "status": np.array([STATUS_CODE[s.props.status] for s in stations], np.int8),
        "amenities": np.array(
            [sum(AMENITY_BIT[a] for a in s.props.amenities) for s in stations], np.int64
        ),
        "xyz": unit_vectors(lon, lat),
    }
    return arrays, [_props_json(s) for s in stations]


def encode(stations: Sequence[Station], position: StorePosition, warnings: list[str]) -> bytes:
    """The column file of validated ``stations`` read at ``position`` (with their warnings)."""
    arrays, blobs = row_arrays(stations)
    offsets = np.zeros(len(stations) + 1, np.int64)
    np.cumsum([len(b) for b in blobs], out=offsets[1:])
    props = np.frombuffer(b"".join(blobs), np.uint8)
    return pack(arrays, offsets, props, [s.id for s in stations], position, warnings)


def pack(
    rows: dict[str, npt.NDArray[Any]],
    props_offsets: npt.NDArray[np.int64],
    props: npt.NDArray[np.uint8],
    ids: list[str],
    position: StorePosition,
    warnings: list[str],
) -> bytes:
    """The column file of `ROW_ARRAYS` ``rows``, properties JSON cut at ``props_offsets``, ids."""
    arrays: dict[str, npt.NDArray[Any]] = {
        **rows,
        "props_offsets": props_offsets,
        "props": props,
        "ids": np.frombuffer("\n".join(ids).encode(), np.uint8),
        **_id_lookup(ids),
    }
    directory, parts, offset = {}, [], 0
    for name, array in arrays.items():
        data = np.ascontiguousarray(array).tobytes()
        pad = -len(data) % ALIGN
        directory[name] = [array.dtype.str, list(array.shape), offset]
        parts += [data, b"\0" * pad]
        offset += len(data) + pad
    payload = b"".join(parts)
    header = {
        "format": FORMAT,
        "count": len(ids),
        "position": _position_doc(position),
        "validated": True,
        "warnings": warnings,
        "arrays": directory,
        "crc32": zlib.crc32(payload),
    }
    head = orjson.dumps(header)
    start = len(MAGIC) + 8 + len(head)
    head += b" " * (-start % ALIGN)
    return MAGIC + len(head).to_bytes(8, "little") + head + payload


def write(path: Path, stations: Sequence[Station], position: Position, warnings: list[str]) -> None:
    """Write the column file of ``path``'s stations (atomically); log and go on if it cannot."""
    target = columns_path(path)
    try:
        atomic_write_bytes(target, encode(stations, position, warnings))
    except OSError as exc:
        log.warning("cannot write the column file %s (loading stays slow): %s", target, exc)


class Stale(Exception):
    """The column file cannot be used (the message says why)."""


@dataclass(frozen=True, slots=True)
class _Header:
    count: int
    position: StorePosition
    warnings: list[str]
    arrays: dict[str, Any]
    crc32: int
    start: int


def _stored_position(doc: dict[str, Any]) -> StorePosition:
    if "source" in doc:
        return LogPosition(str(doc["source"]), int(doc["seq"]))
    return Position(str(doc["snapshot"]), doc["journal_inode"], int(doc["journal_offset"]))


def _header(buf: mmap.mmap | bytes, position: StorePosition | None) -> _Header:
    """The checked header; ``position``: the one it must record (None: any)."""
    if buf[: len(MAGIC)] != MAGIC:
        raise Stale("not a column file")
    size = int.from_bytes(buf[len(MAGIC) : len(MAGIC) + 8], "little")
    start = len(MAGIC) + 8 + size
    if start > len(buf):
        raise Stale("truncated header")
    try:
        doc = orjson.loads(buf[len(MAGIC) + 8 : start])
        if doc["format"] != FORMAT:
            raise Stale(f"format {doc['format']}, this version reads {FORMAT}")
        got = _stored_position(doc["position"])
        header = _Header(
            int(doc["count"]),
            got,
            list(doc["warnings"]),
            dict(doc["arrays"]),
            int(doc["crc32"]),
            start,
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise Stale(f"unreadable header ({exc})") from None
    if not doc.get("validated"):
        raise Stale("not validated")
    if position is not None and got != position:
        raise Stale(f"written at {got}, the files are at {position}")
    return header


#: The schema's fields in order, with their default (or default factory).
_FIELDS = [(n, f.default_factory, f.default) for n, f in StationProperties.model_fields.items()]
_new = object.__new__
_set = object.__setattr__


def _properties(data: dict[str, Any]) -> StationProperties:
    """Validated properties as stored by `encode`, made again without validating them.

    What pydantic's ``model_construct`` does for this schema (no aliases, no private
    attributes), without the signature inspection it spends ~100 µs on for every default
    factory: the instance equals the validated one, fields set included.
    """
    data["kind"] = Kind(data["kind"])
    data["position_accuracy"] = PositionAccuracy(data["position_accuracy"])
    if "status" in data:
        data["status"] = Status(data["status"])
    if "amenities" in data:
        data["amenities"] = [Amenity(a) for a in data["amenities"]]
    values = {
        name: data[name] if name in data else (default if factory is None else factory())  # type: ignore[call-arg]
        for name, factory, default in _FIELDS
    }
    props: StationProperties = _new(StationProperties)
    _set(props, "__dict__", values)
    _set(props, "__pydantic_fields_set__", set(data))
    _set(props, "__pydantic_extra__", None)
    _set(props, "__pydantic_private__", None)
    return props


class Columns:
    """A column file, mapped: the stations' arrays, and their records made on demand.

    Parameters
    ----------
    buffer
        The file's bytes (a read-only `mmap`).
    header
        Its checked header.
    cache_entries
        How many stations made from their JSON are kept (least recently used go first).
    """

    def __init__(self, buffer: mmap.mmap | bytes, header: _Header, cache_entries: int) -> None:
        self._buffer = buffer
        self.count = header.count
        self.position = header.position
        self.warnings = header.warnings
        arrays = {}
        for name, (dtype, shape, offset) in header.arrays.items():
            count = int(np.prod(shape)) if shape else 1
            arrays[name] = np.frombuffer(
                buffer, np.dtype(dtype), count, header.start + offset
            ).reshape(shape)
        self.lon, self.lat = arrays["lon"], arrays["lat"]
        self.kind, self.status = arrays["kind"], arrays["status"]
        self.amenities = arrays["amenities"]
        #: Unit vectors of the positions (`geodesy.unit_vectors`; NaN when unlocated).
        self.xyz = arrays["xyz"]
        #: Each station's properties JSON: ``props[props_offsets[r]:props_offsets[r + 1]]``.
        self.props_offsets, self.props = arrays["props_offsets"], arrays["props"]
        self._offsets, self._props = self.props_offsets, self.props
        self._ids = arrays["ids"]
        self._sorted, self._sorted_rank = arrays["ids_sorted"], arrays["ids_rank"]
        self._cache: OrderedDict[int, Station] = OrderedDict()
        self._limit = max(1, cache_entries)
        sizes = {self._sorted.size, self._sorted_rank.size, self._offsets.size - 1}
        if sizes != {self.count}:
            raise Stale("arrays do not match the station count")

    def ids(self) -> list[str]:
        """Every station's id, in file order (made on each call: for the rare full listing)."""
        return self._ids.tobytes().decode().split("\n") if self.count else []

    def rank_of(self, sid: object) -> int | None:
        """The file rank of the station ``sid`` (None if there is none), by bisection."""
        if not isinstance(sid, str) or not sid.isascii() or len(sid) > self._sorted.itemsize:
            return None
        key = sid.encode()
        i = int(self._sorted.searchsorted(key))
        if i < self.count and self._sorted[i] == key:
            return int(self._sorted_rank[i])
        return None

    def station(self, rank: int) -> Station:
        """The station at ``rank`` in the file (made from its JSON, or the one made before)."""
        cache = self._cache
        found = cache.get(rank)
        if found is not None:
            try:  # evicted meanwhile by another thread (a page build)
                cache.move_to_end(rank)
            except KeyError:
                pass
            return found
        start, end = int(self._offsets[rank]), int(self._offsets[rank + 1])
        props = _properties(orjson.loads(self._props[start:end].tobytes()))
        lon, lat = float(self.lon[rank]), float(self.lat[rank])
        station = Station(props, None, None) if lon != lon else Station(props, lon, lat)
        cache[rank] = station
        if len(cache) > self._limit:
            try:
                cache.popitem(last=False)
            except KeyError:
                pass
        return station


def _crc32(path: Path, start: int) -> int:
    """CRC-32 of the file from ``start``, read in chunks rather than through the mapping.

    Reading through the mapping would count every page in the process's resident memory;
    read, the pages stay in the page cache and are mapped only when used.
    """
    crc = 0
    with open(path, "rb") as handle:
        handle.seek(start)
        while chunk := handle.read(1 << 20):
            crc = zlib.crc32(chunk, crc)
    return crc


def load(path: Path, cache_entries: int) -> Columns | None:
    """The column file of the stations file ``path``, if it holds the files as they are now.

    None (with a log line saying why) when there is none, or it is stale, of another format,
    truncated or corrupt: the caller then reads the GeoJSON (and writes a new column file).
    """
    try:
        position = current_position(path)
    except FileNotFoundError:
        return None  # no stations file: the reader says so
    except OSError as exc:
        log.warning("column file of %s ignored: %s", path, exc)
        return None
    return open_columns(columns_path(path), position, cache_entries, "reading the GeoJSON")


def load_written(path: Path, cache_entries: int) -> Columns | None:
    """``path``'s column file at any position (a fold brings it up to date); None if unusable."""
    return open_columns(columns_path(path), None, cache_entries, "reading the GeoJSON")


def open_columns(
    target: Path, position: StorePosition | None, cache_entries: int, instead: str
) -> Columns | None:
    """``target`` mapped and checked against ``position`` (None: any); None, logged, if bad."""
    try:
        with open(target, "rb") as handle:
            buffer: mmap.mmap | bytes = (
                mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
                if target.stat().st_size
                else b""
            )
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("column file %s ignored: %s", target, exc)
        return None
    try:
        header = _header(buffer, position)
        end = max(
            (header.start + off + np.dtype(dt).itemsize * int(np.prod(shape)))
            for dt, shape, off in header.arrays.values()
        )
        if end > len(buffer):
            raise Stale("truncated")
        if _crc32(target, header.start) != header.crc32:
            raise Stale("corrupt (CRC mismatch)")
        return Columns(buffer, header, cache_entries)
    except Stale as exc:
        log.warning("column file %s ignored, %s: %s", target, instead, exc)
        return None
