"""``stations db``: the PostgreSQL store's schema, and moving stations between the two stores.

``upgrade`` applies the schema migrations the database lacks (`storage.postgres.schema`);
``import`` puts a GeoJSON stations file (its journal applied) into the database, keeping the
collection's own members, so that ``export`` to ``.geojson`` gives the same bytes back; ``export``
writes the database's stations in any format ``stations export`` writes. The loop moves too:
``import --loop FILE`` stores a loop file (and a database holding no loop yet is given the
configured one, ``STATIONS_LOOP_PATH``), ``export --loop FILE`` writes the database's loop as a
loop file. Each needs ``STATIONS_DATABASE_URL`` (or ``--database-url``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from stations.cli.common import out
from stations.coords import CRS
from stations.errors import InvalidInput, StationsError, StoreUnavailable
from stations.settings import Settings
from stations.storage.exchange import export_document
from stations.storage.files import atomic_write_bytes, read_json
from stations.storage.loading import FeatureCache, read_checked
from stations.storage.loopfile import encode_loop
from stations.storage.postgres import PostgresStore, schema
from stations.storage.postgres.connect import connect, redacted
from stations.storage.snapshot import COMPACTED
from stations.storage.store import stored_document

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="postgresql://user:password@host/db (default: STATIONS_DATABASE_URL).",
        show_default=False,
    ),
]
WaitForDb = Annotated[
    float,
    typer.Option(
        "--wait-for-db",
        help="Seconds to wait for the database to accept connections (0: fail at once).",
        min=0,
    ),
]


def database_settings(url: str | None) -> Settings:
    """The settings with the database URL given on the command line; refused if there is none."""
    settings = Settings()
    if url is not None:
        settings = settings.model_copy(update={"database_url": url})
    if not settings.database_url:
        raise InvalidInput(
            "no database: set STATIONS_DATABASE_URL=postgresql://user:password@host/db or pass "
            "--database-url"
        )
    return settings


def wait_for_database(url: str, wait_s: float) -> None:
    """Return once ``url`` accepts connections; `StoreUnavailable` after ``wait_s`` seconds."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            connect(url).close()
            return
        except StoreUnavailable:
            if time.monotonic() >= deadline:
                raise
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))


def upgrade_command(database_url: DatabaseUrl = None, wait_for_db: WaitForDb = 0) -> None:
    """Create or upgrade the database's tables (PostGIS included); running it again is harmless."""
    url = database_settings(database_url).database_url
    assert url is not None
    wait_for_database(url, wait_for_db)
    with connect(url) as conn:
        applied = schema.upgrade(conn)
    if applied:
        versions = ", ".join(str(v) for v in applied)
        out.print(f"{redacted(url)}: applied migrations {versions}", highlight=False)
    else:
        out.print(f"{redacted(url)}: up to date (version {schema.CURRENT})", highlight=False)


def import_command(
    file: Annotated[Path, typer.Argument(help="A stations GeoJSON file (its journal applied).")],
    update: Annotated[
        bool, typer.Option("--update", help="Replace stations whose id exists.")
    ] = False,
    actor: Annotated[str, typer.Option(help="Name for the audit log.")] = "cli",
    loop: Annotated[
        Path | None,
        typer.Option(
            "--loop",
            help="A loop file to store as the loop too (default: STATIONS_LOOP_PATH, only "
            "if the database holds no loop yet).",
            show_default=False,
        ),
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Import a GeoJSON stations file (and the loop) into the database, checked as every write."""
    settings = database_settings(database_url)
    url = settings.database_url
    assert url is not None
    cache = FeatureCache()  # the file's stations are validated once, not again on writing
    doc, _ = read_checked(file, cache)
    doc = {k: v for k, v in doc.items() if k != COMPACTED}
    plan = PostgresStore(url, cache).import_collection(doc, actor, update, keep_surveyors=True)
    out.print(
        f"imported {file} into {redacted(url)}: {len(plan.created)} created, "
        f"{len(plan.changed)} changed, {len(plan.unchanged)} unchanged",
        highlight=False,
    )
    store = PostgresStore(url, loop_path=settings.loop_path)
    if loop is None and (store.loop() is not None or not settings.loop_path.exists()):
        return
    source = loop or settings.loop_path
    store.replace_loop(_loop_in(source), actor)
    out.print(f"stored the loop of {source} in {redacted(url)}", highlight=False)


def _loop_in(path: Path) -> dict[str, Any]:
    """The loop Feature of a loop file (its one feature); the store checks it on writing."""
    doc = read_json(path)
    features = doc.get("features") if isinstance(doc, dict) else None
    if isinstance(features, list) and len(features) == 1 and isinstance(features[0], dict):
        return features[0]
    if isinstance(doc, dict) and doc.get("type") == "Feature":
        return doc
    raise InvalidInput(f"{path}: expected a loop file (a FeatureCollection of one LineString)")


def export_command(
    file: Annotated[Path, typer.Argument(help="FILE.geojson, .csv, .xlsx or .gpkg")],
    crs: Annotated[CRS, typer.Option(help="Datum of lon/lat in CSV/XLSX.")] = CRS.WGS84,
    loop: Annotated[
        Path | None,
        typer.Option(
            "--loop", help="Write the database's loop to this file too.", show_default=False
        ),
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Export the database's stations (``.geojson``: the file ``db import`` read, byte for byte)."""
    settings = database_settings(database_url)
    for target in (file, loop):
        if target is not None and not target.parent.is_dir():
            raise StationsError(f"cannot write {target}: the folder {target.parent} does not exist")
    written = export_document(stored_document(settings), file, crs)
    out.print(f"wrote {file} ({written} stations)", highlight=False)
    if loop is None:
        return
    assert settings.database_url is not None
    feature = PostgresStore(settings.database_url).loop()
    if feature is None:
        raise StationsError(
            f"{redacted(settings.database_url)} holds no loop (it serves the loop file "
            f"{settings.loop_path}): store one with `stations db import --loop`"
        )
    atomic_write_bytes(loop, encode_loop(feature))
    out.print(f"wrote {loop} (the loop)", highlight=False)
