"""The app factory: settings in, a FastAPI app out; data is loaded once, in the lifespan."""

from __future__ import annotations

import gc
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from threadpoolctl import threadpool_limits

from stations import __version__
from stations.api.compaction import IdleCompaction
from stations.api.docs import mount_docs
from stations.api.errors import install_error_handlers
from stations.api.flood import FloodGuard
from stations.api.hotpath import HotPath
from stations.api.params import document_query_parameters
from stations.api.proxies import TrustedProxies
from stations.api.responses import SECURITY_HEADERS
from stations.api.routes import (
    admin,
    admin_loop,
    admin_reports,
    admin_stations,
    edit,
    offline,
    ogc,
    pages,
    planning,
    queries,
    reports,
    station_office,
)
from stations.api.routes import stations as routes
from stations.api.state import Services
from stations.catalog import Catalog
from stations.replica import holder_for
from stations.settings import Settings

#: How long a thread may hold the interpreter while another waits for it (set by the lifespan):
#: page builds run in threads (`stations.web.pages.PageCache`), and the event loop gets the
#: interpreter back within 1 ms, not the default 5 ms, when it has a request to serve.
SWITCH_INTERVAL_S = 0.001


class GuardMiddleware:
    """Security headers on every answer; bodies over ``max_body`` refused with 413.

    A body is read whole, counting its bytes, before the app sees it (every route reads its body
    whole anyway), so a chunked body with no Content-Length is refused with the same 413 as one that
    declares its length, and the routes never meet a body cut short.
    """

    def __init__(self, app: ASGIApp, max_body: int, larger: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_body = max_body
        #: path -> its own limit; these routes read and bound their bodies themselves, after
        #: checking the token (the loop's tracks: a stranger never gets to send that much).
        self.larger = larger or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Guard one HTTP exchange."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", []))
        length = headers.get(b"content-length")
        limit = self.larger.get(scope["path"], self.max_body)
        if length is not None and (not length.isdigit() or int(length) > limit):
            await _too_large(send, limit)
            return
        reads_itself = scope["path"] in self.larger
        if not reads_itself and (length is not None or b"transfer-encoding" in headers):
            first = await _read_body(receive, limit)
            if first is None:
                await _too_large(send, limit)
                return
            receive = _replay(first, receive)

        async def secure_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, receive, secure_send)


async def _read_body(receive: Receive, limit: int) -> Message | None:
    """The request body as one message, or None once it passes ``limit`` bytes.

    A disconnect while reading is passed on as it came, for the app to see.
    """
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return message
        body = message.get("body", b"")
        size += len(body)
        if size > limit:
            return None
        parts.append(body)
        if not message.get("more_body", False):
            return {"type": "http.request", "body": b"".join(parts), "more_body": False}


def _replay(first: Message, receive: Receive) -> Receive:
    """``receive`` answering ``first`` once, then as it would."""
    pending = [first]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


async def _too_large(send: Send, limit: int) -> None:
    body = f'{{"detail": "request body larger than {limit} bytes"}}'.encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class StationsApp(FastAPI):
    """The FastAPI app, with its typed shared state; hot routes are answered before its stack.

    The client address is settled first (`stations.api.proxies`), so that every layer, the
    access log included, sees the same one; then pages past the client's limit are refused
    (`stations.api.flood`, whose penalty box the server reads too).
    """

    services: Services
    hot_path: HotPath | None = None
    proxies: TrustedProxies | None = None
    flood: FloodGuard | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a hot request directly, anything else through FastAPI; HEAD as GET."""
        if self.proxies is not None and scope["type"] != "lifespan":
            self.proxies.resolve(scope)
        if scope["type"] == "http" and scope["method"] == "HEAD":
            scope, send = head_as_get(scope, send)
        if self.flood is not None and await self.flood.refuse_page(scope, send):
            return
        if self.hot_path is not None and await self.hot_path.handle(scope, send):
            return
        await super().__call__(scope, receive, send)


def head_as_get(scope: Scope, send: Send) -> tuple[Scope, Send]:
    """A HEAD request answered as its GET, headers only (RFC 9110 9.3.2; uptime checkers use it)."""

    async def headers_only(message: Message) -> None:
        if message["type"] == "http.response.body":
            message = {**message, "body": b""}
        await send(message)

    return {**scope, "method": "GET"}, headers_only


#: Every route module: the public API and pages, then the office app's.
ROUTE_MODULES = (routes, edit, reports, queries, ogc, planning, pages, offline, station_office)
OFFICE_MODULES = (admin, admin_stations, admin_loop, admin_reports)


def _include_routes(app: FastAPI) -> None:
    """Every route module's routes (query parameters documented), the docs and static files."""
    for module in (*ROUTE_MODULES, *OFFICE_MODULES):
        document_query_parameters(module.router)
        app.include_router(module.router)
    mount_docs(app)
    pages.mount_static(app)


def create_app(settings: Settings | None = None, catalog: Catalog | None = None) -> StationsApp:
    """Build the service (long because it wires every router and middleware in one place).

    Parameters
    ----------
    settings
        Configuration; by default read from ``STATIONS_*`` environment variables / ``.env``.
    catalog
        Data already loaded (``stations serve`` with one worker); by default the lifespan loads
        the files the settings name.
    """
    settings = settings or Settings()
    services = Services.from_settings(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # One OpenMP thread per worker: without the compiled `_knn`, pykdtree answers k-nearest
        # with an OpenMP pool whose wake-ups cost more than a query and contend across workers.
        threadpool_limits(1, user_api="openmp")
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        services.holder = holder_for(settings, catalog)
        # The loaded data lives as long as the worker: keep the cyclic collector from scanning
        # its millions of objects again and again while requests allocate (see gc_paused).
        gc.freeze()
        services.compaction = IdleCompaction(settings)
        yield
        await services.close()

    app = StationsApp(
        title="stations",
        version=__version__,
        description=(
            "Rest stations (工会驿站) for outdoor workers on Nanchuan's 178 loop. Coordinates are "
            "degrees in GeoJSON order (lon, lat); distances are metres on the WGS84 ellipsoid. "
            "Inputs may be WGS84, GCJ-02 (Amap) or BD-09 (Baidu) via `crs`."
        ),
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.services = services
    install_error_handlers(app)
    _include_routes(app)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["*"],
            max_age=600,
        )
    tracks = dict.fromkeys(admin_loop.TRACK_PATHS, settings.max_track_bytes)
    app.add_middleware(GuardMiddleware, max_body=settings.max_body_bytes, larger=tracks)
    app.proxies = TrustedProxies(settings.trusted_proxies) if settings.trusted_proxies else None
    app.flood = FloodGuard.from_settings(settings)
    if settings.hot_path:
        app.hot_path = HotPath(queries.HOT_ROUTES, services)
    return app
