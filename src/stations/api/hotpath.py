"""The riders' hot routes answered in a lean layer, before the framework's stack.

For a plain ``GET /api/nearest`` (or ``/api/within``) the framework's work (middleware layers,
route matching over every route, dependency solving) costs more than the query itself at
1,000,000 stations (see the README's API benchmark). `stations.api.app.StationsApp` asks this
layer first; it answers exactly those requests with the functions the FastAPI routes use
(`queries.HOT_ROUTES`): the same query-string reader (`stations.api.strict.query_pairs`) and
parser (`stations.api.params`), error answers (`stations.api.errors.error_answer`), headers
(`stations.api.responses`) and bytes. Anything
else (another path or method, a cross-origin request that needs CORS headers, a request with
a body) goes through the framework untouched, and ``STATIONS_HOT_PATH=false`` turns the layer
off. A test compares both paths answer for answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from starlette.types import Scope, Send

from stations.api.errors import error_answer
from stations.api.responses import GEOJSON, NO_CACHE, SECURITY_HEADERS, encode
from stations.api.state import Services
from stations.api.strict import query_pairs

__all__ = ["Answer", "HotPath", "query_pairs"]

Answer = Callable[[Services, list[tuple[str, str]]], Awaitable[bytes]]

_JSON = b"application/json"
_GEOJSON = GEOJSON.encode()


class HotPath:
    """Answers plain GETs of ``routes`` directly (`StationsApp` asks it first).

    Parameters
    ----------
    routes
        Path → function computing the GeoJSON answer from the query string's pairs.
    services
        The app's shared state the functions read (settings, the catalog holder).
    """

    def __init__(self, routes: Mapping[str, Answer], services: Services) -> None:
        self.routes = routes
        self.services = services
        self.ok_headers = _raw(NO_CACHE) + SECURITY_HEADERS  # encoded once, not per answer

    async def handle(self, scope: Scope, send: Send) -> bool:
        """Answer the request if it is a plain GET of a hot route; False: not ours."""
        if scope["type"] == "http" and scope["method"] == "GET":
            answer = self.routes.get(scope["path"])
            if answer is not None and _plain(scope["headers"]):
                await self._answer(answer, scope, send)
                return True
        return False

    async def _answer(self, answer: Answer, scope: Scope, send: Send) -> None:
        media, tail = _GEOJSON, self.ok_headers
        try:
            status, body = 200, await answer(self.services, query_pairs(scope["query_string"]))
        except Exception as exc:  # answered as the framework's error handlers answer
            status, payload, extra = error_answer(exc, scope["path"])
            body, media, tail = encode(payload), _JSON, _raw(extra or {}) + SECURITY_HEADERS
        raw = [(b"content-length", str(len(body)).encode()), (b"content-type", media)]
        await send({"type": "http.response.start", "status": status, "headers": raw + tail})
        await send({"type": "http.response.body", "body": body})


def _raw(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]


def _plain(headers: list[tuple[bytes, bytes]]) -> bool:
    """No Origin (CORS is the framework's job) and no body."""
    for name, _ in headers:
        if name in (b"origin", b"content-length", b"transfer-encoding"):
            return False
    return True
