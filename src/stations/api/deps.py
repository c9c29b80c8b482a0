"""Dependencies: parse and check request input, hand routes typed values."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from stations.api.errors import UnknownParameter
from stations.catalog import Catalog
from stations.coords import CRS
from stations.errors import InvalidInput
from stations.models import Amenity, Kind, Status
from stations.query import Filters
from stations.settings import Settings


async def get_catalog(request: Request) -> Catalog:
    """The catalog in service (reloaded when the data files change)."""
    catalog: Catalog = await request.app.state.holder.get()
    return catalog


async def get_settings(request: Request) -> Settings:
    """The app's settings."""
    settings: Settings = request.app.state.settings
    return settings


CatalogDep = Annotated[Catalog, Depends(get_catalog)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


_ALLOWED: dict[int, frozenset[str]] = {}


def _query_names(dependant: Dependant) -> set[str]:
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


async def reject_unknown_parameters(request: Request) -> None:
    """Refuse query parameters the route does not declare (a typo should not pass silently)."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    allowed = _ALLOWED.get(id(route))
    if allowed is None:
        allowed = _ALLOWED[id(route)] = frozenset(_query_names(route.dependant))
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        listed = ", ".join(sorted(allowed)) or "none"
        raise UnknownParameter(
            f"unknown query parameter(s) {', '.join(unknown)}; allowed: {listed}"
        )


CrsParam = Annotated[
    CRS,
    Query(
        description="Coordinate system of lon/lat and of the answer's geometry: wgs84 (GPS), "
        "gcj02 (Amap, Tencent, WeChat) or bd09 (Baidu)."
    ),
]


async def list_filters(
    kind: Annotated[list[Kind] | None, Query(description="Only these kinds (repeatable).")] = None,
    amenity: Annotated[
        list[Amenity] | None,
        Query(description="Only stations offering all of these (repeatable), e.g. toilet."),
    ] = None,
    status: Annotated[
        list[Status] | None,
        Query(description="Only these statuses (repeatable): open, closed, planned. Default: all."),
    ] = None,
    open_now: Annotated[
        bool,
        Query(
            description="Drop stations known to be closed now (Asia/Shanghai); stations with "
            "unknown hours stay, marked open_now=null."
        ),
    ] = False,
) -> Filters:
    """Filters of the planners' listing: every status unless asked otherwise."""
    return Filters(
        kinds=kind or (), amenities=amenity or (), statuses=status or (), open_now=open_now
    )


ListFiltersDep = Annotated[Filters, Depends(list_filters)]


def parse_bbox(value: str | None) -> tuple[float, float, float, float] | None:
    """Parse ``minlon,minlat,maxlon,maxlat`` (WGS84 degrees)."""
    if value is None:
        return None
    parts = value.split(",")
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


async def bbox_query(
    bbox: Annotated[
        str | None,
        Query(
            description="minlon,minlat,maxlon,maxlat in WGS84 degrees.",
            examples=["107,28.8,107.5,29.2"],
        ),
    ] = None,
) -> tuple[float, float, float, float] | None:
    """The bbox parameter, checked."""
    return parse_bbox(bbox)


BBoxDep = Annotated[tuple[float, float, float, float] | None, Depends(bbox_query)]
