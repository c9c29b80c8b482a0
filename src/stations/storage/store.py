"""The configured store: what every caller (API routes, CLI, bulk import) writes through."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stations.errors import DataError
from stations.loop import Loop, load_loop, parse_loop
from stations.settings import Settings
from stations.storage.base import Feature, Store
from stations.storage.geojson import GeoJSONStore
from stations.storage.loading import (
    FeatureCache,
    Parsed,
    gc_paused,
    load_stations,
    parse_stations,
    read_checked,
)
from stations.storage.postgres import PostgresStore
from stations.storage.postgres.connect import redacted
from stations.storage.snapshot import COMPACTED


def open_store(settings: Settings, cache: FeatureCache | None = None) -> Store:
    """The store the settings name: PostgreSQL if ``database_url`` is set, else the GeoJSON file.

    Parameters
    ----------
    settings
        Where the stations live, and how many backups and journal lines to keep.
    cache
        An API worker's validated stations: its own writes are not validated again when it
        applies them from the journal.
    """
    if settings.database_url:
        return PostgresStore(
            settings.database_url, cache, settings.loop_path, settings.database_keep_changes
        )
    return GeoJSONStore.for_settings(settings, cache)


def read_stations(settings: Settings, cache: FeatureCache | None = None) -> Parsed:
    """The configured store's stations, validated (`DataError` listing every problem).

    From the GeoJSON file and its journal (`storage.loading.load_stations`), or from a
    PostgreSQL snapshot (of the standby ``database_read_url`` if set): then ``position`` is
    the change log's sequence number it holds.
    """
    if not settings.database_url:
        return load_stations(settings.stations_path, cache)
    url = settings.database_read_url or settings.database_url
    doc, position = PostgresStore(url, cache).snapshot()
    with gc_paused():
        parsed = parse_stations(doc, redacted(url), cache)
    parsed.position = position
    return parsed


def database_loop(settings: Settings) -> tuple[Feature | None, str]:
    """The loop the configured database holds (None: none, or no database), and its source.

    Of the standby ``database_read_url`` if set, as the stations are read there.
    """
    if not settings.database_url:
        return None, str(settings.loop_path)
    url = settings.database_read_url or settings.database_url
    return PostgresStore(url).loop(), f"{redacted(url)} (loops)"


def read_loop(settings: Settings) -> Loop:
    """The configured loop, validated (`DataError` naming every problem).

    In PostgreSQL mode the database's loop; the loop file (``loop_path``) otherwise, and until
    the database holds one.
    """
    stored, source = database_loop(settings)
    if stored is not None:
        return parse_loop(stored, source, calibrate=settings.calibrate_loop)
    return load_loop(settings.loop_path, calibrate=settings.calibrate_loop)


def stored_document(settings: Settings) -> Feature:
    """The configured store's stations as one FeatureCollection, validated (for exports).

    Only valid data leaves: `DataError` names every problem.
    """
    if not settings.database_url:
        doc: dict[str, Any] = read_checked(settings.stations_path)[0]
        return {k: v for k, v in doc.items() if k != COMPACTED}
    doc, _ = PostgresStore(settings.database_url).snapshot()
    parse_stations(doc, redacted(settings.database_url))
    return doc


def store_label(settings: Settings) -> str:
    """Where the configured stations live, for messages (a database URL without its password)."""
    return redacted(settings.database_url) if settings.database_url else str(settings.stations_path)


def compact_store(settings: Settings, idle_s: float | None = None) -> int:
    """Fold the configured store's journal (`Store.compact`); return how many writes it held.

    A module-level function of plain arguments, so that a child process can run it
    (`api.compaction`).
    """
    return open_store(settings).compact(idle_s)


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
