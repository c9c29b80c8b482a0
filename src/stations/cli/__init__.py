"""The ``stations`` command line: thin commands over the same functions the API uses.

Each command parses its options, calls a service (query, planning, storage) and prints. Every
command is registered here through `exit_on_domain_error`, which prints a domain error as one
line on stderr and exits with status 1; a usage error (an unknown option, a missing or bad
value) is one line too, naming what the command takes (`OneLineErrors`), with status 2.
"""

from __future__ import annotations

from collections.abc import Callable

import typer

from stations.cli import data, db, planning, queries
from stations.cli.common import OneLineErrors, exit_on_domain_error

__all__ = ["app", "main"]

app = typer.Typer(
    cls=OneLineErrors,
    help="Trade-union rest stations (工会驿站) on Nanchuan's 178 loop: query, check, serve.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
loop_app = typer.Typer(help="The loop itself: import a driven GPS track.", no_args_is_help=True)
db_app = typer.Typer(
    help="The PostgreSQL store: its schema, and moving stations in and out.", no_args_is_help=True
)


def _add(target: typer.Typer, name: str, command: Callable[..., None]) -> None:
    target.command(name)(exit_on_domain_error(command))


_add(app, "nearest", queries.nearest_command)
_add(app, "validate", data.validate_command)
_add(app, "info", queries.info_command)
_add(app, "map", planning.map_command)
_add(app, "coverage", planning.coverage_command)
_add(app, "suggest", planning.suggest_command)
app.add_typer(loop_app, name="loop")
_add(loop_app, "import", planning.loop_import_command)
_add(app, "import", data.import_command)
_add(app, "export", data.export_command)
_add(app, "compact", data.compact_command)
_add(app, "serve", data.serve_command)
app.add_typer(db_app, name="db")
_add(db_app, "upgrade", db.upgrade_command)
_add(db_app, "import", db.import_command)
_add(db_app, "export", db.export_command)


def main() -> None:
    """Entry point of the ``stations`` console script."""
    app()
