"""The offline rider app: its data snapshot, its service worker (at the root scope) and manifest.

The snapshot is built once per data version and region, in a thread (a national region is
large), kept compressed, and answered with an ETag (304 when the page already has it) and
gzip when the client takes it (every browser does). sw.js and the manifest are answered
``no-cache``: the browser checks them on every visit, so a new version is found at once.
"""

from __future__ import annotations

import gzip
import hashlib
from collections import OrderedDict
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from stations.api.deps import CatalogDep, ServicesDep
from stations.api.params import BBox, QueryModel, QueryParams
from stations.api.routes.pages import Lang, LangField
from stations.api.schemas import ERRORS, json_responses
from stations.catalog import BBox as Box
from stations.catalog import Catalog
from stations.settings import Settings
from stations.web import offline

router = APIRouter(tags=["offline"], responses=ERRORS)

#: Snapshots an app keeps (by data version and region); each is the gzip of one answer.
KEPT = 4


class SnapshotQuery(QueryModel):
    """Which region to keep offline."""

    bbox: BBox = None


class ManifestQuery(QueryModel):
    """The language of the installed app."""

    lang: LangField = Lang.ZH


def _kept(request: Request) -> OrderedDict[tuple[str, object], bytes]:
    """The snapshots the app keeps (in its state: each app, each test, its own)."""
    state = request.app.state
    if not hasattr(state, "offline_snapshots"):
        state.offline_snapshots = OrderedDict()
    kept: OrderedDict[tuple[str, object], bytes] = state.offline_snapshots
    return kept


def _etag(version: str, bbox: object) -> str:
    key = f"{offline.SNAPSHOT_FORMAT}|{version}|{bbox}".encode()
    return f'W/"{hashlib.blake2b(key, digest_size=12).hexdigest()}"'


def _build(catalog: Catalog, version: str, bbox: Box | None, settings: Settings) -> bytes:
    body = orjson.dumps(
        offline.snapshot(
            catalog,
            version,
            bbox,
            settings.offline_max_stations,
            settings.timezone,
            settings.loop_max_offroute_m,
        )
    )
    return gzip.compress(body, compresslevel=6, mtime=0)


@router.get(
    "/api/offline",
    responses=json_responses(["format", "version", "fields", "stations", "loop"]),
)
async def read_offline_snapshot(
    request: Request,
    q: Annotated[SnapshotQuery, Depends(QueryParams(SnapshotQuery))],
    catalog: CatalogDep,
    services: ServicesDep,
) -> Response:
    """The open stations (in ``bbox``, WGS84) and the loop, compact, for the rider page offline."""
    version = services.holder.version
    etag = _etag(version, q.bbox)
    headers = {"ETag": etag, "Cache-Control": "no-cache", "Vary": "Accept-Encoding"}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    kept = _kept(request)
    key = (version, q.bbox)
    packed = kept.get(key)
    if packed is None:
        packed = await run_in_threadpool(_build, catalog, version, q.bbox, services.settings)
        kept[key] = packed
        while len(kept) > KEPT:
            kept.popitem(last=False)
    kept.move_to_end(key)
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return Response(packed, media_type="application/json", headers=headers)
    return Response(gzip.decompress(packed), media_type="application/json", headers=headers)


@router.get("/sw.js", include_in_schema=False)
async def read_service_worker() -> Response:
    """The rider page's service worker, at the root so that it may control the page."""
    return Response(
        offline.service_worker(),
        media_type="text/javascript",
        headers={"Cache-Control": "no-cache"},
    )


MANIFEST_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {
        "description": "A web app manifest (JSON).",
        "content": {
            "application/manifest+json": {
                "schema": {"type": "object", "required": ["name", "start_url", "icons"]}
            }
        },
    }
}


@router.get("/manifest.webmanifest", responses=MANIFEST_RESPONSES)
async def read_manifest(
    q: Annotated[ManifestQuery, Depends(QueryParams(ManifestQuery))],
) -> Response:
    """The web app manifest: installing the rider page (添加到主屏幕)."""
    return Response(
        orjson.dumps(offline.manifest(q.lang.value)),
        media_type="application/manifest+json",
        headers={"Cache-Control": "no-cache"},
    )
