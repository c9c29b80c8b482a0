"""One send per answer: a transport that joins the writes made in one turn of the event loop.

uvicorn writes an answer's status line and headers when the app sends ``http.response.start``
and the body when it sends ``http.response.body``: two ``send`` system calls and two TCP
segments for every answer, even when the app sends both at once, as every route here does.
On the riders' routes that second call was a tenth of a worker's time per request (the
kernel's send path, and on the client's side a second wake-up and read).
`CoalescingTransport` stands between the protocol and asyncio's socket transport: a write is
kept until the end of the current turn of the loop and then sent with every other write of
that turn, in order. Ending or aborting the connection, and asking for the buffer size, see the
kept bytes first, so nothing is reordered, lost or sent after the end; and so does the
protocol when the client ends its side (`flush` from ``eof_received``: asyncio's transport then
closes itself, without passing through here).

A body sent in parts (``more_body``) by a coroutine that awaits in between is sent part by
part, as before: only writes of the same turn are joined. Past `SEND_AT` bytes kept, they go at
once, so a large body sent without a pause still meets the socket transport's flow control
(uvicorn waits when it says its buffer is full) and is never held whole here.
"""

from __future__ import annotations

import asyncio
from typing import Any

#: Kept bytes past which a write goes out at once (the socket transport's own high-water mark).
SEND_AT = 64 * 1024


class CoalescingTransport(asyncio.Transport):
    """``transport`` with the writes of one loop turn sent together (see the module docstring).

    Parameters
    ----------
    transport
        The connection's socket transport.
    loop
        The event loop the connection runs on.
    """

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._transport = transport
        self._loop = loop
        self._kept: list[bytes] = []
        self._size = 0  # bytes kept
        self._aborted = False

    # -- writing ---------------------------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Keep ``data`` to send at the end of this turn of the loop, with the turn's others."""
        if not data:
            return
        if not self._kept:
            self._loop.call_soon(self.flush)
        kept = bytes(data)
        self._kept.append(kept)
        self._size += len(kept)
        if self._size >= SEND_AT:
            self.flush()

    def writelines(self, list_of_data: Any) -> None:
        """Keep each of ``list_of_data`` (see `write`)."""
        for data in list_of_data:
            self.write(data)

    def flush(self) -> None:
        """Send what was kept, in one write to the socket transport."""
        if not self._kept:
            return
        kept, self._kept, self._size = self._kept, [], 0
        if not self._aborted:  # a connection lost meanwhile: the socket transport drops them
            self._transport.write(kept[0] if len(kept) == 1 else b"".join(kept))

    def write_eof(self) -> None:
        """Send what was kept, then end our side of the connection."""
        self.flush()
        self._transport.write_eof()

    def can_write_eof(self) -> bool:
        """Whether the connection can be half-closed (TCP: yes)."""
        return self._transport.can_write_eof()

    def get_write_buffer_size(self) -> int:
        """Bytes not yet sent: the socket transport's buffer and what this turn kept."""
        return self._transport.get_write_buffer_size() + self._size

    def get_write_buffer_limits(self) -> tuple[int, int]:
        """The socket transport's flow-control limits."""
        return self._transport.get_write_buffer_limits()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        """Set the socket transport's flow-control limits."""
        self._transport.set_write_buffer_limits(high, low)

    # -- ending ----------------------------------------------------------------------------

    def close(self) -> None:
        """Send what was kept, then close once it is out (as asyncio's transport does)."""
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        """Close at once, dropping what was kept and what is buffered."""
        self._kept, self._size, self._aborted = [], 0, True
        self._transport.abort()

    def is_closing(self) -> bool:
        """Whether the connection is closing or closed."""
        return self._transport.is_closing()

    # -- everything else is the socket transport's -----------------------------------------

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """The socket transport's (peer name, socket...)."""
        return self._transport.get_extra_info(name, default)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        """Hand the connection to another protocol."""
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        """The connection's protocol."""
        return self._transport.get_protocol()

    def is_reading(self) -> bool:
        """Whether the connection is being read."""
        return self._transport.is_reading()

    def pause_reading(self) -> None:
        """Stop reading the connection (flow control, a held connection)."""
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        """Read the connection again."""
        self._transport.resume_reading()
