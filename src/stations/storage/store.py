"""The configured store: what every caller (API routes, CLI, bulk import) writes through."""

from __future__ import annotations

from pathlib import Path

from stations.errors import DataError
from stations.settings import Settings
from stations.storage.base import Store
from stations.storage.geojson import GeoJSONStore
from stations.storage.loading import FeatureCache
from stations.storage.postgres import PostgresStore


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
        return PostgresStore(settings.database_url, cache)
    return GeoJSONStore.for_settings(settings, cache)


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
