"""Query parameters: one pydantic model per route, one parser, one OpenAPI generator.

Every route declares its query string as a `QueryModel` (``extra="forbid"``: a typo is refused,
not ignored) and receives it through a `QueryParams` dependency, which validates the whole
string in one call. FastAPI's per-parameter machinery costs more than a nearest query itself
(see the README's API benchmark), and the hot path (`stations.api.hotpath`) calls the same
parser without FastAPI, so both answer with the same values and the same messages.
`document_query_parameters` writes each route's parameters into the OpenAPI document from
the same models: declared once, documented, fuzzed and enforced from one place.

Parameters that several routes share are declared once below (`Crs`, `Kinds`, `BBox`, ...),
with their bounds (`stations.api.strict`): every string has a length bound, every number a
range or at least finiteness, every integer a bound inside 64 bits, and the query string
itself is read strictly (`stations.api.strict.query_pairs`), so whatever a client sends gets
a 400 naming the parameter, never a 500.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Generic, TypeVar, get_args, get_origin

from fastapi import APIRouter, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, PlainValidator, ValidationError, WithJsonSchema

from stations.api.errors import UnknownParameter, describe_validation_error
from stations.api.strict import MAX_BBOX_CHARS, MAX_OFFSET, MAX_REPEATED, query_pairs
from stations.coords import CRS
from stations.errors import InvalidInput
from stations.models import Amenity, Kind, Status
from stations.query import By, Filters

M = TypeVar("M", bound="QueryModel")
BoundingBox = tuple[float, float, float, float]
OPEN_STATIONS = Filters()  # frozen: shared by every unfiltered query


class QueryModel(BaseModel):
    """The query string of one route: unknown names refused, values frozen, numbers finite."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class _Refused(Exception):
    """A value refused before the others are checked (pydantic lets non-ValueErrors through)."""

    def __init__(self, error: InvalidInput) -> None:
        super().__init__(str(error))
        self.error = error


def _short_bbox(value: str) -> str:
    if len(value) > MAX_BBOX_CHARS:
        raise InvalidInput(f"bbox must be at most {MAX_BBOX_CHARS} characters; got {len(value)}")
    return value


def parse_bbox(value: str) -> BoundingBox:
    """Parse ``minlon,minlat,maxlon,maxlat`` (degrees), checking ranges and order."""
    parts = _short_bbox(value).split(",")
    if len(parts) != 4:
        raise InvalidInput(f"bbox must be minlon,minlat,maxlon,maxlat (4 numbers); got {value!r}")
    try:
        x0, y0, x1, y1 = (float(p) for p in parts)
    except ValueError:
        raise InvalidInput(f"bbox must hold 4 numbers; got {value!r}") from None
    for name, v, bound in (
        ("minlon", x0, 180),
        ("minlat", y0, 90),
        ("maxlon", x1, 180),
        ("maxlat", y1, 90),
    ):
        if not -bound <= v <= bound:
            raise InvalidInput(f"bbox {name} must be within [-{bound}, {bound}]; got {v}")
    if x0 > x1 or y0 > y1:
        raise InvalidInput(f"bbox min must not exceed max; got {value!r}")
    return x0, y0, x1, y1


def _bbox_first(value: Any) -> BoundingBox:
    """A bad bbox is reported before any other parameter (as a filter checked first)."""
    try:
        return parse_bbox(_short_bbox(str(value)))
    except InvalidInput as exc:
        raise _Refused(exc) from None


# Parameters several routes share, each described once.
Crs = Annotated[
    CRS,
    Field(
        description="Coordinate system of lon/lat and of the answer's geometry: wgs84 (GPS), "
        "gcj02 (Amap, Tencent, WeChat) or bd09 (Baidu).",
    ),
]
Kinds = Annotated[
    list[Kind],
    Field(
        default_factory=list,
        max_length=MAX_REPEATED,
        description="Only these kinds (repeatable).",
    ),
]
Amenities = Annotated[
    list[Amenity],
    Field(
        default_factory=list,
        max_length=MAX_REPEATED,
        description="Only stations offering all of these (repeatable), e.g. toilet.",
    ),
]
OpenStatuses = Annotated[
    list[Status],
    Field(
        default_factory=list,
        max_length=MAX_REPEATED,
        description="Only these statuses (repeatable): open, closed, planned. Default: open.",
    ),
]
OpenNow = Annotated[
    bool,
    Field(
        description="Drop stations known to be closed now (Asia/Shanghai); stations with "
        "unknown hours stay, marked open_now=null.",
    ),
]
BBox = Annotated[
    BoundingBox | None,
    PlainValidator(_bbox_first),
    WithJsonSchema({"anyOf": [{"type": "string", "maxLength": MAX_BBOX_CHARS}, {"type": "null"}]}),
    Field(
        description="minlon,minlat,maxlon,maxlat in WGS84 degrees.",
        examples=["107,28.8,107.5,29.2"],
    ),
]
Offset = Annotated[
    int, Field(ge=0, le=MAX_OFFSET, description=f"How many to skip (paging), 0 to {MAX_OFFSET}.")
]


class NoQuery(QueryModel):
    """A route without query parameters (any given is refused)."""


class CrsQuery(QueryModel):
    """Only the datum of the positions sent and answered."""

    crs: Crs = CRS.WGS84


class PointQuery(QueryModel):
    """A rider's position and the station filters shared by the query routes."""

    lon: float = Field(
        description="Longitude in degrees, east positive, -180..180 (GeoJSON order: lon first)."
    )
    lat: float = Field(description="Latitude in degrees, north positive, -90..90.")
    crs: Crs = CRS.WGS84
    kind: Kinds
    amenity: Amenities
    status: OpenStatuses
    open_now: OpenNow = False

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

    k: int = Field(
        default=3,
        le=10_000,
        description="How many stations (1 to the configured maximum, 100; at most 10000).",
    )
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


class StationsQuery(QueryModel):
    """Parameters of the planners' listing, /api/stations: every status unless asked."""

    bbox: BBox = None
    kind: Kinds
    amenity: Amenities
    status: list[Status] = Field(
        default_factory=list,
        description="Only these statuses (repeatable): open, closed, planned. Default: all.",
    )
    open_now: OpenNow = False
    crs: Crs = CRS.WGS84
    limit: int = Field(default=100, ge=1, le=10_000, description="Page size.")
    offset: Offset = 0

    def filters(self) -> Filters:
        """The station filters of the listing."""
        return Filters(
            kinds=self.kind, amenities=self.amenity, statuses=self.status, open_now=self.open_now
        )


class ViewportQuery(QueryModel):
    """Parameters of /api/map/stations: what a map shows in its current view."""

    bbox: str = Field(
        max_length=MAX_BBOX_CHARS,
        description="The view: minlon,minlat,maxlon,maxlat in degrees of `crs`.",
        examples=["107,28.8,107.5,29.2"],
    )
    zoom: int = Field(ge=0, le=22, description="The map's zoom level (Web Mercator, 0..22).")
    crs: CRS = Field(
        default=CRS.WGS84,
        description="Datum of bbox and of the answer's geometry: wgs84, gcj02 (Amap) or bd09.",
    )
    kind: Kinds
    status: OpenStatuses


class ConvertQuery(QueryModel):
    """Parameters of /api/convert."""

    lon: float = Field(description="Longitude in degrees of `crs`, -180..180.")
    lat: float = Field(description="Latitude in degrees of `crs`, -90..90.")
    crs: CRS = Field(default=CRS.WGS84, description="Datum of lon/lat: wgs84, gcj02 or bd09.")
    to: CRS = Field(default=CRS.WGS84, description="Datum of the answer: wgs84, gcj02 or bd09.")


def _is_list(annotation: Any) -> bool:
    return get_origin(annotation) is list or any(_is_list(a) for a in get_args(annotation))


class QueryParams(Generic[M]):
    """The dependency reading a route's query string into ``model`` with one validation.

    ``Annotated[StationsQuery, Depends(QueryParams(StationsQuery))]`` in a route's signature;
    `parse` is the same function without a request (the hot path calls it).
    """

    def __init__(self, model: type[M]) -> None:
        self.model = model
        self.lists = frozenset(n for n, f in model.model_fields.items() if _is_list(f.annotation))
        self.names = frozenset(model.model_fields)
        self.allowed = ", ".join(sorted(model.model_fields)) or "none"

    async def __call__(self, request: Request) -> M:
        """Validate the request's query string."""
        return self.parse(query_pairs(request.scope["query_string"]))

    async def refuse_unknown(self, request: Request) -> None:
        """Only refuse names the model lacks, for routes that check a token before values."""
        self._refuse_unknown([key for key, _ in query_pairs(request.scope["query_string"])])

    def _refuse_unknown(self, keys: list[str]) -> None:
        unknown = sorted(set(keys) - self.names)
        if unknown:
            raise UnknownParameter(
                f"unknown query parameter(s) {', '.join(unknown)}; allowed: {self.allowed}"
            )

    def parse(self, pairs: list[tuple[str, str]]) -> M:
        """Validate a query string's (key, value) pairs.

        Repeated keys make a list for list fields; any other field given twice is refused
        (``lon=1&lon=2`` has no right answer). Unknown keys raise `UnknownParameter`, other
        problems `InvalidInput` naming the parameter.
        """
        data: dict[str, Any] = {}
        for key, value in pairs:
            if key in self.lists:
                data.setdefault(key, []).append(value)
            elif key in data and key in self.names:
                raise InvalidInput(f"parameter {key!r} is given more than once; give it once")
            else:
                data[key] = value
        try:
            return self.model.model_validate(data)
        except ValidationError as exc:
            errors = exc.errors()
            if any(e["type"] == "extra_forbidden" for e in errors):
                self._refuse_unknown(list(data))
            raise InvalidInput("; ".join(describe_validation_error(e) for e in errors)) from None
        except _Refused as refused:
            self._refuse_unknown(list(data))
            raise refused.error from None

    def openapi(self) -> list[dict[str, Any]]:
        """The model's fields as OpenAPI query parameters."""
        schema = self.model.model_json_schema()
        defs = schema.get("$defs", {})
        required = set(schema.get("required", []))
        params = []
        for name, prop in schema["properties"].items():
            param = {"name": name, "in": "query", "required": name in required}
            param["schema"] = _inline(prop, defs)
            if "description" in prop:
                param["description"] = prop["description"]
            params.append(param)
        return params


def _inline(schema: Any, defs: dict[str, Any]) -> Any:
    """``schema`` with every ``$ref`` replaced by its definition (sibling keys kept)."""
    if isinstance(schema, dict):
        if "$ref" in schema:
            target = defs[schema["$ref"].rsplit("/", 1)[-1]]
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            return _inline({**target, **rest}, defs)
        return {k: _inline(v, defs) for k, v in schema.items() if k != "$defs"}
    if isinstance(schema, list):
        return [_inline(v, defs) for v in schema]
    return schema


def _query_params(dependant: Dependant) -> Iterator[QueryParams[Any]]:
    for sub in dependant.dependencies:
        call = sub.call
        owner = getattr(call, "__self__", call)  # QueryParams, or its bound refuse_unknown
        if isinstance(owner, QueryParams):
            yield owner
        yield from _query_params(sub)


def document_query_parameters(router: APIRouter) -> None:
    """Write each route's query parameters into its OpenAPI operation, from its models.

    Call it before the router is included in the app. Every documented route must declare a
    `QueryParams` (`NO_QUERY` when it takes none), so that no route accepts an unknown
    parameter silently; a route without one fails here, at start-up.
    """
    for route in router.routes:
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        found = list(_query_params(route.dependant))
        if not found:
            raise TypeError(f"route {route.path} declares no QueryParams (use NO_QUERY)")
        params: dict[str, dict[str, Any]] = {}
        for query in found:
            for param in query.openapi():
                params.setdefault(param["name"], param)
        extra = dict(route.openapi_extra or {})  # routers outlive apps: written, not appended
        others = [p for p in extra.pop("parameters", []) if p.get("in") != "query"]
        if others or params:
            extra["parameters"] = [*others, *params.values()]
        route.openapi_extra = extra or None


NO_QUERY = QueryParams(NoQuery)
