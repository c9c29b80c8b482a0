"""What every command shares: the data-file options, printing, and domain errors as one line."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, ParamSpec

import orjson
import typer
from pydantic import ValidationError
from rich.console import Console

from stations.errors import DataError, StationsError
from stations.settings import Settings

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

P = ParamSpec("P")


def settings_for(stations: Path | None, loop: Path | None) -> Settings:
    """The settings (environment, ``.env``) with the files given on the command line."""
    settings = Settings()
    if stations is not None:
        settings.stations_path = stations
    if loop is not None:
        settings.loop_path = loop
    return settings


def print_error(exc: StationsError) -> None:
    """A domain error on stderr: its message, or a data file's path and each of its problems.

    One problem is one line (``error: <file>: <problem>``); several are listed below the file.
    """
    if isinstance(exc, DataError) and len(exc.problems) == 1:
        err.print(f"[red]error:[/red] {exc.path}: ", end="", highlight=False)
        err.print(exc.problems[0], highlight=False, markup=False)
    elif isinstance(exc, DataError):
        err.print(f"[red]error:[/red] {exc.path}:", highlight=False, markup=True)
        for problem in exc.problems:
            err.print(f"  - {problem}", highlight=False, markup=False)
    else:
        err.print(f"[red]error:[/red] {exc}", highlight=False)


def exit_on_domain_error(command: Callable[P, None]) -> Callable[P, None]:
    """``command`` with a domain error (`StationsError`) printed, and exit status 1.

    Every command is registered through this wrapper, so commands raise domain errors and never
    catch them; a traceback means a bug.
    """

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            command(*args, **kwargs)
        except StationsError as exc:
            print_error(exc)
            raise typer.Exit(code=1) from None
        except ValidationError as exc:  # a bad STATIONS_* setting: one line each, no traceback
            for e in exc.errors():
                name = "STATIONS_" + "_".join(map(str, e["loc"])).upper()
                msg = e["msg"].removeprefix("Value error, ")
                err.print(f"error: {name}: {msg}", highlight=False, markup=False)
            raise typer.Exit(code=1) from None

    return run


def print_json(data: Any) -> None:
    """``data`` as indented JSON on stdout; numpy scalars written as the API writes them."""
    option = orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY
    sys.stdout.write(orjson.dumps(data, option=option).decode() + "\n")


def format_distance(metres: float) -> str:
    """Metres as '850 m' or '8.3 km'."""
    return f"{metres:.0f} m" if metres < 1000 else f"{metres / 1000:.1f} km"


def km_text(metres: float | None) -> str:
    """Metres as '12.34 km', or '∞' when there is no distance (no station at all)."""
    return "∞" if metres is None else f"{metres / 1000:.2f} km"


def compass(bearing: float) -> str:
    """Bearing as an 8-point compass direction, English and Chinese."""
    en, zh = COMPASS[int(((bearing % 360) + 22.5) // 45) % 8]
    return f"{en} {zh}"
