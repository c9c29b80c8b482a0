"""The ``stations`` command line: thin commands over the same functions the API uses."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from stations import query
from stations.catalog import Catalog
from stations.coords import CRS
from stations.errors import DataError, StationsError
from stations.loop import parse_loop
from stations.models import KIND_LABELS, Amenity, Kind
from stations.settings import Settings
from stations.storage.loading import (
    COMPACTED,
    journal_state,
    load_stations,
    parse_stations,
    read_document,
    read_json,
)

if TYPE_CHECKING:
    from stations.storage.store import GeoJSONStore

app = typer.Typer(
    help="Trade-union rest stations (工会驿站) on Nanchuan's 178 loop: query, check, serve.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

StationsPath = Annotated[
    Path | None,
    typer.Option(
        "--stations", help="Stations GeoJSON (default: bundled geodata/stations.geojson)."
    ),
]
LoopPath = Annotated[
    Path | None,
    typer.Option("--loop", help="Loop GeoJSON (default: bundled geodata/loop178.geojson)."),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]

COMPASS = [
    ("N", "北"),
    ("NE", "东北"),
    ("E", "东"),
    ("SE", "东南"),
    ("S", "南"),
    ("SW", "西南"),
    ("W", "西"),
    ("NW", "西北"),
]


def _settings(stations: Path | None, loop: Path | None) -> Settings:
    settings = Settings()
    if stations is not None:
        settings.stations_path = stations
    if loop is not None:
        settings.loop_path = loop
    return settings


def _fail(exc: StationsError) -> typer.Exit:
    if isinstance(exc, DataError):
        err.print(f"[red]error:[/red] {exc.path}:", highlight=False, markup=True)
        for problem in exc.problems:
            err.print(f"  - {problem}", highlight=False, markup=False)
    else:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
    return typer.Exit(code=1)


def _print_json(data: Any) -> None:
    # numpy scalars (positions found by the planning algorithms) as the API writes them
    option = orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY
    sys.stdout.write(orjson.dumps(data, option=option).decode() + "\n")


def format_distance(metres: float) -> str:
    """Metres as '850 m' or '8.3 km'."""
    return f"{metres:.0f} m" if metres < 1000 else f"{metres / 1000:.1f} km"


def compass(bearing: float) -> str:
    """Bearing as an 8-point compass direction, English and Chinese."""
    en, zh = COMPASS[int(((bearing % 360) + 22.5) // 45) % 8]
    return f"{en} {zh}"


@app.command("nearest")
def nearest_command(
    lon: Annotated[float, typer.Option(help="Longitude in degrees (east positive).")],
    lat: Annotated[float, typer.Option(help="Latitude in degrees (north positive).")],
    k: Annotated[int, typer.Option("--k", "-k", help="How many stations.")] = 3,
    by: Annotated[
        query.By, typer.Option(help="straight: geodesic; loop: along the 178 loop.")
    ] = query.By.STRAIGHT,
    crs: Annotated[
        CRS, typer.Option(help="Coordinates given (and printed) in wgs84, gcj02 (Amap) or bd09.")
    ] = CRS.WGS84,
    kind: Annotated[list[Kind] | None, typer.Option(help="Only these kinds (repeatable).")] = None,
    amenity: Annotated[
        list[Amenity] | None, typer.Option(help="Only stations with all of these (repeatable).")
    ] = None,
    open_now: Annotated[
        bool, typer.Option("--open-now", help="Drop stations known to be closed now.")
    ] = False,
    max_distance_m: Annotated[
        float | None, typer.Option(help="Leave out stations farther than this (metres).")
    ] = None,
    as_json: AsJson = False,
    stations: StationsPath = None,
    loop: LoopPath = None,
) -> None:
    """Which stations are nearest to a point: distance, direction, km mark, open now."""
    settings = _settings(stations, loop)
    try:
        catalog = Catalog.from_settings(settings)
        result = query.nearest(
            catalog,
            lon,
            lat,
            k=k,
            by=by,
            crs=crs,
            filters=query.Filters(kinds=kind or (), amenities=amenity or (), open_now=open_now),
            max_distance_m=max_distance_m,
            max_k=settings.max_k,
            ctx=query.QueryContext(tz=settings.timezone),
        )
    except StationsError as exc:
        raise _fail(exc) from None
    if as_json:
        _print_json(result)
        return
    _print_nearest_table(result, by)


def _print_nearest_table(result: dict[str, Any], by: query.By) -> None:
    if not result["features"]:
        out.print("No station matches. / 没有符合条件的站点。")
        return
    table = Table(title="Nearest stations / 最近的站点")
    for col in ("#", "station / 站点", "distance", "direction", "km", "open now"):
        table.add_column(col)
    if by is query.By.LOOP:
        table.add_column("along loop")
    for i, feat in enumerate(result["features"], 1):
        p = feat["properties"]
        open_text = {True: "yes 开放", False: "no 关闭", None: "unknown 未知"}[p["open_now"]]
        row = [
            str(i),
            f"{p['name']}\n{p.get('name_en') or ''}",
            format_distance(p["distance_m"]),
            compass(p["bearing_deg"]),
            "" if p["loop_km"] is None else f"{p['loop_km']:.1f}",
            open_text,
        ]
        if by is query.By.LOOP:
            row.append(f"{format_distance(p['loop_distance_m'])} {p['direction']}")
        table.add_row(*row)
    out.print(table)
    cal = result.get("loop_calibration")
    if cal:
        basis = (
            f"calibrated to the official {cal['official_length_m'] / 1000:.0f} km "
            f"(x{cal['scale']:.3f} of the {cal['accuracy']} line)"
            if cal["basis"] == "official_length"
            else "measured on the stored line"
        )
        out.print(f"km marks and along-loop distances: {basis}.", highlight=False)


def _validate_one(path: Path) -> tuple[str, list[str]]:
    doc = read_json(path)
    is_loop = isinstance(doc, dict) and (
        (doc.get("type") == "Feature")
        or any(
            isinstance(f, dict)
            and isinstance(f.get("geometry"), dict)
            and f["geometry"].get("type") == "LineString"
            for f in (doc.get("features") or [])
        )
    )
    if is_loop:
        loop = parse_loop(doc, str(path))
        official = loop.official_length_m
        return (
            f"{path}: loop OK, {loop.length_m / 1000:.1f} km as drawn"
            + (f", official {official / 1000:.0f} km" if official else ""),
            [],
        )
    parsed = load_stations(path)
    kinds: dict[str, int] = {}
    for s in parsed.stations:
        kinds[s.props.kind.value] = kinds.get(s.props.kind.value, 0) + 1
    summary = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    unlocated = sum(not s.located for s in parsed.stations)
    return (
        f"{path}: {len(parsed.stations)} stations OK ({summary}; {unlocated} without position)",
        parsed.warnings,
    )


@app.command("validate")
def validate_command(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="GeoJSON files to check (default: the bundled stations and loop)."),
    ] = None,
) -> None:
    """Check station and loop files: exit 0 with a summary, or 1 listing every problem."""
    settings = Settings()
    targets = paths or [settings.stations_path, settings.loop_path]
    failed = False
    for path in targets:
        try:
            summary, warnings = _validate_one(path)
        except DataError as exc:
            failed = True
            _fail(exc)
            continue
        out.print(summary, highlight=False)
        for warning in warnings:
            err.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
    if failed:
        raise typer.Exit(code=1)


def info_data(catalog: Catalog) -> dict[str, Any]:
    """Counts by kind, loop lengths and every station's km mark (shared with the API)."""
    loop = catalog.loop
    rows = []
    for s in catalog.all:
        place = catalog.loop_places.get(s.id)
        rows.append(
            {
                "id": s.id,
                "name": s.props.name,
                "kind": s.props.kind.value,
                "status": s.props.status.value,
                "position_accuracy": s.props.position_accuracy.value,
                "loop_km": round(place.loop_km, 3) if place else None,
                "offroute_m": round(place.snap.offroute_m, 1) if place else None,
            }
        )
    rows.sort(key=lambda r: (r["loop_km"] is None, r["loop_km"] or 0.0, r["id"]))
    return {
        "stations": catalog.count,
        "by_kind": catalog.counts_by_kind(),
        "loop": None
        if loop is None
        else {
            "name": loop.properties.get("name"),
            "geometric_length_m": round(loop.length_m, 1),
            "official_length_m": loop.official_length_m,
            "calibration": loop.calibration(),
        },
        "station_marks": rows,
        "warnings": catalog.warnings,
    }


@app.command("info")
def info_command(
    as_json: AsJson = False, stations: StationsPath = None, loop: LoopPath = None
) -> None:
    """Counts by kind, loop length (as drawn and official), each station's km mark."""
    try:
        data = info_data(Catalog.from_settings(_settings(stations, loop)))
    except StationsError as exc:
        raise _fail(exc) from None
    if as_json:
        _print_json(data)
        return
    out.print(f"{data['stations']} stations:", highlight=False)
    for kind, n in sorted(data["by_kind"].items()):
        zh, en = KIND_LABELS[Kind(kind)]
        out.print(f"  {n:>4}  {zh} {en} ({kind})", highlight=False)
    if data["loop"]:
        lp = data["loop"]
        out.print(
            f"Loop {lp['name']}: {lp['geometric_length_m']:.0f} m as drawn "
            f"({lp['calibration']['accuracy']}), official {lp['official_length_m']:.0f} m; "
            f"km marks {lp['calibration']['basis'].replace('_', ' ')} "
            f"(scale {lp['calibration']['scale']:.3f})",
            highlight=False,
        )
    table = Table(title="Stations along the loop / 环线站点")
    for col in ("km", "off route", "id", "name", "position"):
        table.add_column(col)
    for r in data["station_marks"]:
        table.add_row(
            "—" if r["loop_km"] is None else f"{r['loop_km']:.1f}",
            "—" if r["offroute_m"] is None else format_distance(r["offroute_m"]),
            r["id"],
            r["name"],
            r["position_accuracy"],
        )
    out.print(table)


@app.command("map")
def map_command(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="HTML file to write (assets inlined).")
    ] = Path("maps/loop178.html"),
    tiles: Annotated[
        str | None,
        typer.Option(
            help="Base map: osm, amap (GCJ-02: overlays shifted to match), tianditu (needs "
            "STATIONS_TIANDITU_KEY), none, or a URL template with {z}/{x}/{y}. "
            "Default: STATIONS_TILES or osm."
        ),
    ] = None,
    lang: Annotated[str, typer.Option(help="Language of the map's texts: zh or en.")] = "zh",
    coverage_km: Annotated[
        float | None,
        typer.Option(help="Service distance of the coverage layer (km along the loop).", min=0.1),
    ] = None,
    planning: Annotated[
        bool,
        typer.Option(
            "--planning", help="The planning map: uncovered stretches in red, suggested sites."
        ),
    ] = False,
    count: Annotated[
        int, typer.Option(help="Suggested sites on the planning map.", min=0, max=100)
    ] = 3,
    stations: StationsPath = None,
    loop: LoopPath = None,
) -> None:
    """Write a standalone map (loop, km marks, coverage, stations) that works with no CDN."""
    from stations.web.i18n import LANGS
    from stations.web.maps import MapOptions, write_map
    from stations.web.tiles import tile_source

    settings = _settings(stations, loop)
    if lang not in LANGS:
        raise _fail(StationsError(f"--lang must be one of {', '.join(LANGS)}; got {lang!r}"))
    try:
        source = tile_source(
            tiles or settings.tiles,
            tianditu_key=settings.tianditu_key,
            attribution=settings.tiles_attribution,
            crs=settings.tiles_crs,
        )
        catalog = Catalog.from_settings(settings)
        options = MapOptions(
            lang=lang,
            tiles=source,
            coverage_km=coverage_km or settings.coverage_km,
            planning_count=count if planning else None,
        )
        written = write_map(
            catalog,
            output,
            options,
            [settings.stations_path, settings.loop_path],
            query.QueryContext(tz=settings.timezone),
        )
    except StationsError as exc:
        raise _fail(exc) from None
    except OSError as exc:
        raise _fail(StationsError(f"cannot write {output}: {exc.strerror or exc}")) from None
    size = written.stat().st_size
    out.print(
        f"wrote {written} ({size / 1024:.0f} kB, {len(catalog.located)} stations, "
        f"tiles {source.name}, {lang})",
        highlight=False,
    )


def _export(collection: dict[str, Any], path: Path | None, layer: str) -> None:
    if path is None:
        return
    from stations.storage.exchange import write_features

    written = write_features(collection, path, layer)
    err.print(f"wrote {written} ({len(collection['features'])} features)", highlight=False)


@app.command("coverage")
def coverage_command(
    radius_km: Annotated[
        float, typer.Option(help="Service distance along the road (km).", min=0.001)
    ],
    include_planned: Annotated[
        bool, typer.Option("--include-planned", help="Count planned stations too.")
    ] = False,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the gaps to FILE.geojson or FILE.gpkg."),
    ] = None,
    as_json: AsJson = False,
    stations: StationsPath = None,
    loop: LoopPath = None,
) -> None:
    """Which stretches of the loop are farther than R (by road) from any station."""
    from stations.planning.sites import coverage_report

    try:
        catalog = Catalog.from_settings(_settings(stations, loop))
        report = coverage_report(catalog, radius_km * 1000.0, include_planned)
        _export(report["gaps"], output, "gaps")
    except StationsError as exc:
        raise _fail(exc) from None
    if as_json:
        _print_json(report)
        return
    out.print(
        f"Within {radius_km:g} km by road of one of {report['stations_counted']} stations "
        f"({', '.join(report['statuses'])}): {report['covered_fraction']:.1%} of the loop. "
        f"Largest gap {report['max_gap_m'] / 1000:.1f} km; farthest point "
        f"{(report['max_distance_m'] or 0) / 1000:.1f} km from a station. "
        + (
            f"{report['min_new_stations_to_cover']} new station(s) would cover it all."
            if report["min_new_stations_to_cover"] is not None
            else "Covering it all would take more than 10,000 new stations."
        ),
        highlight=False,
    )
    table = Table(title=f"Uncovered stretches at {radius_km:g} km / 未覆盖路段")
    for col in ("from km", "to km", "length"):
        table.add_column(col, justify="right")
    for f in report["gaps"]["features"]:
        p = f["properties"]
        table.add_row(f"{p['from_km']:.1f}", f"{p['to_km']:.1f}", format_distance(p["length_m"]))
    out.print(table)


@app.command("suggest")
def suggest_command(
    count: Annotated[int, typer.Option(help="How many new sites.", min=0, max=1000)],
    radius_km: Annotated[
        float | None,
        typer.Option(help="Service distance (km): reported as coverage; needed with --demand."),
    ] = None,
    demand: Annotated[
        Path | None,
        typer.Option(help="Demand points: CSV (lon,lat[,weight]) or GeoJSON Points."),
    ] = None,
    demand_crs: Annotated[
        CRS, typer.Option(help="Datum of the demand file: wgs84, gcj02 or bd09.")
    ] = CRS.WGS84,
    include_planned: Annotated[
        bool, typer.Option("--include-planned", help="Count planned stations as existing.")
    ] = False,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the sites to FILE.geojson or FILE.gpkg."),
    ] = None,
    as_json: AsJson = False,
    stations: StationsPath = None,
    loop: LoopPath = None,
) -> None:
    """Where the next N stations should go (exact p-center, or maximal covering of demand)."""
    from stations.planning.demand import read_demand
    from stations.planning.sites import suggest

    radius_m = radius_km * 1000.0 if radius_km is not None else None
    try:
        catalog = Catalog.from_settings(_settings(stations, loop))
        points = read_demand(demand, demand_crs) if demand is not None else None
        with err.status("solving…"):
            result = suggest(catalog, count, radius_m, points, include_planned)
        _export(result, output, "suggested_sites")
    except StationsError as exc:
        raise _fail(exc) from None
    if as_json:
        _print_json(result)
        return
    # The off-loop (spopt) answer has no ring objective, only demand figures.
    objective = result.get("objective") or {}
    before, after = objective.get("before"), objective.get("after")
    out.print(f"{result['method']} — {result['solver']}", highlight=False)
    if before and after:
        line = (
            f"farthest loop point from a station: {_km_text(before['max_distance_m'])} -> "
            f"{_km_text(after['max_distance_m'])}"
        )
        if radius_m is not None:
            line += (
                f"; within {radius_km:g} km: {before['covered_fraction']:.1%} -> "
                f"{after['covered_fraction']:.1%}"
            )
        out.print(line, highlight=False)
    if "demand" in result:
        d = result["demand"]
        out.print(
            f"demand within reach: {d['covered_before']:g} -> {d['covered_after']:g} of "
            f"{d['total_weight']:g}",
            highlight=False,
        )
    table = Table(title="Suggested sites / 建议新站点")
    for col in ("#", "km", "lon", "lat", "nearest town"):
        table.add_column(col)
    for f in result["features"]:
        p = f["properties"]
        town = p.get("nearest_town") or {}
        table.add_row(
            str(p["rank"]),
            f"{p['loop_km']:.1f}",
            f"{p['lon']:.5f}",
            f"{p['lat']:.5f}",
            f"{town.get('name', '—')} ({format_distance(town['distance_m'])})" if town else "—",
        )
    out.print(table)


def _km_text(metres: float | None) -> str:
    return "∞" if metres is None else f"{metres / 1000:.2f} km"


loop_app = typer.Typer(help="The loop itself: import a driven GPS track.", no_args_is_help=True)
app.add_typer(loop_app, name="loop")


@loop_app.command("import")
def loop_import_command(
    track: Annotated[Path, typer.Argument(help="GPX file of the loop, driven once round.")],
    max_gap_m: Annotated[
        float, typer.Option(help="The track must end this close to its start (m).", min=1)
    ] = 500.0,
    tolerance_m: Annotated[float, typer.Option(help="Simplification tolerance (m).", min=0)] = 5.0,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check and report; write nothing.")
    ] = False,
    stations: StationsPath = None,
    loop: LoopPath = None,
) -> None:
    """Replace the schematic loop with a recorded GPS track (validated, simplified)."""
    from stations.loop import parse_loop
    from stations.storage.files import atomic_write_bytes
    from stations.storage.track import read_track, track_to_loop

    settings = _settings(stations, loop)
    try:
        previous = read_json(settings.loop_path) if settings.loop_path.exists() else {}
        if isinstance(previous, dict) and previous.get("type") == "FeatureCollection":
            previous = (previous.get("features") or [{}])[0]
        props = previous.get("properties", {}) if isinstance(previous, dict) else {}
        coords = read_track(track)
        feature = track_to_loop(
            coords, props, track.name, max_gap_m=max_gap_m, tolerance_m=tolerance_m
        )
        new_loop = parse_loop(feature, str(track), calibrate=settings.calibrate_loop)
        parsed = load_stations(settings.stations_path)
        catalog = Catalog(
            parsed.stations, new_loop, loop_max_offroute_m=settings.loop_max_offroute_m
        )
    except StationsError as exc:
        raise _fail(exc) from None
    out.print(
        f"{track.name}: {len(coords)} points -> {len(feature['geometry']['coordinates'])} "
        f"vertices, {new_loop.length_m / 1000:.1f} km (official "
        f"{(new_loop.official_length_m or 0) / 1000:.0f} km)",
        highlight=False,
    )
    table = Table(title="Stations re-snapped to the new loop / 站点重新定位到环线")
    for col in ("km", "off route", "id"):
        table.add_column(col)
    for r in info_data(catalog)["station_marks"]:
        table.add_row(
            "—" if r["loop_km"] is None else f"{r['loop_km']:.1f}",
            "—" if r["offroute_m"] is None else format_distance(r["offroute_m"]),
            r["id"],
        )
    out.print(table)
    if dry_run:
        out.print("dry run: nothing written", highlight=False)
        return
    body = orjson.dumps(
        {"type": "FeatureCollection", "features": [feature]}, option=orjson.OPT_INDENT_2
    )
    atomic_write_bytes(settings.loop_path, body + b"\n")
    out.print(
        f"wrote {settings.loop_path}; regenerate the map with `stations map`", highlight=False
    )


@app.command("import")
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
    """Import stations from a spreadsheet: every bad row reported; nothing written if any fails."""
    from stations.storage.tabular import read_rows, rows_to_features

    settings = _settings(stations, None)
    try:
        rows = read_rows(file)
        good, bad = rows_to_features(rows, crs)
    except StationsError as exc:
        raise _fail(exc) from None
    for _, message in bad.problems:
        err.print(f"  - {message}", highlight=False, markup=False)
    if bad.problems and not skip_bad:
        err.print(
            f"[red]error:[/red] {len(bad.problems)} of {len(rows)} rows are bad; nothing was "
            "imported (fix them, or --skip-bad to import the rest)",
            highlight=False,
        )
        raise typer.Exit(code=1)
    if dry_run:
        out.print(f"dry run: {len(good)} rows valid, {len(bad.problems)} bad", highlight=False)
        return
    try:
        created, updated = _store(settings).import_features([f for _, f in good], actor, update)
    except StationsError as exc:
        raise _fail(exc) from None
    out.print(
        f"imported into {settings.stations_path}: {len(created)} created, {len(updated)} "
        f"updated, {len(bad.problems)} bad rows skipped",
        highlight=False,
    )


@app.command("export")
def export_command(
    file: Annotated[Path, typer.Argument(help="FILE.csv, .xlsx, .geojson or .gpkg")],
    crs: Annotated[CRS, typer.Option(help="Datum of lon/lat in CSV/XLSX.")] = CRS.WGS84,
    stations: StationsPath = None,
) -> None:
    """Export the stations for a spreadsheet or a GIS (the import's column layout)."""
    from stations.storage.exchange import write_features
    from stations.storage.files import atomic_write_bytes
    from stations.storage.tabular import feature_to_row, write_rows

    settings = _settings(stations, None)
    suffix = file.suffix.lower()
    try:
        doc, _ = read_document(settings.stations_path)  # with the writes still in the journal
        parse_stations(doc, str(settings.stations_path))  # only valid data leaves
        doc = {k: v for k, v in doc.items() if k != COMPACTED}
        if suffix in (".csv", ".xlsx"):
            write_rows([feature_to_row(f, crs) for f in doc["features"]], file)
        elif suffix == ".geojson":
            atomic_write_bytes(file, orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
        elif suffix == ".gpkg":
            located = {**doc, "features": [f for f in doc["features"] if f.get("geometry")]}
            write_features(located, file, "stations")
        else:
            raise StationsError(f"export to .csv, .xlsx, .geojson or .gpkg; got {file.name!r}")
    except StationsError as exc:
        raise _fail(exc) from None
    out.print(f"wrote {file} ({len(doc['features'])} stations)", highlight=False)


def _store(settings: Settings) -> GeoJSONStore:
    from stations.storage.store import GeoJSONStore

    return GeoJSONStore.for_settings(settings)


@app.command("compact")
def compact_command(
    stations: StationsPath = None,
    if_idle: Annotated[
        float | None,
        typer.Option(help="Only if nothing was written for this many seconds (the API's use)."),
    ] = None,
) -> None:
    """Fold the write journal into the stations file (the API does this when writes pause)."""
    settings = _settings(stations, None)
    try:
        folded = _store(settings).compact(if_idle)
    except StationsError as exc:
        raise _fail(exc) from None
    if folded:
        out.print(f"folded {folded} journal lines into {settings.stations_path}", highlight=False)
    elif if_idle is None:
        out.print(f"{settings.stations_path}: no journal to fold", highlight=False)


@app.command("serve")
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
) -> None:
    """Run the HTTP API (uvicorn) on the bundled data or the given files."""
    import uvicorn

    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "proxy_headers": True,
        "access_log": access_log,
        "log_level": log_level,
    }
    settings = _settings(stations, loop)
    if journal_state(settings.stations_path) is not None:
        # Start from a whole file: writes left in the journal (a crash, a kill) are folded in.
        with contextlib.suppress(DataError):  # the load below names every problem
            _store(settings).compact()
    if workers == 1:  # load once, here: a bad file is one clear line, not a traceback
        from stations.api import create_app

        try:
            catalog = load_checked(settings)
        except StationsError as exc:
            raise _fail(exc) from None
        uvicorn.run(create_app(settings, catalog), **options)
        return
    # Each worker loads its own copy; check the files first in a short-lived process so that
    # the parent, which only supervises, does not keep a copy of a national file in memory.
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        problem = pool.submit(check_data, settings).result()
    if problem is not None:
        raise _fail(problem)
    # Workers are separate processes that build their own app: hand them the paths by env,
    # for as long as they run.
    env = {
        "STATIONS_STATIONS_PATH": settings.stations_path,
        "STATIONS_LOOP_PATH": settings.loop_path,
    }
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update({name: str(path.resolve()) for name, path in env.items()})
    try:
        # uvicorn restarts a worker that does not answer its health check in time (5 s by
        # default); a worker parsing a national file can hold the GIL that long.
        uvicorn.run(
            "stations.api.app:create_app",
            factory=True,
            workers=workers,
            timeout_worker_healthcheck=worker_timeout,
            **options,
        )
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def load_checked(settings: Settings) -> Catalog:
    """Load the data to serve; a broken stations file is refused, naming its last backup."""
    from stations.storage.store import with_backup_hint

    try:
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


def main() -> None:
    """Entry point of the ``stations`` console script."""
    app()
