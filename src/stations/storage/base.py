"""The store interface: what the API, the CLI and bulk import need from where stations live.

`storage.geojson.GeoJSONStore` implements it on the bundled file format, and
`storage.postgres.PostgresStore` on PostgreSQL/PostGIS for several replicas. A reader's
position is a `StorePosition`: a place in files, or a sequence number in a change log. Callers
get a store from `storage.store.open_store` and never name an implementation.
``tests/test_store_contract.py`` is the suite every implementation passes.
"""

from __future__ import annotations

from typing import Any, Protocol

from stations.storage.importing import ImportPlan
from stations.storage.snapshot import Changes, StorePosition

#: A GeoJSON Feature as JSON: ``{"type": "Feature", "id", "geometry", "properties"}``.
Feature = dict[str, Any]


class Store(Protocol):
    """Stations, validated on every write, with a history readers can follow.

    Every write validates as loading does (`storage.loading.check_written_feature`: a Feature
    is exactly type, id, geometry and properties, every value bounded) and raises
    `InvalidInput` storing nothing if a feature is invalid; what a write returns is the
    feature as stored, as every reader will load it. Writes naming an unknown id raise
    `StationNotFound`; an unreadable store, or stored data that fails validation, raises
    `DataError`. ``actor`` names the writer in the audit log, and becomes ``surveyed_by`` when
    a write changes a station's survey (`storage.survey.stamp_surveyor`, under the write lock).

    ``if_match`` (replace, patch, delete): the version the write is based on
    (`storage.revision.station_version`, what the API's ETag carries) or ``"*"``; checked under
    the write lock (`storage.revision.check_if_match`), `PreconditionFailed` if the station has
    changed since. None: no check.
    """

    def version(self) -> str:
        """A token that changes whenever the data changes."""
        ...

    def snapshot(self) -> tuple[Feature, StorePosition]:
        """The stations as a FeatureCollection, and the position they were read at."""
        ...

    def changes(self, since: StorePosition) -> Changes[Any] | None:
        """The writes made since ``since``; None if they cannot be told (read `snapshot`)."""
        ...

    def create(self, feature: Feature, actor: str) -> Feature:
        """Add a station; `Conflict` if its id exists."""
        ...

    def replace(
        self, station_id: str, feature: Feature, actor: str, if_match: str | None = None
    ) -> Feature:
        """Replace a station entirely (its id cannot change)."""
        ...

    def patch(
        self, station_id: str, changes: Feature, actor: str, if_match: str | None = None
    ) -> Feature:
        """Merge ``changes`` (``properties`` and/or ``geometry``) into a station."""
        ...

    def delete(
        self, station_id: str, actor: str, purge: bool = False, if_match: str | None = None
    ) -> Feature | None:
        """Mark a station closed (kept, with history), or remove it with ``purge`` (None)."""
        ...

    def history(self, station_id: str, limit: int = 50) -> list[dict[str, Any]]:
        """The station's last ``limit`` changes (from the audit log), newest first.

        Each is ``{"at", "actor", "action", "before", "after"}``: ``at`` ISO 8601 UTC, ``before``
        and ``after`` the features (null if the log does not hold them, as for a bulk import).
        """
        ...

    def plan_import(self, features: list[Feature], update: bool = False) -> ImportPlan:
        """What `import_features` would do now, per station: a dry run that writes nothing."""
        ...

    def import_features(
        self, features: list[Feature], actor: str, update: bool = False
    ) -> ImportPlan:
        """Add many stations at once (created, changed, unchanged: see `storage.importing`).

        With ``update``, stations whose id exists and differ are replaced; without it such a
        station raises `Conflict` and nothing is written. Unchanged stations are not written.
        """
        ...

    def compact(self, idle_s: float | None = None) -> int:
        """Fold the history into the stored data; return how many writes it held (0: none).

        With ``idle_s``, only if nobody has written for that many seconds.
        """
        ...

    def loop_version(self) -> str:
        """The loop's version: a strong HTTP entity tag that changes whenever the loop does."""
        ...

    def replace_loop(self, feature: Feature, actor: str, if_version: str | None = None) -> Feature:
        """Replace the loop with ``feature`` (a LineString ring), validated, audited, atomically.

        With ``if_version``, only if the loop still has that `loop_version`
        (`PreconditionFailed` otherwise). Every reader serves the new loop from its next read.
        """
        ...
