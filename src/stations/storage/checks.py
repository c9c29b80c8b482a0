"""Check one data file, a loop or stations, told apart by what it holds, and summarise it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stations.loop import parse_loop
from stations.storage.files import read_json
from stations.storage.loading import load_stations


@dataclass(frozen=True)
class FileCheck:
    """A valid data file: one line saying what it holds, and the warnings found."""

    summary: str
    warnings: list[str] = field(default_factory=list)


def _is_loop(doc: Any) -> bool:
    """A single Feature, or a collection holding a LineString, is a loop file."""
    return isinstance(doc, dict) and (
        (doc.get("type") == "Feature")
        or any(
            isinstance(f, dict)
            and isinstance(f.get("geometry"), dict)
            and f["geometry"].get("type") == "LineString"
            for f in (doc.get("features") or [])
        )
    )


def check_file(path: Path) -> FileCheck:
    """Validate a loop or stations GeoJSON file; `DataError` lists every problem.

    A stations file is checked with its journal, every line as a write would check it (as
    every command that loads the data does). A loop is summarised by its length as drawn and
    its official length; stations by their count per kind, how many have no position yet and
    how many writes wait in the journal.
    """
    doc = read_json(path)
    if _is_loop(doc):
        loop = parse_loop(doc, str(path))
        official = loop.official_length_m
        return FileCheck(
            f"{path}: loop OK, {loop.length_m / 1000:.1f} km as drawn"
            + (f", official {official / 1000:.0f} km" if official else "")
        )
    parsed = load_stations(path)
    kinds: dict[str, int] = {}
    for s in parsed.stations:
        kinds[s.props.kind.value] = kinds.get(s.props.kind.value, 0) + 1
    summary = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    unlocated = sum(not s.located for s in parsed.stations)
    lines = parsed.journal_lines
    journal = f"; {lines} journal line{'s' if lines != 1 else ''} to fold" if lines else ""
    return FileCheck(
        f"{path}: {len(parsed.stations)} stations OK ({summary}; {unlocated} without position"
        f"{journal})",
        parsed.warnings,
    )
