"""Planners' commands: a standalone map, coverage of the loop, suggested sites, a driven loop."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from stations import query
from stations.catalog import Catalog
from stations.cli.common import (
    AsJson,
    LoopPath,
    StationsPath,
    err,
    format_distance,
    km_text,
    out,
    print_json,
    settings_for,
)
from stations.coords import CRS
from stations.errors import StationsError
from stations.loop_import import compare, loop_from_track
from stations.planning.demand import read_demand
from stations.planning.sites import coverage_report, suggest
from stations.storage.exchange import write_features
from stations.storage.store import open_store, store_label
from stations.web.i18n import LANGS
from stations.web.tiles import tile_source

TilesOption = Annotated[
    str | None,
    typer.Option(
        help="Base map: osm, amap (GCJ-02: overlays shifted to match), tianditu (needs "
        "STATIONS_TIANDITU_KEY), none, or a URL template with {z}/{x}/{y}. "
        "Default: STATIONS_TILES or osm."
    ),
]


def map_command(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="HTML file to write (assets inlined).")
    ] = Path("maps/loop178.html"),
    tiles: TilesOption = None,
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
        int, typer.Option(help="Suggested sites on the planning map.", min=1, max=100)
    ] = 3,
    stations: StationsPath = None,
    loop: LoopPath = None,
) -> None:
    """Write a standalone map (loop, km marks, coverage, stations) that works with no CDN."""
    # Imported here: folium takes longer to import than every other command needs to start.
    from stations.web.maps import MapOptions
    from stations.web.standalone import write_map

    settings = settings_for(stations, loop)
    if lang not in LANGS:
        raise StationsError(f"--lang must be one of {', '.join(LANGS)}; got {lang!r}")
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
    try:
        written = write_map(
            catalog,
            output,
            options,
            [settings.stations_path, settings.loop_path],
            query.QueryContext(tz=settings.timezone),
        )
    except OSError as exc:
        raise StationsError(f"cannot write {output}: {exc.strerror or exc}") from None
    size = written.stat().st_size
    out.print(
        f"wrote {written} ({size / 1024:.0f} kB, {len(catalog.located)} stations, "
        f"tiles {source.name}, {lang})",
        highlight=False,
    )


def _export(collection: dict[str, Any], path: Path | None, layer: str) -> None:
    """Write ``collection`` to ``path`` (when given) and say so on stderr."""
    if path is None:
        return
    written = write_features(collection, path, layer)
    err.print(f"wrote {written} ({len(collection['features'])} features)", highlight=False)


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
    catalog = Catalog.from_settings(settings_for(stations, loop))
    report = coverage_report(catalog, radius_km * 1000.0, include_planned)
    _export(report["gaps"], output, "gaps")
    if as_json:
        print_json(report)
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


def suggest_command(
    count: Annotated[int, typer.Option(help="How many new sites.", min=1, max=1000)],
    radius_km: Annotated[
        float | None,
        typer.Option(
            help="Service distance (km): reported as coverage; needed with --demand.", min=0.001
        ),
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
    radius_m = radius_km * 1000.0 if radius_km is not None else None
    catalog = Catalog.from_settings(settings_for(stations, loop))
    points = read_demand(demand, demand_crs) if demand is not None else None
    with err.status("solving…"):
        result = suggest(catalog, count, radius_m, points, include_planned)
    _export(result, output, "suggested_sites")
    if as_json:
        print_json(result)
        return
    out.print(f"{result['method']} — {result['solver']}", highlight=False)
    # The off-loop (spopt) answer has no ring objective, only demand figures.
    objective = result.get("objective")
    if objective:
        before, after = objective["before"], objective["after"]
        line = (
            f"farthest loop point from a station: {km_text(before['max_distance_m'])} -> "
            f"{km_text(after['max_distance_m'])}"
        )
        if radius_km is not None:
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
    _print_sites(result["features"])


def _print_sites(features: list[dict[str, Any]]) -> None:
    table = Table(title="Suggested sites / 建议新站点")
    for col in ("#", "km", "lon", "lat", "nearest town"):
        table.add_column(col)
    for f in features:
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


def _print_loop_preview(name: str, diff: dict[str, Any]) -> None:
    """The preview of a new loop as the office page shows it: lengths, every station's marks."""
    old, new = diff["old"], diff["new"]
    official = (new["official_length_m"] or 0) / 1000
    was = f" (was {old['geometric_length_m'] / 1000:.1f} km)" if old else ""
    out.print(
        f"{name}: {new['track_points']} points -> {new['vertices']} vertices, "
        f"{new['geometric_length_m'] / 1000:.1f} km{was}",
        highlight=False,
    )
    if new["official_length_m"] and new["km_scale"] != 1:
        out.print(
            f"km marks are on the official {official:g} km loop (x {new['km_scale']:.3f}), "
            "as signs give them",
            highlight=False,
        )
    table = Table(title="Stations re-snapped to the new loop / 站点重新定位到环线")
    for col in ("old km", "new km", "moved", "off route", "", "id"):
        table.add_column(col)
    for r in diff["stations"]:
        table.add_row(
            "—" if r["old_km"] is None else f"{r['old_km']:.1f}",
            "—" if r["new_km"] is None else f"{r['new_km']:.1f}",
            "—" if r["moved_km"] is None else f"{r['moved_km']:+.1f}",
            "—" if r["new_offroute_m"] is None else format_distance(r["new_offroute_m"]),
            r["change"] or "",
            r["id"],
        )
    out.print(table)
    out.print(
        f"{diff['changed']} station(s) moved more than {diff['flag_km']:g} km, or joined or left "
        "the loop",
        highlight=False,
    )


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
    actor: Annotated[str, typer.Option(help="Name for the audit log.")] = "cli",
) -> None:
    """Replace the schematic loop with a recorded GPS track (validated, simplified)."""
    settings = settings_for(stations, loop)
    new = loop_from_track(settings, track, max_gap_m=max_gap_m, tolerance_m=tolerance_m)
    diff = compare(Catalog.from_settings(settings), new)  # the office page's preview
    _print_loop_preview(track.name, diff)
    if dry_run:
        out.print("dry run: nothing written", highlight=False)
        return
    open_store(settings).replace_loop(new.feature, actor)
    where = (
        f"stored the loop in {store_label(settings)} (the old ones are kept there)"
        if settings.database_url
        else f"wrote {settings.loop_path} (the old one is in .backups/)"
    )
    out.print(f"{where}; regenerate the map with `stations map`", highlight=False)
