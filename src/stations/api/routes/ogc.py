"""OGC API - Features, Part 1 (Core, GeoJSON) under /ogc: what QGIS, GDAL and OWSLib read."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from pydantic import Field
from starlette.responses import Response

from stations.api.deps import CatalogDep, SettingsDep
from stations.api.params import BBox, Offset, QueryModel, QueryParams
from stations.api.responses import GEOJSON, ORJSONResponse, cached
from stations.api.schemas import ERRORS, geojson_responses, json_responses
from stations.api.strict import MAX_OFFSET, CollectionId, FeatureId
from stations.catalog import Catalog
from stations.errors import InvalidInput, StationNotFound
from stations.features import QueryContext, station_feature
from stations.models import Station

router = APIRouter(prefix="/ogc", tags=["OGC API - Features"], responses=ERRORS)

CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
]
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
COLLECTIONS = {
    "stations": (
        "Rest stations 工会驿站",
        "Union rest stations, warm stations and cold-drink fridges.",
    ),
    "loop": ("178 loop 178环线", "The 178 scenic loop road around Jinfo Mountain (schematic)."),
}
Format = Annotated[str | None, Field(max_length=64, description="Output format: json.")]


class FormatQuery(QueryModel):
    """The output format, the only parameter of most OGC pages."""

    f: Format = None


class ItemsQuery(QueryModel):
    """Parameters of a collection's items."""

    bbox: BBox = None
    limit: int = Field(
        default=10,
        ge=1,
        le=MAX_OFFSET,
        description="Page size; above the maximum (STATIONS_OGC_MAX_LIMIT, 10000) it is clamped "
        "to it.",
    )
    offset: Offset = 0
    f: Format = None


FormatParams = Annotated[FormatQuery, Depends(QueryParams(FormatQuery))]


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/ogc"


def _check_format(f: str | None) -> None:
    if f not in (None, "json", "geojson", "application/geo+json", "application/json"):
        raise InvalidInput(f"f must be json; got {f!r}")


def _collection(request: Request, catalog: Catalog, cid: str) -> dict[str, Any]:
    title, description = COLLECTIONS[cid]
    if cid == "stations":
        bbox = list(catalog.extent() or (-180.0, -90.0, 180.0, 90.0))
    else:
        assert catalog.loop is not None
        bbox = list(catalog.loop.bbox)
    base = _base(request)
    return {
        "id": cid,
        "title": title,
        "description": description,
        "itemType": "feature",
        "crs": [CRS84],
        "extent": {"spatial": {"bbox": [bbox], "crs": CRS84}},
        "links": [
            {"href": f"{base}/collections/{cid}", "rel": "self", "type": "application/json"},
            {
                "href": f"{base}/collections/{cid}/items",
                "rel": "items",
                "type": GEOJSON,
                "title": title,
            },
        ],
    }


def _ids(catalog: Catalog) -> list[str]:
    return [c for c in COLLECTIONS if c != "loop" or catalog.loop is not None]


def _require(catalog: Catalog, cid: str) -> None:
    if cid not in _ids(catalog):
        raise StationNotFound(f"no collection {cid!r}; collections: {', '.join(_ids(catalog))}")


@router.get(
    "", response_class=ORJSONResponse, response_model=None, responses=json_responses(["links"])
)
async def read_landing_page(request: Request, q: FormatParams) -> ORJSONResponse:
    """Landing page with links to the API definition, conformance and collections."""
    _check_format(q.f)
    base = _base(request)
    root = str(request.base_url).rstrip("/")
    return ORJSONResponse(
        {
            "title": "stations: rest stations on Nanchuan's 178 loop",
            "description": "OGC API - Features over the union rest stations and the 178 loop.",
            "links": [
                {"href": base, "rel": "self", "type": "application/json", "title": "this document"},
                {
                    "href": f"{root}/openapi.json",
                    "rel": "service-desc",
                    "type": "application/vnd.oai.openapi+json;version=3.1",
                    "title": "API definition",
                },
                {
                    "href": f"{root}/docs",
                    "rel": "service-doc",
                    "type": "text/html",
                    "title": "API documentation",
                },
                {
                    "href": f"{base}/conformance",
                    "rel": "conformance",
                    "type": "application/json",
                    "title": "conformance classes",
                },
                {
                    "href": f"{base}/collections",
                    "rel": "data",
                    "type": "application/json",
                    "title": "collections",
                },
            ],
        }
    )


@router.get(
    "/conformance",
    response_class=ORJSONResponse,
    response_model=None,
    responses=json_responses(["conformsTo"]),
)
async def read_conformance(q: FormatParams) -> ORJSONResponse:
    """The conformance classes this server implements."""
    _check_format(q.f)
    return ORJSONResponse({"conformsTo": CONFORMANCE})


@router.get(
    "/collections",
    response_class=ORJSONResponse,
    response_model=None,
    responses=json_responses(["collections", "links"]),
)
async def read_collections(
    request: Request, q: FormatParams, catalog: CatalogDep
) -> ORJSONResponse:
    """The feature collections: stations and loop."""
    _check_format(q.f)
    return ORJSONResponse(
        {
            "links": [
                {"href": f"{_base(request)}/collections", "rel": "self", "type": "application/json"}
            ],
            "collections": [_collection(request, catalog, c) for c in _ids(catalog)],
        }
    )


@router.get(
    "/collections/{collection_id}",
    response_class=ORJSONResponse,
    response_model=None,
    responses=json_responses(["id", "links"]),
)
async def read_collection(
    request: Request, collection_id: CollectionId, q: FormatParams, catalog: CatalogDep
) -> ORJSONResponse:
    """One collection's description, extent and links."""
    _check_format(q.f)
    _require(catalog, collection_id)
    return ORJSONResponse(_collection(request, catalog, collection_id))


def _loop_feature(catalog: Catalog) -> dict[str, Any]:
    loop = catalog.loop
    assert loop is not None
    props = {k: v for k, v in loop.properties.items() if not isinstance(v, list | dict)}
    props["geometric_length_m"] = round(loop.length_m, 1)
    return loop.feature(props, geometry_last=True)


def _matches(catalog: Catalog, cid: str, bbox: Any) -> Sequence[Station | None]:
    """What a collection holds inside ``bbox``: stations, or [None] standing for the loop."""
    if cid == "stations":
        return catalog.select(bbox=bbox)  # made only for the page shown
    assert catalog.loop is not None
    x0, y0, x1, y1 = catalog.loop.bbox
    if bbox is not None and (bbox[2] < x0 or bbox[0] > x1 or bbox[3] < y0 or bbox[1] > y1):
        return []
    return [None]


def _render(catalog: Catalog, item: Station | None, ctx: QueryContext) -> dict[str, Any]:
    if item is None:
        return _loop_feature(catalog)
    return station_feature(catalog, item, ctx=ctx, links=False)


def _collection_link(request: Request, cid: str) -> dict[str, str]:
    return {
        "href": f"{_base(request)}/collections/{cid}",
        "rel": "collection",
        "type": "application/json",
    }


@router.get(
    "/collections/{collection_id}/items",
    response_class=ORJSONResponse,
    response_model=None,
    responses=geojson_responses("FeatureCollection", GEOJSON),
)
async def read_items(
    request: Request,
    collection_id: CollectionId,
    q: Annotated[ItemsQuery, Depends(QueryParams(ItemsQuery))],
    catalog: CatalogDep,
    settings: SettingsDep,
) -> Response:
    """Features of a collection, filtered by bbox, paged with limit/offset and next/prev links."""
    _check_format(q.f)
    _require(catalog, collection_id)
    # A limit above the maximum is clamped to it (OGC API - Features Part 1, 7.15.3).
    limit, offset = min(q.limit, settings.ogc_max_limit), q.offset
    matched = _matches(catalog, collection_id, q.bbox)
    ctx = QueryContext(tz=settings.timezone)
    page = [_render(catalog, item, ctx) for item in matched[offset : offset + limit]]
    url = f"{_base(request)}/collections/{collection_id}/items"
    keep = [(k, v) for k, v in request.query_params.multi_items() if k not in ("offset", "limit")]

    def link(rel: str, off: int) -> dict[str, str]:
        params = urlencode([*keep, ("limit", str(limit)), ("offset", str(off))])
        return {"href": f"{url}?{params}", "rel": rel, "type": GEOJSON}

    links = [link("self", offset), _collection_link(request, collection_id)]
    if offset + limit < len(matched):
        links.append(link("next", offset + limit))
    if offset > 0:
        links.append(link("prev", max(0, offset - limit)))
    body = {
        "type": "FeatureCollection",
        "features": page,
        "numberMatched": len(matched),
        "numberReturned": len(page),
        "timeStamp": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "links": links,
    }
    return cached(request, body)


@router.get(
    "/collections/{collection_id}/items/{feature_id}",
    response_class=ORJSONResponse,
    response_model=None,
    responses=geojson_responses("Feature", GEOJSON),
)
async def read_item(
    request: Request,
    collection_id: CollectionId,
    feature_id: FeatureId,
    q: FormatParams,
    catalog: CatalogDep,
    settings: SettingsDep,
) -> Response:
    """One feature of a collection."""
    _check_format(q.f)
    _require(catalog, collection_id)
    ctx = QueryContext(tz=settings.timezone)
    if collection_id == "stations" and feature_id in catalog.by_id:
        feature = _render(catalog, catalog.by_id[feature_id], ctx)
    elif collection_id == "loop" and feature_id == _loop_feature(catalog)["id"]:
        feature = _loop_feature(catalog)
    else:
        raise StationNotFound(f"no feature {feature_id!r} in collection {collection_id!r}")
    feature["links"] = [
        {
            "href": f"{_base(request)}/collections/{collection_id}/items/{feature_id}",
            "rel": "self",
            "type": GEOJSON,
        },
        _collection_link(request, collection_id),
    ]
    return cached(request, feature)
