"""Commands on the data files: check them, import and export stations, fold the journal, serve."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Annotated, Any

import typer

from stations.catalog import Catalog
from stations.cli.common import (
    LoopPath,
    StationsPath,
    err,
    out,
    print_error,
    settings_for,
)
from stations.cli.db import WaitForDb, wait_for_database
from stations.coords import CRS
from stations.errors import DataError, StationsError
from stations.loop import load_loop
from stations.replica_start import load_catalog
from stations.settings import Settings
from stations.storage import columns as column_file
from stations.storage.checks import check_file
from stations.storage.exchange import export_document
from stations.storage.snapshot import journal_state
from stations.storage.store import (
    open_store,
    store_label,
    stored_document,
    with_backup_hint,
)
from stations.storage.tabular import read_rows, rows_to_features


def validate_command(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="GeoJSON files to check (default: the stations and loop files)."),
    ] = None,
    stations: StationsPath = None,
    loop: LoopPath = None,
) -> None:
    """Check station and loop files: exit 0 with a summary, or 1 listing every problem."""
    settings = settings_for(stations, loop)
    given = [p for p in (stations, loop) if p is not None]
    targets = [*paths, *given] if paths else [settings.stations_path, settings.loop_path]
    failed = False
    for path in targets:
        try:
            checked = check_file(path)
        except DataError as exc:  # report it, and go on with the next file
            failed = True
            print_error(exc)
            continue
        out.print(checked.summary, highlight=False)
        for warning in checked.warnings:
            err.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
    if failed:
        raise typer.Exit(code=1)


def import_command(
    file: Annotated[Path, typer.Argument(help="CSV or XLSX, English or Chinese headers.")],
    crs: Annotated[
        CRS, typer.Option(help="Datum of the lon/lat columns (Amap: gcj02, Baidu: bd09).")
    ] = CRS.WGS84,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check only; write nothing.")] = False,
    update: Annotated[
        bool, typer.Option("--update", help="Replace stations whose id exists.")
    ] = False,
    skip_bad: Annotated[
        bool, typer.Option("--skip-bad", help="Import the good rows even if some are bad.")
    ] = False,
    actor: Annotated[str, typer.Option(help="Name for the audit log.")] = "cli",
    stations: StationsPath = None,
) -> None:
    """Import stations from a spreadsheet: each row created, changed, unchanged or refused."""
    settings = settings_for(stations, None)
    rows = read_rows(file)
    good, bad = rows_to_features(rows, crs)
    store = open_store(settings)
    plan = store.plan_import([f for _, f in good], update)
    row_of = {f["properties"]["id"]: n for n, f in good}
    for _, message in bad.problems:
        err.print(f"  refused: {message}", highlight=False, markup=False)
    for sid, why in plan.refused:
        err.print(f"  row {row_of[sid]}: refused: {sid}: {why}", highlight=False, markup=False)
    for label, ids in (("created", plan.created), ("changed", plan.changed)):
        for sid in ids:
            out.print(f"  row {row_of[sid]}: {label}: {sid}", highlight=False, markup=False)
    refused = len(bad.problems) + len(plan.refused)
    counts = (
        f"{len(plan.created)} created, {len(plan.changed)} changed, "
        f"{len(plan.unchanged)} unchanged, {refused} refused"
    )
    if refused and not skip_bad:
        err.print(
            f"[red]error:[/red] {counts}; nothing was imported (fix the refused rows, or "
            "--skip-bad to import the rest)",
            highlight=False,
        )
        raise typer.Exit(code=1)
    if dry_run:
        out.print(f"dry run: {counts}; nothing was written", highlight=False)
        return
    refused_ids = {sid for sid, _ in plan.refused}
    keep = [f for _, f in good if f["properties"]["id"] not in refused_ids]
    store.import_features(keep, actor, update)
    out.print(f"imported into {store_label(settings)}: {counts}", highlight=False)


def export_command(
    file: Annotated[Path, typer.Argument(help="FILE.csv, .xlsx, .geojson or .gpkg")],
    crs: Annotated[CRS, typer.Option(help="Datum of lon/lat in CSV/XLSX.")] = CRS.WGS84,
    stations: StationsPath = None,
) -> None:
    """Export the stations for a spreadsheet or a GIS (the import's column layout)."""
    settings = settings_for(stations, None)
    if not file.parent.is_dir():  # a typo in a folder name is not a request to create it
        raise StationsError(f"cannot write {file}: the folder {file.parent} does not exist")
    written = export_document(stored_document(settings), file, crs)
    out.print(f"wrote {file} ({written} stations)", highlight=False)


def compact_command(
    stations: StationsPath = None,
    if_idle: Annotated[
        float | None,
        typer.Option(
            help="Only if nothing was written for this many seconds (the API's use).", min=0
        ),
    ] = None,
) -> None:
    """Fold the write journal into the stations file (the API does this when writes pause)."""
    settings = settings_for(stations, None)
    folded = open_store(settings).compact(if_idle)
    if folded:
        out.print(f"folded {folded} journal lines into {store_label(settings)}", highlight=False)
    elif if_idle is not None and (journal_state(settings.stations_path) or (0, 0))[1] > 0:
        out.print(
            f"{store_label(settings)}: written to in the last {if_idle:g} s; not folded yet",
            highlight=False,
        )
    else:
        out.print(f"{store_label(settings)}: no journal to fold", highlight=False)


def serve_command(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.", min=1, max=64)] = 1,
    access_log: Annotated[
        bool, typer.Option("--access-log/--no-access-log", help="Log every request.")
    ] = True,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    worker_timeout: Annotated[
        int,
        typer.Option(
            help="Seconds a worker may not answer the supervisor (loading a large file) "
            "before it is restarted.",
            min=1,
        ),
    ] = 120,
    stations: StationsPath = None,
    loop: LoopPath = None,
    wait_for_db: WaitForDb = 0,
) -> None:
    """Run the HTTP API (uvicorn) on the bundled data or the given files."""
    # The server and the web framework are imported here, only when needed: they take longer
    # to import than every other command needs to start (the supervisor of several workers
    # never imports the app).
    import uvicorn

    settings = settings_for(stations, loop)
    if settings.database_url:  # down: one line and exit 1, or wait for it with --wait-for-db
        wait_for_database(settings.database_url, wait_for_db)
    options = server_options(settings, host=host, port=port, log_level=log_level)
    options["access_log"] = access_log
    # Start from a whole file: writes left in the journal (a crash, a kill) are folded in, and
    # temp files a killed compaction left are removed.
    with contextlib.suppress(DataError):  # the load below names every problem
        open_store(settings).compact()
    if workers == 1:  # load once, here: a bad file is one clear line, not a traceback
        from stations.api import create_app

        uvicorn.run(create_app(settings, load_checked(settings)), **options)
        return
    # Each worker loads its own copy; check the files first in a short-lived process so that
    # the parent, which only supervises, does not keep a copy of a national file in memory.
    # A current column file was validated when written: then only the loop is read here.
    if column_file.load(settings.stations_path, 1) is not None:
        load_loop(settings.loop_path, calibrate=settings.calibrate_loop)
    else:
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            problem = pool.submit(check_data, settings).result()
        if problem is not None:
            raise problem
    with _paths_in_environment(settings):
        # uvicorn restarts a worker that does not answer its health check in time (5 s by
        # default); a worker parsing a national file can hold the GIL that long.
        uvicorn.run(
            "stations.api.app:create_app",
            factory=True,
            workers=workers,
            timeout_worker_healthcheck=worker_timeout,
            **options,
        )


def server_options(settings: Settings, **given: Any) -> dict[str, Any]:
    """The uvicorn options of `serve` (plus ``given``): the server's limits and proxy handling."""
    return {
        # uvicorn's httptools protocol with limits on request heads and slow clients
        # (stations.api.server), imported by name in each worker: the supervisor of several
        # workers never imports the app.
        "http": "stations.api.server:GuardedHttpProtocol",
        "timeout_keep_alive": settings.keep_alive_s,
        # Forwarded headers are read by the app, from STATIONS_TRUSTED_PROXIES only
        # (stations.api.proxies); uvicorn's own reading trusts 127.0.0.1.
        "proxy_headers": False,
        "ws": "none",  # no route speaks WebSocket: no upgrade is taken
        **given,
    }


@contextlib.contextmanager
def _paths_in_environment(settings: Settings) -> Iterator[None]:
    """The data paths in the environment while the block runs, for worker processes.

    Workers are separate processes that build their own app from the environment.
    """
    env = {
        "STATIONS_STATIONS_PATH": settings.stations_path,
        "STATIONS_LOOP_PATH": settings.loop_path,
    }
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update({name: str(path.resolve()) for name, path in env.items()})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def load_checked(settings: Settings) -> Catalog:
    """Load the data to serve; a broken stations file is refused, naming its last backup."""
    try:
        if settings.database_url:  # a replica's cache caught up, or the database (then cached)
            return load_catalog(settings)
        return Catalog.from_settings(settings)
    except DataError as exc:
        raise with_backup_hint(exc, settings.stations_path) from None


def check_data(settings: Settings) -> StationsError | None:
    """Load the data the settings name; return the error instead of raising (for a subprocess)."""
    try:
        load_checked(settings)
    except StationsError as exc:
        return exc
    return None
