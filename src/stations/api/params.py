"""Query parameters of the hot routes, declared once as pydantic models.

FastAPI's per-parameter machinery costs ~200 µs a request for these routes' 10-11 parameters
(measured on this machine: a bare endpoint reading 2 parameters by hand served 5,663 req/s; with
11 declared parameters 2,600; with a FastAPI query model 2,120), which is more than the nearest
query itself. So `/api/nearest` and `/api/within` read ``request.query_params`` into one model with
a single validation, and the same model generates their OpenAPI parameters: documented, fuzzed
and enforced from one declaration. Unknown parameters are refused (``extra="forbid"``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, get_args, get_origin

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stations.api.errors import UnknownParameter, describe_validation_error
from stations.coords import CRS
from stations.errors import InvalidInput
from stations.models import Amenity, Kind, Status
from stations.query import By, Filters

M = TypeVar("M", bound=BaseModel)
OPEN_STATIONS = Filters()  # frozen: shared by every unfiltered query


class PointQuery(BaseModel):
    """A rider's position and the station filters shared by the query routes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lon: float = Field(
        description="Longitude in degrees, east positive, -180..180 (GeoJSON order: lon first)."
    )
    lat: float = Field(description="Latitude in degrees, north positive, -90..90.")
    crs: CRS = Field(
        default=CRS.WGS84,
        description="Coordinate system of lon/lat and of the answer's geometry: wgs84 (GPS), "
        "gcj02 (Amap, Tencent, WeChat) or bd09 (Baidu).",
    )
    kind: list[Kind] = Field(default_factory=list, description="Only these kinds (repeatable).")
    amenity: list[Amenity] = Field(
        default_factory=list, description="Only stations offering all of these (repeatable)."
    )
    status: list[Status] = Field(
        default_factory=list, description="Only these statuses (repeatable). Default: open."
    )
    open_now: bool = Field(
        default=False,
        description="Drop stations known to be closed now (Asia/Shanghai); stations with "
        "unknown hours stay, marked open_now=null.",
    )

    def filters(self) -> Filters:
        """The station filters; riders' queries default to open stations."""
        if not (self.kind or self.amenity or self.status or self.open_now):
            return OPEN_STATIONS  # the common query: no filter objects built and checked
        return Filters(
            kinds=self.kind,
            amenities=self.amenity,
            statuses=self.status or (Status.OPEN,),
            open_now=self.open_now,
        )


class NearestQuery(PointQuery):
    """Parameters of /api/nearest."""

    k: int = Field(default=3, description="How many stations (1 to the configured maximum, 100).")
    by: By = Field(
        default=By.STRAIGHT,
        description="straight: ellipsoidal geodesic; loop: off-route + along the 178 loop.",
    )
    max_distance_m: float | None = Field(
        default=None, description="Leave out stations farther than this, in metres."
    )


class WithinQuery(PointQuery):
    """Parameters of /api/within."""

    radius_m: float = Field(description="Radius in metres (ellipsoidal geodesic).")
    limit: int = Field(default=1000, ge=1, le=10_000, description="At most this many.")


def _is_list(annotation: Any) -> bool:
    return get_origin(annotation) is list or any(_is_list(a) for a in get_args(annotation))


def query_parser(model: type[M]) -> Callable[[list[tuple[str, str]]], M]:
    """A function validating a query string's (key, value) pairs into ``model`` in one call.

    Repeated keys make a list for list fields; for other fields the last value wins (as
    Starlette's ``request.query_params[key]``). Unknown keys raise `UnknownParameter`, other
    problems `InvalidInput` naming the parameter.
    """
    lists = {name for name, f in model.model_fields.items() if _is_list(f.annotation)}
    allowed = ", ".join(sorted(model.model_fields))

    def parse(pairs: list[tuple[str, str]]) -> M:
        data: dict[str, Any] = {}
        for key, value in pairs:
            if key in lists:
                data.setdefault(key, []).append(value)
            else:
                data[key] = value
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            errors = exc.errors()
            extra = sorted(str(e["loc"][0]) for e in errors if e["type"] == "extra_forbidden")
            if extra:
                raise UnknownParameter(
                    f"unknown query parameter(s) {', '.join(extra)}; allowed: {allowed}"
                ) from None
            raise InvalidInput("; ".join(describe_validation_error(e) for e in errors)) from None

    return parse


def query_model(model: type[M]) -> Callable[[Request], Awaitable[M]]:
    """A dependency that validates the whole query string into ``model`` in one call."""
    parser = query_parser(model)

    async def parse(request: Request) -> M:
        return parser(request.query_params.multi_items())

    return parse


def _inline(schema: Any, defs: dict[str, Any]) -> Any:
    if isinstance(schema, dict):
        if "$ref" in schema:
            return _inline(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
        return {k: _inline(v, defs) for k, v in schema.items() if k not in ("title", "$defs")}
    if isinstance(schema, list):
        return [_inline(v, defs) for v in schema]
    return schema


def openapi_parameters(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` declaring ``model``'s fields as query parameters."""
    schema = model.model_json_schema()
    defs = schema.get("$defs", {})
    required = set(schema.get("required", []))
    params = []
    for name, prop in schema["properties"].items():
        prop = _inline(prop, defs)
        description = prop.pop("description", "")
        params.append(
            {
                "name": name,
                "in": "query",
                "required": name in required,
                "description": description,
                "schema": prop,
            }
        )
    return {"parameters": params}


class ViewportQuery(BaseModel):
    """Parameters of /api/map/stations: what a map shows in its current view."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bbox: str = Field(
        description="The view: minlon,minlat,maxlon,maxlat in degrees of `crs`.",
        examples=["107,28.8,107.5,29.2"],
    )
    zoom: int = Field(ge=0, le=22, description="The map's zoom level (Web Mercator, 0..22).")
    crs: CRS = Field(
        default=CRS.WGS84,
        description="Datum of bbox and of the answer's geometry: wgs84, gcj02 (Amap) or bd09.",
    )
    kind: list[Kind] = Field(default_factory=list, description="Only these kinds (repeatable).")
    status: list[Status] = Field(
        default_factory=list, description="Only these statuses (repeatable). Default: open."
    )


class ConvertQuery(BaseModel):
    """Parameters of /api/convert."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lon: float = Field(description="Longitude in degrees of `crs`, -180..180.")
    lat: float = Field(description="Latitude in degrees of `crs`, -90..90.")
    crs: CRS = Field(default=CRS.WGS84, description="Datum of lon/lat: wgs84, gcj02 or bd09.")
    to: CRS = Field(default=CRS.WGS84, description="Datum of the answer: wgs84, gcj02 or bd09.")
