"""Where stations live: one small interface, and its embedded implementation on a GeoJSON file.

`StationStore` is what the API and the CLI write through; a PostGIS store will implement the same
methods when the service outgrows one machine. `GeoJSONStore` keeps the bundled file format:

- every change is validated by the same code as loading (`stations.loading.parse_feature` and the
  whole-file check), so nothing invalid is ever written;
- writes hold an exclusive ``fcntl`` lock on ``<file>.lock`` from read to rename, so API workers
  and the CLI can write at once without losing an update;
- the new file is written atomically (temp file, fsync, rename, fsync of the folder); the version
  it replaces is kept in ``.backups/`` (the last ``keep_backups``);
- one JSON line per change is appended (and fsynced) to ``audit.jsonl`` beside the file: when,
  which token label, what changed (before and after).
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import orjson

from stations.errors import Conflict, DataError, InvalidInput, StationNotFound
from stations.files import atomic_write_bytes, file_identity
from stations.loading import FeatureCache, parse_feature, parse_stations, read_json
from stations.models import Status

Feature = dict[str, Any]
#: Validated stations per data file, shared by the stores of this process (see FeatureCache).
_CACHES: dict[str, FeatureCache] = {}


class StationStore(Protocol):
    """What the service needs from storage."""

    def version(self) -> str:
        """A token that changes whenever the data changes."""
        ...

    def create(self, feature: Feature, actor: str) -> Feature:
        """Add a station; Conflict if its id exists."""
        ...

    def replace(self, station_id: str, feature: Feature, actor: str) -> Feature:
        """Replace a station entirely."""
        ...

    def patch(self, station_id: str, changes: Feature, actor: str) -> Feature:
        """Change some properties (and/or the geometry) of a station."""
        ...

    def delete(self, station_id: str, actor: str, purge: bool = False) -> Feature | None:
        """Mark a station closed, or remove it with ``purge``."""
        ...


def check_written_feature(feature: object, label: str = "station") -> Feature:
    """Validate a feature as loading does, and refuse what loading only warns about."""
    station, problems, warnings = parse_feature(feature, label)
    if problems or station is None:
        raise InvalidInput("; ".join(problems))
    if warnings:
        raise InvalidInput("; ".join(warnings) + " (refused on write; fix the coordinates)")
    assert isinstance(feature, dict)
    return feature


class GeoJSONStore:
    """Stations in one GeoJSON FeatureCollection file (see the module docstring)."""

    def __init__(self, path: Path, keep_backups: int = 20) -> None:
        self.path = path
        self.lock_path = path.with_name(path.name + ".lock")
        self.backups = path.parent / ".backups"
        self.audit_path = path.parent / "audit.jsonl"
        self.keep_backups = keep_backups

    def version(self) -> str:
        """File identity and modification time: changes on every rename over the file."""
        return file_identity(self.path)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a+") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def _cache(self) -> FeatureCache:
        return _CACHES.setdefault(str(self.path.resolve()), FeatureCache())

    def _read(self) -> dict[str, Any]:
        doc = read_json(self.path)
        parse_stations(doc, str(self.path), self._cache())  # refuse to build on a broken file
        assert isinstance(doc, dict)
        return doc

    def _commit(self, doc: dict[str, Any], entry: dict[str, Any]) -> None:
        # The whole file, exactly as loading checks it (unchanged stations come from the cache).
        parse_stations(doc, str(self.path), self._cache())
        body = orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n"  # as json.dumps(indent=2)
        self._backup()
        atomic_write_bytes(self.path, body)
        self._audit(entry)

    def _backup(self) -> None:
        if not self.path.exists():
            return
        self.backups.mkdir(exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        atomic_write_bytes(
            self.backups / f"{self.path.stem}.{stamp}.geojson", self.path.read_bytes()
        )
        kept = sorted(self.backups.glob(f"{self.path.stem}.*.geojson"))
        for old in kept[: max(0, len(kept) - self.keep_backups)]:
            old.unlink(missing_ok=True)

    def last_backup(self) -> Path | None:
        """The newest backup, if any."""
        kept = sorted(self.backups.glob(f"{self.path.stem}.*.geojson"))
        return kept[-1] if kept else None

    def _audit(self, entry: dict[str, Any]) -> None:
        line = json.dumps(
            {"at": datetime.now(UTC).isoformat(timespec="milliseconds"), **entry},
            ensure_ascii=False,
        )
        fd = os.open(self.audit_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (line + "\n").encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)

    def _change(
        self, action: str, station_id: str | None, actor: str, fn: Callable[[list[Feature]], Any]
    ) -> Any:
        with self._locked():
            doc = self._read()
            features: list[Feature] = doc["features"]
            before = {f["properties"]["id"]: f for f in features}
            result = fn(features)
            after = result if isinstance(result, dict) else None
            sid = station_id or (after or {}).get("id")
            self._commit(
                doc,
                {
                    "actor": actor,
                    "action": action,
                    "id": sid,
                    "before": before.get(sid),
                    "after": after,
                },
            )
            return result

    @staticmethod
    def _index(features: list[Feature], station_id: str) -> int:
        for i, f in enumerate(features):
            if f.get("properties", {}).get("id") == station_id:
                return i
        raise StationNotFound(f"no station with id {station_id!r}")

    def create(self, feature: Feature, actor: str) -> Feature:
        """Add a station; Conflict if its id exists."""
        feature = check_written_feature(_with_id(feature))
        sid = feature["properties"]["id"]

        def add(features: list[Feature]) -> Feature:
            if any(f.get("properties", {}).get("id") == sid for f in features):
                raise Conflict(f"a station with id {sid!r} already exists; use PUT to replace it")
            features.append(feature)
            return feature

        result: Feature = self._change("create", sid, actor, add)
        return result

    def replace(self, station_id: str, feature: Feature, actor: str) -> Feature:
        """Replace a station entirely (its id cannot change)."""
        feature = check_written_feature(_with_id(feature))
        if feature["properties"]["id"] != station_id:
            raise InvalidInput(
                f"properties.id {feature['properties']['id']!r} differs from the URL's "
                f"{station_id!r}; ids cannot change"
            )

        def put(features: list[Feature]) -> Feature:
            features[self._index(features, station_id)] = feature
            return feature

        result: Feature = self._change("replace", station_id, actor, put)
        return result

    def patch(self, station_id: str, changes: Feature, actor: str) -> Feature:
        """Merge ``changes`` (``properties`` and/or ``geometry``) into a station."""
        if not isinstance(changes, dict) or not set(changes) <= {"properties", "geometry"}:
            raise InvalidInput("a patch is an object with 'properties' and/or 'geometry'")
        props = changes.get("properties", {})
        if not isinstance(props, dict):
            raise InvalidInput("properties must be an object")
        if "id" in props and props["id"] != station_id:
            raise InvalidInput("ids cannot change")

        def merge(features: list[Feature]) -> Feature:
            i = self._index(features, station_id)
            current = features[i]
            merged = {
                **current,
                "properties": {**current["properties"], **props},
                "geometry": changes.get("geometry", current.get("geometry")),
            }
            merged = check_written_feature(merged)
            features[i] = merged
            return merged

        result: Feature = self._change("patch", station_id, actor, merge)
        return result

    def import_features(
        self, features: list[Feature], actor: str, update: bool = False
    ) -> tuple[list[str], list[str]]:
        """Add many stations in one write (one lock, one backup).

        With ``update``, stations whose id exists are replaced. Returns the ids created and
        updated; without ``update`` a clash raises Conflict listing the ids.
        """
        checked = [check_written_feature(_with_id(f)) for f in features]
        created: list[str] = []
        updated: list[str] = []
        with self._locked():
            doc = self._read()
            stored: list[Feature] = doc["features"]
            where = {f["properties"]["id"]: i for i, f in enumerate(stored)}
            clash = [f["properties"]["id"] for f in checked if f["properties"]["id"] in where]
            if clash and not update:
                raise Conflict(
                    f"{len(clash)} id(s) already exist ({', '.join(clash[:10])}); use --update "
                    "to replace them"
                )
            for f in checked:
                sid = f["properties"]["id"]
                if sid in where:
                    stored[where[sid]] = f
                    updated.append(sid)
                else:
                    where[sid] = len(stored)
                    stored.append(f)
                    created.append(sid)
            self._commit(
                doc,
                {"actor": actor, "action": "import", "created": created, "updated": updated},
            )
        return created, updated

    def delete(self, station_id: str, actor: str, purge: bool = False) -> Feature | None:
        """Mark a station closed (kept, with history), or remove it with ``purge``."""

        def remove(features: list[Feature]) -> Feature | None:
            i = self._index(features, station_id)
            if purge:
                del features[i]
                return None
            closed = {
                **features[i],
                "properties": {**features[i]["properties"], "status": Status.CLOSED.value},
            }
            features[i] = closed
            return closed

        result: Feature | None = self._change(
            "purge" if purge else "close", station_id, actor, remove
        )
        return result


def _with_id(feature: object) -> Feature:
    """Features carry their id twice (Feature id and properties.id); fill the Feature's."""
    if not isinstance(feature, dict):
        raise InvalidInput("expected a GeoJSON Feature object")
    props = feature.get("properties")
    if isinstance(props, dict) and "id" in props and "id" not in feature:
        return {**feature, "id": props["id"]}
    return feature


def with_backup_hint(exc: DataError, path: Path) -> DataError:
    """The same error, naming the last backup of ``path`` to restore from (if there is one)."""
    backup = GeoJSONStore(path).last_backup()
    if backup is None or exc.path != str(path):
        return exc
    return DataError(
        exc.path,
        [
            *exc.problems,
            f"the data file is refused, not replaced; the last backup is {backup}: check it "
            f"with `stations validate {backup}` and copy it over {path.name} to restore",
        ],
    )
