"""The HTTP server's own limits: request heads bounded in size, count and time.

`stations serve` runs uvicorn with httptools, which by itself accepts a header of any size
(buffering it whole before the app sees it) and waits forever for a head that never ends (a
slowloris client) or for a body that never comes. `GuardedHttpProtocol` is uvicorn's httptools
protocol with those limits (STATIONS_MAX_HEADER_BYTES, STATIONS_MAX_HEADERS,
STATIONS_HEADER_TIMEOUT_S, STATIONS_BODY_TIMEOUT_S):

- a head larger than the limit, or with too many fields, is answered 431 and the connection
  closed; the size is checked as bytes arrive, so at most one read past the limit is buffered;
- the whole head must arrive within the head timeout, counted from the connection or from the
  previous answer (data trickling in does not restart it, unlike uvicorn's keep-alive timer);
  past it the client gets 408 and the connection is closed;
- a body must arrive within the body timeout once its head is in; past it the connection is
  closed (the app sees the client disconnect);
- an oversized head is a strike towards the client's penalty box, and a request from an address
  in the box is cut off as soon as its request line shows it is not a rider's query: read no
  further, unanswered, held until the head timeout and then reset (`stations.api.flood`, whose
  guard the app holds). Behind a trusted proxy the box is the forwarded client's, read once the
  head is in, and its refusal is a 429: the proxy's connection is shared by all its clients.

uvicorn imports the class by name (`PROTOCOL`) in each worker, which reads the limits from
its settings like the app does.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from functools import cache
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from stations.api.coalesce import CoalescingTransport
from stations.api.flood import FloodGuard, rider_query
from stations.api.proxies import TrustedProxies
from stations.settings import Settings

#: The statuses the server answers itself.
REASONS = {
    408: b"Request Timeout",
    429: b"Too Many Requests",
    431: b"Request Header Fields Too Large",
}

#: The detail of a 429 to a penalised client behind a trusted proxy (riders may read it).
PENALISED = (
    "too many refused requests from this address: try again later (此地址请求过多，请稍后再试)"
)

#: What `stations serve` passes to uvicorn as its HTTP protocol.
PROTOCOL = "stations.api.server:GuardedHttpProtocol"

#: How long, and how many bytes, a refused connection is read and dropped before it is closed
#: (see `_linger`).
LINGER_S = 1.0
LINGER_BYTES = 65_536

log = logging.getLogger("stations.server")


@dataclass(frozen=True)
class ServerLimits:
    """Limits on what one connection may send (see the module docstring)."""

    max_header_bytes: int
    max_headers: int
    header_timeout_s: float
    body_timeout_s: float

    @classmethod
    def from_settings(cls, settings: Settings) -> ServerLimits:
        """The limits these settings give."""
        return cls(
            settings.max_header_bytes,
            settings.max_headers,
            settings.header_timeout_s,
            settings.body_timeout_s,
        )


@cache
def configured_limits() -> ServerLimits:
    """The limits of this process's settings (read once)."""
    return ServerLimits.from_settings(Settings())


class _Refused(Exception):
    """Raised in a parser callback to stop parsing a request that is refused."""


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with limits on head size, field count and time."""

    limits: ServerLimits | None = None  # None: the configured limits

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bounds = self.limits or configured_limits()
        self._in_head = True  # waiting for (the rest of) a request head
        self._head_read = 0  # bytes read while the current head stayed incomplete
        self._message_ended = False  # a request ended during the current read
        self._refusal: tuple[int, str] | None = None
        self._lingering = False
        self._dropped = 0  # bytes read and dropped while lingering
        # One periodic check per connection instead of a timer armed and cancelled for every
        # request: a request only stamps when its phase began (see `_check`).
        self._phase: float | None = None  # how long the current phase may last (None: no limit)
        self._since = 0.0  # when it began (loop time)
        self._ticker: asyncio.TimerHandle | None = None
        app = _stations_app(self.app)
        self.guard: FloodGuard | None = getattr(app, "flood", None)
        self.proxies: TrustedProxies | None = getattr(app, "proxies", None)
        self._cut = False  # this request is from an address in the penalty box: not served
        self._suspect = False  # the current request's peer is in the penalty box
        self._held = False  # a cut connection held unread until its head time is up (`_hold`)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """A new connection: its first head must come within the head timeout.

        Its answers go out in one write each (`CoalescingTransport`).
        """
        super().connection_made(CoalescingTransport(transport, self.loop))
        self._arm(self.bounds.header_timeout_s)
        every = max(0.05, min(self.bounds.header_timeout_s, self.bounds.body_timeout_s) / 4)
        self._tick_s = min(every, LINGER_S / 4)
        self._ticker = self.loop.call_later(self._tick_s, self._check)

    def eof_received(self) -> None:
        """The client ended its side: answers kept for this loop turn go out before the close.

        (asyncio's transport closes itself when this returns None, not through the wrapper.)
        """
        if isinstance(self.transport, CoalescingTransport):
            self.transport.flush()

    def connection_lost(self, exc: Exception | None) -> None:
        """The connection is gone: no timer outlives it, and a held connection is released."""
        if self._held and self.guard is not None:
            self._held = False
            self.guard.held -= 1
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Parse ``data`` (as uvicorn does), refusing a head past its size limit."""
        if self._lingering:
            self._dropped += len(data)
            if self._dropped > LINGER_BYTES:
                self.transport.close()
            return
        self._unset_keepalive_if_required()
        self._message_ended = False
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError:
            if self._cut:
                self._hold()
            elif self._refusal is not None:
                self._refuse(*self._refusal)
            else:
                log.warning("Invalid HTTP request received.")
                self.send_400_response("Invalid HTTP request received.")
            return
        if self._in_head and not self._message_ended:
            self._head_read += len(data)
            if self._head_read > self.bounds.max_header_bytes:
                self._refuse(431, self._too_large())

    def on_message_begin(self) -> None:
        """A request begins: note whether its peer is in the penalty box (a dict look-up)."""
        super().on_message_begin()
        guard, peer = self.guard, self.client
        self._suspect = (
            guard is not None
            and peer is not None
            and guard.penalties.penalised(peer[0])
            and not (self.proxies is not None and self.proxies.trusts(peer[0]))
        )

    def on_url(self, url: bytes) -> None:
        """Cut off a penalised peer as soon as its target cannot be a rider's query."""
        super().on_url(url)
        if self._suspect and not rider_query(self.url, complete=False):
            self._cut = True
            raise _Refused("penalty box")

    def on_headers_complete(self) -> None:
        """The head is in: refused past the count or size limit, else handed to the app."""
        if len(self.headers) > self.bounds.max_headers:
            self._stop(431, f"more than {self.bounds.max_headers} header fields")
        size = len(self.url) + sum(len(n) + len(v) + 4 for n, v in self.headers)
        if size > self.bounds.max_header_bytes:
            self._stop(431, self._too_large())
        if self._suspect and not rider_query(self.url, complete=True):
            self._cut = True
            raise _Refused("penalty box")
        self._check_forwarded_client()
        self._in_head = False
        self._head_read = 0
        self._arm(self.bounds.body_timeout_s)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        """The request is in; the next head's time starts once it is answered."""
        self._disarm()
        self._in_head = True
        self._message_ended = True
        super().on_message_complete()

    def on_response_complete(self) -> None:
        """An answer is sent: the next head must come within the head timeout."""
        super().on_response_complete()
        if not self.transport.is_closing() and not self.pipeline:
            self._arm(self.bounds.header_timeout_s)

    def _check_forwarded_client(self) -> None:
        """Behind a trusted proxy: 429 when the forwarded client is in the penalty box."""
        guard, proxies, peer = self.guard, self.proxies, self.client
        if guard is None or proxies is None or peer is None or not len(guard.penalties):
            return
        if not proxies.trusts(peer[0]) or rider_query(self.url, complete=True):
            return
        if guard.penalties.penalised(self._client_address() or ""):
            self._stop(429, PENALISED)

    def _client_address(self) -> str | None:
        """The client as the app will see it, from the head so far; None: not known yet.

        From an untrusted peer, the peer. From a trusted proxy, the forwarded client once an
        ``X-Forwarded-For`` has arrived (never the proxy itself, which all its clients share).
        """
        if self.client is None:
            return None
        peer = self.client[0]
        if self.proxies is None or not self.proxies.trusts(peer):
            return peer
        hops = [
            hop
            for name, value in self.headers
            if name == b"x-forwarded-for"
            for hop in value.decode("latin-1").split(",")
        ]
        return self.proxies.client(peer, hops) if hops else None

    def _too_large(self) -> str:
        return f"request head larger than {self.bounds.max_header_bytes} bytes"

    def _stop(self, status: int, detail: str) -> None:
        """Stop the parser: `data_received` answers ``status`` and closes."""
        self._refusal = (status, detail)
        raise _Refused(detail)

    def _arm(self, seconds: float) -> None:
        """The current phase may last ``seconds`` from now."""
        self._phase, self._since = seconds, self.loop.time()

    def _disarm(self) -> None:
        self._phase = None

    def _check(self) -> None:
        """Every `_tick_s`: end the phase that outlasted its limit (see `_expired`)."""
        self._ticker = None
        if self.transport.is_closing():
            return
        if self._phase is not None and self.loop.time() - self._since > self._phase:
            self._phase = None
            self._expired()
        if not self.transport.is_closing():
            self._ticker = self.loop.call_later(self._tick_s, self._check)

    def _hold(self) -> None:
        """Hold a cut connection unread and unanswered until its head time is up, then reset it.

        Closing it at once would have a flooder reconnect at once: each reconnection costs a
        worker an accept, a read and a close (the kernel's reset of a socket with unread data),
        which is most of what a boxed flooder still costs. Held, the flooder's connection
        waits (its sends stop once the socket's buffer is full) and costs a timer check. At
        most `FloodGuard.max_held` connections per worker are held; past that, a reset now.
        """
        guard = self.guard
        if guard is None or guard.held >= guard.max_held:
            self.transport.abort()
            return
        guard.held += 1
        self._held = True
        self.transport.pause_reading()
        self._arm(self.bounds.header_timeout_s)

    def _expired(self) -> None:
        """A head or body did not arrive in time (or a held connection's time is up)."""
        if self.transport.is_closing():
            return
        if self._held:
            self.transport.abort()
            return
        if self._lingering:
            self.transport.close()
            return
        if self._in_head and self._head_read > 0:
            self._refuse(408, "request head not received in time")
        else:  # idle, or the app is reading the body (it sees the client disconnect)
            log.info("closing a connection whose request did not arrive in time")
            self.transport.close()

    def _refuse(self, status: int, detail: str) -> None:
        """Answer ``status`` with a JSON ``detail`` and close the connection.

        While the app is still answering an earlier request on this connection (pipelining),
        the connection is only closed: two answers must not interleave.
        """
        if status == 431 and self.guard is not None:
            client = self._client_address()
            if client is not None:
                self.guard.strike(client, "oversized request heads")
        if self._suspect:  # in the penalty box: no answer, no lingering
            self.transport.abort()
            return
        log.debug("refused a request: %s %s", status, detail)
        if self.cycle is not None and not self.cycle.response_complete:
            self.transport.close()
            return
        reason = REASONS[status]
        body = b'{"detail":"' + detail.encode() + b'"}'
        head = [b"HTTP/1.1 %d %s\r\n" % (status, reason)]
        defaults = self.server_state.default_headers
        head += [name + b": " + value + b"\r\n" for name, value in defaults]
        head += [
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        self._linger()

    def _linger(self) -> None:
        """Close once the client has stopped sending, or after `LINGER_S`.

        Closing a socket with unread data sends a reset, which can destroy the answer before
        the client reads it (a client still sending its huge head would see only the reset).
        So the answer is followed by end-of-file, and what the client still sends is read and
        dropped until it closes its side, the time is up or `LINGER_BYTES` are dropped (past
        that the client is flooding, and only the connection's end matters).
        """
        self._lingering = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self._arm(LINGER_S)


def _stations_app(app: Any) -> Any:
    """The stations app under whatever uvicorn wrapped around it (a logging middleware)."""
    for _ in range(4):
        if hasattr(app, "flood") or not hasattr(app, "app"):
            break
        app = app.app
    return app
