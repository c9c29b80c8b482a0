"""The riders' hot routes answered in a lean layer, before the framework's stack.

A plain ``GET /api/nearest`` (or ``/api/within``) costs a few hundred microseconds of
framework work (middleware layers, route matching over every route, dependency solving) on top
of the query itself; at 1,000,000 stations that was most of a request (see the README's API
benchmark). `stations.api.app.StationsApp` asks this layer first; it answers exactly those
requests by calling the same functions the FastAPI routes call (`queries.HOT_ROUTES`), with the
same error mapping (`stations.api.errors.domain_error`), headers and bytes. Anything else
(another path or method, a cross-origin request that needs CORS headers, a request with a
body) goes through the framework untouched, and ``STATIONS_HOT_PATH=false`` turns the layer
off. A test compares both paths answer for answer.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from urllib.parse import parse_qsl

from starlette.datastructures import State
from starlette.types import Scope, Send

from stations.api.errors import domain_error
from stations.api.responses import GEOJSON, encode
from stations.errors import StationsError

log = logging.getLogger("stations.api")

Answer = Callable[[State, list[tuple[str, str]]], Awaitable[bytes]]

_JSON = b"application/json"
_GEOJSON = GEOJSON.encode()


class HotPath:
    """Answers plain GETs of ``routes`` directly (`StationsApp` asks it first).

    Parameters
    ----------
    routes
        Path → function computing the GeoJSON answer from the query string's pairs.
    state
        The application state the functions read (settings, the catalog holder).
    headers
        Headers every answer carries, as the stack adds them (security headers).
    ok_headers
        Headers of a successful answer, as the routes set them (``Cache-Control``).
    """

    def __init__(
        self,
        routes: Mapping[str, Answer],
        state: State,
        headers: list[tuple[bytes, bytes]],
        ok_headers: dict[str, str],
    ) -> None:
        self.routes = routes
        self.state = state
        self.headers = headers
        self.ok_headers = _raw(ok_headers) + headers  # encoded once, not per answer

    async def handle(self, scope: Scope, send: Send) -> bool:
        """Answer the request if it is a plain GET of a hot route; False: not ours."""
        if scope["type"] == "http" and scope["method"] == "GET":
            answer = self.routes.get(scope["path"])
            if answer is not None and _plain(scope["headers"]):
                await self._answer(answer, scope, send)
                return True
        return False

    async def _answer(self, answer: Answer, scope: Scope, send: Send) -> None:
        pairs = query_pairs(scope["query_string"].decode("latin-1"))
        media, tail = _GEOJSON, self.ok_headers
        try:
            status, body = 200, await answer(self.state, pairs)
        except StationsError as exc:
            status, payload, extra = domain_error(exc)
            if status >= 500:
                log.exception("server error on %s", scope["path"], exc_info=exc)
            body, media, tail = encode(payload), _JSON, _raw(extra or {}) + self.headers
        except Exception:
            log.exception("unexpected error on %s", scope["path"])
            status, body, media = 500, b'{"detail":"internal error; see the server log"}', _JSON
            tail = self.headers
        raw = [(b"content-length", str(len(body)).encode()), (b"content-type", media)]
        await send({"type": "http.response.start", "status": status, "headers": raw + tail})
        await send({"type": "http.response.body", "body": body})


def query_pairs(query: str) -> list[tuple[str, str]]:
    """``parse_qsl(query, keep_blank_values=True)``, as Starlette reads a query string.

    A rider's query (``lon=..&lat=..&k=5``) has nothing to unquote: split it directly (~1 µs
    against ~4 µs); anything with ``%`` or ``+`` goes through `parse_qsl`.
    """
    if "%" in query or "+" in query:
        return parse_qsl(query, keep_blank_values=True)
    pairs = []
    for part in query.split("&"):
        if part:
            key, _, value = part.partition("=")
            pairs.append((key, value))
    return pairs


def _raw(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]


def _plain(headers: list[tuple[bytes, bytes]]) -> bool:
    """No Origin (CORS is the framework's job) and no body."""
    for name, _ in headers:
        if name in (b"origin", b"content-length", b"transfer-encoding"):
            return False
    return True
