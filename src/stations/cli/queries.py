"""Questions about the stations: the nearest ones to a point, and what the files hold."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from stations import query
from stations.catalog import Catalog
from stations.cli.common import (
    AsJson,
    LoopPath,
    StationsPath,
    compass,
    format_distance,
    narrow_table,
    out,
    print_json,
    settings_for,
)
from stations.coords import CRS
from stations.info import info_data
from stations.models import KIND_LABELS, Amenity, Kind


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
    settings = settings_for(stations, loop)
    result = query.nearest(
        Catalog.from_settings(settings),
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
    if as_json:
        print_json(result)
        return
    _print_nearest_table(result, by)


def _print_nearest_table(result: dict[str, Any], by: query.By) -> None:
    """The answer as a table that reads at 80 columns: names whole, wrapped, never cut."""
    if not result["features"]:
        out.print("No station matches. / 没有符合条件的站点。")
        return
    if result.get("note"):  # far from every station: said before the table, not after
        out.print(f"note: {result['note']}", highlight=False)
    table = narrow_table("Nearest stations / 最近的站点")
    table.add_column("#", justify="right")
    table.add_column("station / 站点", overflow="fold", ratio=1)
    for col in ("distance", "toward", "km", "open\nnow"):
        table.add_column(col, no_wrap=True)
    if by is query.By.LOOP:
        table.add_column("along\nloop", no_wrap=True)
    for i, feat in enumerate(result["features"], 1):
        p = feat["properties"]
        open_text = {True: "yes 开放", False: "no 关闭", None: "unknown\n未知"}[p["open_now"]]
        row = [
            str(i),
            f"{p['name']}\n{p.get('name_en') or ''}".rstrip(),
            format_distance(p["distance_m"]),
            compass(p["bearing_deg"]).replace(" ", "\n"),
            "" if p["loop_km"] is None else f"{p['loop_km']:.1f}",
            open_text,
        ]
        if by is query.By.LOOP:
            way = p["direction"].replace("counterclockwise", "counter-\nclockwise")
            row.append(f"{format_distance(p['loop_distance_m'])}\n{way}")
        table.add_row(*row)
    out.print(table)
    cal = result.get("loop_calibration")
    if cal:
        basis = (
            f"calibrated to the official {cal['official_length_m'] / 1000:.0f} km\n"
            f"(x{cal['scale']:.3f} of the {cal['accuracy']} line)"
            if cal["basis"] == "official_length"
            else "measured on the stored line"
        )
        out.print(f"km marks and along-loop distances: {basis}.", highlight=False)


def info_command(
    as_json: AsJson = False, stations: StationsPath = None, loop: LoopPath = None
) -> None:
    """Counts by kind, loop length (as drawn and official), each station's km mark."""
    data = info_data(Catalog.from_settings(settings_for(stations, loop)))
    if as_json:
        print_json(data)
        return
    out.print(f"{data['stations']} stations:", highlight=False)
    for kind, n in sorted(data["by_kind"].items()):
        zh, en = KIND_LABELS[Kind(kind)]
        out.print(f"  {n:>4}  {zh} {en} ({kind})", highlight=False)
    if data["loop"]:
        lp = data["loop"]
        cal = lp["calibration"]
        out.print(
            f"Loop {lp['name']}: {lp['geometric_length_m'] / 1000:.1f} km as drawn "
            f"({cal['accuracy']}), official {lp['official_length_m'] / 1000:.0f} km",
            highlight=False,
        )
        out.print(
            f"km marks: {cal['basis'].replace('_', ' ')} (scale {cal['scale']:.3f})",
            highlight=False,
        )
    table = narrow_table("Stations along the loop / 环线站点")
    table.add_column("km", justify="right", no_wrap=True)
    table.add_column("off route", no_wrap=True)
    table.add_column("station / 站点 (id)", overflow="fold", ratio=1)
    table.add_column("position", no_wrap=True)
    for r in data["station_marks"]:
        table.add_row(
            "—" if r["loop_km"] is None else f"{r['loop_km']:.1f}",
            "—" if r["offroute_m"] is None else format_distance(r["offroute_m"]),
            f"{r['name']}\n{r['id']}",
            r["position_accuracy"],
        )
    out.print(table)
