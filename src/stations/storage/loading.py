"""Read and validate stations; every problem is reported with file, feature and field."""

from __future__ import annotations

import gc
import hashlib
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from stations.coords import in_china
from stations.errors import DataError, InvalidInput
from stations.models import PositionAccuracy, Station, StationProperties, shown, stripped
from stations.storage.journal import Entry, journal_path
from stations.storage.snapshot import StorePosition, read_stored


@dataclass(slots=True)
class Parsed:
    """Result of parsing a stations document: stations, and warnings that do not block loading."""

    stations: list[Station] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: How far into the store the stations were read (None: not read from a store).
    position: StorePosition | None = None
    #: Writes read from the journal (not yet folded into the file).
    journal_lines: int = 0


#: The members of a station Feature; any other would be stored unchecked, so it is refused.
FEATURE_MEMBERS = ("type", "id", "geometry", "properties")
POINT_MEMBERS = ("type", "coordinates")
#: Bound on a Point's third coordinate (an elevation, metres).
MAX_ELEVATION_M = 100_000
#: Problems a refused write names (the others are counted): a refusal stays short.
MAX_PROBLEMS = 20


def _not_finite(value: object) -> bool:
    """Whether ``value`` is not a JSON number, or is a float NaN or infinity."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return True
    return isinstance(value, float) and not math.isfinite(value)


def position_problem(coords: object) -> str | None:
    """What is wrong with GeoJSON Point coordinates ``coords`` (None: a valid position).

    A position is [lon, lat] or [lon, lat, elevation]: finite numbers, lon and lat in range,
    the elevation in metres within ``MAX_ELEVATION_M``. Integers of any size are compared
    exactly (none is converted to a float that could overflow).
    """
    if not isinstance(coords, list | tuple) or len(coords) not in (2, 3):
        return f"coordinates must be [lon, lat] or [lon, lat, elevation], got {shown(coords)}"
    lon, lat = coords[0], coords[1]
    for label, value in (("lon", lon), ("lat", lat)):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"{label} must be a number, got {shown(value)}"
        if _not_finite(value):
            return f"{label} must be finite, got {value!r}"
    if not -180 <= lon <= 180:
        return f"lon must be within [-180, 180], got {shown(lon)}"
    if not -90 <= lat <= 90:
        hint = " (lat/lon swapped? GeoJSON order is [lon, lat])" if -90 <= lon <= 90 else ""
        return f"lat must be within [-90, 90], got {shown(lat)}{hint}"
    if len(coords) == 3:
        z = coords[2]
        if _not_finite(z):
            return f"coordinates[2] must be a finite number (elevation, m), got {shown(z)}"
        if not -MAX_ELEVATION_M <= z <= MAX_ELEVATION_M:
            return (
                f"coordinates[2] must be within [-{MAX_ELEVATION_M}, {MAX_ELEVATION_M}] "
                f"(elevation, m), got {shown(z)}"
            )
    return None


def _region_warning(lon: float, lat: float) -> str | None:
    if bool(in_china(lon, lat)):
        return None
    if bool(in_china(lat, lon)):
        return (
            f"[{lon}, {lat}] lies outside China but [{lat}, {lon}] would be inside: "
            "lat/lon swapped? GeoJSON order is [lon, lat]"
        )
    return f"[{lon}, {lat}] lies outside mainland China's extent; is it right?"


def _pydantic_problems(exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors():
        where = ".".join(_cut(str(p)) for p in err["loc"]) or "properties"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown property (not in the schema; loop_km and distances are derived)"
        elif err["type"] == "enum":
            expected = err.get("ctx", {}).get("expected", "")
            msg = f"{shown(err.get('input'))} is not allowed; expected {expected}"
        elif err["type"] == "string_unicode":
            msg = _SURROGATE
        out.append(f"properties.{where}: {msg}")
    return out


def _cut(text: str, limit: int = 60) -> str:
    """``text`` cut to ``limit`` characters (a name a client chose may be of any length)."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


_SURROGATE = "contains a lone surrogate (not valid Unicode); send the text as UTF-8"


def _member_problems(feature: dict[str, Any], label: str) -> list[str]:
    """The members a Feature may not have, and an ``id`` that is not ``properties.id``."""
    problems = []
    extra = [k for k in feature if k not in FEATURE_MEMBERS]
    if extra:
        names = ", ".join(shown(k) for k in extra[:5])
        more = f" (and {len(extra) - 5} more)" if len(extra) > 5 else ""
        member = "member" if len(extra) == 1 else "members"
        verb = "is" if len(extra) == 1 else "are"
        problems.append(
            f"{label}: feature {member} {names}{more} {verb} not allowed; a Feature has type, "
            "id, geometry, properties"
        )
    fid, sid = feature.get("id"), feature["properties"].get("id")
    if fid is not None and not isinstance(fid, str):
        problems.append(f"{label}: Feature id must be a string equal to properties.id")
    elif fid is not None and isinstance(sid, str) and fid != sid:
        problems.append(f"{label}: Feature id {shown(fid)} differs from properties.id {shown(sid)}")
    return problems


def _geometry_problems(
    geom: object, props: dict[str, Any], label: str
) -> tuple[list[str], list[str], tuple[float, float] | None]:
    """Problems and warnings of a station's geometry, and its (lon, lat) if it has one."""
    unknown = props.get("position_accuracy") == PositionAccuracy.UNKNOWN
    if geom is None:
        if unknown:
            return [], [], None
        problem = (
            "geometry is null; only stations with position_accuracy 'unknown' may have no position"
        )
    elif not isinstance(geom, dict) or geom.get("type") != "Point":
        got = geom.get("type") if isinstance(geom, dict) else geom
        problem = f"geometry must be a Point, got {shown(got)}"
    elif extra := [k for k in geom if k not in POINT_MEMBERS]:
        problem = (
            f"geometry member {shown(extra[0])} is not allowed; a Point has type and coordinates"
        )
    elif where := position_problem(geom.get("coordinates")):
        problem = f"geometry.{where}"
    elif unknown:
        problem = (
            "position_accuracy is 'unknown' but a position is given; use 'approximate' and "
            "say where it comes from in source"
        )
    else:
        lon, lat = float(geom["coordinates"][0]), float(geom["coordinates"][1])
        warning = _region_warning(lon, lat)
        return [], [f"{label}: {warning}"] if warning else [], (lon, lat)
    return [f"{label}: {problem}"], [], None


def _encoding_problems(feature: dict[str, Any], label: str) -> list[str]:
    """Whether the feature can be stored as JSON exactly as it is (what a snapshot holds).

    Only called on a feature whose structure is valid, so nothing in it is deep or huge.
    """
    try:
        orjson.dumps(feature)
    except orjson.JSONEncodeError as exc:
        return [f"{label}: cannot be stored as JSON ({exc})"]
    return []


def parse_feature(feature: object, label: str) -> tuple[Station | None, list[str], list[str]]:
    """Validate one station Feature; return the station (or None), problems and warnings.

    A Feature is exactly `FEATURE_MEMBERS` (``id`` optional, equal to ``properties.id``);
    its geometry a Point (`position_problem`) or null; its properties the schema
    (`StationProperties`, every string and list bounded); and it must encode as JSON as it is.
    """
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        return None, [f"{label}: not a GeoJSON Feature object"], []
    props = feature.get("properties")
    if not isinstance(props, dict):
        return None, [f"{label}: properties must be an object"], []
    sid = props.get("id")
    if sid is not None:
        label = f"{label} (id {shown(sid)})"
    problems = _member_problems(feature, label)
    model: StationProperties | None = None
    try:
        model = StationProperties.model_validate(props)
    except ValidationError as exc:
        problems += [f"{label}: {p}" for p in _pydantic_problems(exc)]
    geom_problems, warnings, position = _geometry_problems(
        feature.get("geometry", "missing"), props, label
    )
    problems += geom_problems
    if not problems:
        problems = _encoding_problems(feature, label)
    if problems or model is None:
        return None, problems, warnings
    lon, lat = position if position is not None else (None, None)
    return Station(props=model, lon=lon, lat=lat), [], warnings


class FeatureCache:
    """Stations already validated, by a digest of their feature's canonical JSON.

    A write changes one station in a file of thousands; the writer re-reads the file and every
    worker reloads it. A feature whose digest matches one validated before is taken as the same
    station without running the validation again (a digest per station: no raw copies kept).
    Only features that loaded without warnings are remembered, so warnings are never lost.
    """

    def __init__(self) -> None:
        self._stations: dict[bytes, Station] = {}

    @staticmethod
    def digest(feature: object) -> bytes | None:
        """Digest of a feature's JSON with sorted keys (None if it is not JSON-serialisable)."""
        try:
            blob = orjson.dumps(feature, option=orjson.OPT_SORT_KEYS)
        except TypeError:
            return None
        return hashlib.blake2b(blob, digest_size=16).digest()

    def parse(self, feature: object, label: str) -> tuple[Station | None, list[str], list[str]]:
        """As `parse_feature`, skipping the validation of a feature seen before."""
        key = self.digest(feature)
        known = self._stations.get(key) if key is not None else None  # one look-up: may be cleared
        if known is not None:
            return known, [], []
        station, problems, warnings = parse_feature(feature, label)
        if key is not None and station is not None and not warnings:
            self._stations[key] = station
        return station, problems, warnings

    def clear(self) -> None:
        """Forget every station (they are kept alive by this cache alone once dropped)."""
        self._stations.clear()


def check_written_feature(
    feature: object, label: str = "station", cache: FeatureCache | None = None
) -> dict[str, Any]:
    """Validate a feature as loading does, refuse what loading only warns about; return it stored.

    The feature returned is the one given, its texts stripped as the schema reads them
    (`stations.models.stripped`), as it reads back from its JSON (`stored_form`):
    what the journal line, the snapshot and every reader will hold. With ``cache`` (an API
    worker's), the validated station is remembered, so the worker does not validate it again
    when it applies its own write from the journal.
    """
    parse = cache.parse if cache is not None else parse_feature
    station, problems, warnings = parse(feature, label)
    if problems or station is None:
        raise InvalidInput(summary(problems))
    if warnings:
        raise InvalidInput(summary(warnings) + " (refused on write; fix the coordinates)")
    assert isinstance(feature, dict)
    return stored_form({**feature, "properties": stripped(feature["properties"], station.props)})


def with_id(feature: object) -> dict[str, Any]:
    """Features carry their id twice (Feature id and properties.id); fill the Feature's."""
    if not isinstance(feature, dict):
        raise InvalidInput("expected a GeoJSON Feature object")
    props = feature.get("properties")
    if isinstance(props, dict) and isinstance(props.get("id"), str) and "id" not in feature:
        return {**feature, "id": props["id"]}
    return feature


def stored_form(feature: dict[str, Any]) -> dict[str, Any]:
    """A valid feature as it reads back from the JSON every store writes (orjson, as compaction)."""
    stored: dict[str, Any] = orjson.loads(orjson.dumps(feature))
    return stored


def summary(problems: list[str]) -> str:
    """Problems as one message: the first `MAX_PROBLEMS` of them, the others counted."""
    more = len(problems) - MAX_PROBLEMS
    return "; ".join(problems[:MAX_PROBLEMS]) + (f" (and {more} more)" if more > 0 else "")


def check_journal(entries: list[Entry], source: str, cache: FeatureCache | None = None) -> None:
    """Refuse a journal holding a line a write would have refused (`DataError` naming each).

    Every line is checked, not only the last state of each station: a line that fails shows
    that something wrote data no write may store, and a compaction must not fold it in.
    """
    parse = cache.parse if cache is not None else parse_feature
    problems: list[str] = []
    for entry in entries:
        if entry.feature is not None:
            _, errs, warns = parse(entry.feature, f"line {entry.line}")
            problems += errs + [f"{w} (a write refuses this)" for w in warns]
    if problems:
        raise DataError(source, problems)


def parse_stations(doc: object, source: str, cache: FeatureCache | None = None) -> Parsed:
    """Validate a stations FeatureCollection; raise `DataError` listing every problem."""
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        got = doc.get("type") if isinstance(doc, dict) else type(doc).__name__
        raise DataError(source, [f"expected a GeoJSON FeatureCollection, got {got!r}"])
    features = doc.get("features")
    if not isinstance(features, list):
        raise DataError(source, ["'features' must be an array"])
    parsed = Parsed()
    problems: list[str] = []
    seen: dict[str, int] = {}
    parse = cache.parse if cache is not None else parse_feature
    for i, feature in enumerate(features):
        station, errs, warns = parse(feature, f"feature {i}")
        problems += errs
        parsed.warnings += warns
        if station is None:
            continue
        if station.id in seen:
            problems.append(
                f"feature {i} (id {station.id!r}): duplicate id, already used by feature "
                f"{seen[station.id]}"
            )
            continue
        seen[station.id] = i
        parsed.stations.append(station)
    if problems:
        raise DataError(source, problems)
    return parsed


def load_stations(path: Path, cache: FeatureCache | None = None) -> Parsed:
    """Read and validate a stations GeoJSON file and its journal (`read_checked`)."""
    return read_checked(path, cache)[1]


def read_checked(path: Path, cache: FeatureCache | None = None) -> tuple[Any, Parsed]:
    """The stations document as stored (journal applied), and its validated stations.

    Every journal line is validated (`check_journal`), then the resulting stations. ``cache``
    skips the validation of stations seen before.
    """
    with gc_paused():
        doc, position, entries = read_stored(path)
        check_journal(entries, str(journal_path(path)), cache)
        parsed = parse_stations(doc, str(path), cache)
    parsed.position = position
    parsed.journal_lines = len(entries)
    return doc, parsed


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a file becomes millions of objects.

    A load allocates objects that all live on, so every collection it triggers scans the
    growing heap for nothing: on a national file that slows the load markedly and lengthens
    the GIL holds inside ``orjson.loads`` past what uvicorn's supervisor tolerates from a
    loading worker (`stations serve --workers`).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
