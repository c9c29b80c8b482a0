"""What keeps one client from starving the others: pages per client, and the penalty box.

A rider opens a page a few times a ride and then asks `/api/nearest`; a flooder asks for pages
hundreds of times a second or sends request heads of megabytes. Each refused request still
costs a worker a read, a parse and an answer on the same event loop as the riders' queries, so
refusing is not enough: past a few dozen refusals the address is put in a *penalty box*.

- Pages (`PAGE_PATHS`), cached or not, are limited per client address and worker
  (STATIONS_PAGE_REQUESTS_PER_MINUTE); past it a 429 is answered here, before the framework.
- Every such 429, every page build refused (`stations.web.pages.PageBuildsLimited`) and every
  oversized head (431, `stations.api.server`) is a strike; STATIONS_PENALTY_STRIKES strikes in
  a minute put the address in the box for STATIONS_PENALTY_S seconds, logged once.
- While in the box, the server (`stations.api.server.GuardedHttpProtocol`) stops serving each
  of the address's connections as soon as its request line shows something other than a
  rider's query (`RIDER_PATHS`): nothing is parsed further or answered, the connection is held
  unread until its head time is up (STATIONS_HEADER_TIMEOUT_S; at most `MAX_HELD` at once per
  worker, then closed at once) and then reset, so the flooder waits instead of reconnecting.
  Riders' queries from the address are still served, so riders behind the same carrier NAT as
  a flooder keep finding stations.

The client address is the one `stations.api.proxies` settles: the peer, or behind a trusted
proxy the forwarded client (never the proxy, whose address all its clients share).
"""

from __future__ import annotations

import logging

from starlette.types import Scope, Send

from stations.api.responses import SECURITY_HEADERS, encode
from stations.limits import PenaltyBox, WindowLimit
from stations.settings import Settings

#: The pages a person opens (built HTML, `stations.api.routes.pages`).
PAGE_PATHS = frozenset({"/", "/map", "/embed"})
#: What an address in the penalty box is still served: riders' queries.
RIDER_PATHS = (b"/api/nearest", b"/api/within")
#: The window of the page limit and of the strikes.
WINDOW_S = 60.0
#: Connections from boxed addresses a worker holds at once (each is an open socket).
MAX_HELD = 256

log = logging.getLogger("stations.server")


class FloodGuard:
    """The page limit and the penalty box of one worker (see the module docstring)."""

    def __init__(self, pages: WindowLimit, penalties: PenaltyBox, max_held: int = MAX_HELD) -> None:
        self.pages = pages
        self.penalties = penalties
        self.max_held = max_held
        self.held = 0  # connections from boxed addresses held open now (by the server)

    @classmethod
    def from_settings(cls, settings: Settings) -> FloodGuard:
        """The guard these settings describe."""
        return cls(
            WindowLimit(settings.page_requests_per_minute, WINDOW_S),
            PenaltyBox(settings.penalty_strikes, WINDOW_S, settings.penalty_s),
        )

    def strike(self, address: str, why: str) -> None:
        """Count a refusal of ``address``; log once when it puts the address in the box."""
        if self.penalties.strike(address):
            log.warning(
                "penalty box: %s for %g s after %s (only riders' queries are served to it)",
                address,
                self.penalties.penalty_s,
                why,
            )

    async def refuse_page(self, scope: Scope, send: Send) -> bool:
        """Answer 429 to a page request past the client's limit; False: let it through."""
        if scope["type"] != "http" or scope["path"] not in PAGE_PATHS:
            return False
        client = scope["client"][0] if scope.get("client") else "unknown"
        wait = self.pages.retry_after(client)
        if wait is None:
            self.pages.hit(client)
            return False
        self.strike(client, "too many page requests")
        body = encode({"detail": too_many_pages(wait)})
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", b"%d" % len(body)),
            (b"retry-after", b"%d" % wait),
            (b"cache-control", b"no-store"),
            *SECURITY_HEADERS,
        ]
        await send({"type": "http.response.start", "status": 429, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return True


def too_many_pages(wait: int) -> str:
    """The 429's detail, in English and Chinese (a rider may read it)."""
    return (
        f"too many page requests from this address: try again in {wait} s "
        f"(此地址请求页面过多，请 {wait} 秒后再试)"
    )


def rider_query(target: bytes, complete: bool) -> bool:
    """Whether a request target (so far, unless ``complete``) can be a rider's query."""
    path, query_follows, _ = target.partition(b"?")
    if query_follows or complete:
        return path in RIDER_PATHS
    return any(rider.startswith(path) for rider in RIDER_PATHS)
