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
from stations.models import PositionAccuracy, Station, StationProperties
from stations.storage.snapshot import Position, read_document


@dataclass(slots=True)
class Parsed:
    """Result of parsing a stations document: stations, and warnings that do not block loading."""

    stations: list[Station] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: How far into the files the stations were read (None: not read from a file).
    position: Position | None = None


def position_problem(coords: object) -> str | None:
    """What is wrong with GeoJSON Point coordinates ``coords`` (None: a valid [lon, lat])."""
    if not isinstance(coords, list | tuple) or len(coords) not in (2, 3):
        return f"coordinates must be [lon, lat], got {coords!r}"
    lon, lat = coords[0], coords[1]
    for label, value in (("lon", lon), ("lat", lat)):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"{label} must be a number, got {value!r}"
        if not math.isfinite(value):
            return f"{label} must be finite, got {value!r}"
    if not -180 <= lon <= 180:
        return f"lon must be within [-180, 180], got {lon}"
    if not -90 <= lat <= 90:
        hint = " (lat/lon swapped? GeoJSON order is [lon, lat])" if -90 <= lon <= 90 else ""
        return f"lat must be within [-90, 90], got {lat}{hint}"
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
        where = ".".join(str(p) for p in err["loc"]) or "properties"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown property (not in the schema; loop_km and distances are derived)"
        elif err["type"] == "enum":
            expected = err.get("ctx", {}).get("expected", "")
            msg = f"{err.get('input')!r} is not allowed; expected {expected}"
        out.append(f"properties.{where}: {msg}")
    return out


def parse_feature(feature: object, label: str) -> tuple[Station | None, list[str], list[str]]:
    """Validate one station Feature; return the station (or None), problems and warnings."""
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        return None, [f"{label}: not a GeoJSON Feature object"], []
    props = feature.get("properties")
    if not isinstance(props, dict):
        return None, [f"{label}: properties must be an object"], []
    sid = props.get("id")
    if sid is not None:
        label = f"{label} (id {sid!r})"
    problems: list[str] = []
    warnings: list[str] = []
    model: StationProperties | None = None
    try:
        model = StationProperties.model_validate(props)
    except ValidationError as exc:
        problems += [f"{label}: {p}" for p in _pydantic_problems(exc)]
    fid = feature.get("id")
    if fid is not None and sid is not None and fid != sid:
        problems.append(f"{label}: Feature id {fid!r} differs from properties.id {sid!r}")
    geom = feature.get("geometry", "missing")
    lon = lat = None
    if geom is None:
        if props.get("position_accuracy") != PositionAccuracy.UNKNOWN:
            problems.append(
                f"{label}: geometry is null; only stations with position_accuracy "
                "'unknown' may have no position"
            )
    elif not isinstance(geom, dict) or geom.get("type") != "Point":
        got = geom.get("type") if isinstance(geom, dict) else geom
        problems.append(f"{label}: geometry must be a Point, got {got!r}")
    else:
        problem = position_problem(geom.get("coordinates"))
        if problem:
            problems.append(f"{label}: geometry.{problem}")
        else:
            lon, lat = float(geom["coordinates"][0]), float(geom["coordinates"][1])
            if props.get("position_accuracy") == PositionAccuracy.UNKNOWN:
                problems.append(
                    f"{label}: position_accuracy is 'unknown' but a position is given; "
                    "use 'approximate' and say where it comes from in source"
                )
            warning = _region_warning(lon, lat)
            if warning:
                warnings.append(f"{label}: {warning}")
    if problems or model is None:
        return None, problems, warnings
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
        if key is not None and key in self._stations:
            return self._stations[key], [], []
        station, problems, warnings = parse_feature(feature, label)
        if key is not None and station is not None and not warnings:
            self._stations[key] = station
        return station, problems, warnings


def check_written_feature(
    feature: object, label: str = "station", cache: FeatureCache | None = None
) -> dict[str, Any]:
    """Validate a feature as loading does, and refuse what loading only warns about.

    With ``cache`` (an API worker's), the validated station is remembered, so the worker does
    not validate it again when it applies its own write from the journal.
    """
    parse = cache.parse if cache is not None else parse_feature
    station, problems, warnings = parse(feature, label)
    if problems or station is None:
        raise InvalidInput("; ".join(problems))
    if warnings:
        raise InvalidInput("; ".join(warnings) + " (refused on write; fix the coordinates)")
    assert isinstance(feature, dict)
    return feature


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
    """Read and validate a stations GeoJSON file and its journal (`read_document`).

    ``cache`` skips the validation of stations seen before.
    """
    with gc_paused():
        doc, position = read_document(path)
        parsed = parse_stations(doc, str(path), cache)
    parsed.position = position
    return parsed


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
