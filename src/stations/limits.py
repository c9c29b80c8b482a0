"""Counts per client that no single request shows: sliding windows, and the penalty box.

`WindowLimit` counts events per key in a sliding window: wrong admin tokens
(`stations.api.auth`), page builds a client causes (`stations.web.pages.PageCache`) and pages a
client asks for (`stations.api.flood`). `PenaltyBox` puts a client address that was refused too
often out of service for a while (`stations.api.flood`, `stations.api.server`). Both are kept in
each worker's memory: with N workers a client gets at most N x ``limit`` per window. Memory is
bounded by ``max_keys`` (the oldest key forgotten first).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class WindowLimit:
    """At most ``limit`` events per key (a client's address) in a sliding ``window_s`` window."""

    def __init__(self, limit: int, window_s: float, max_keys: int = 10_000) -> None:
        self.limit = limit
        self.window_s = window_s
        self.max_keys = max_keys
        self._events: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._events.get(key)
        if times is None:
            return deque()
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self._events[key]
        return times

    def __len__(self) -> int:
        return len(self._events)

    def retry_after(self, key: str, now: float | None = None) -> int | None:
        """Seconds until ``key`` may have another event, or None if it may now."""
        now = time.monotonic() if now is None else now
        times = self._recent(key, now)
        if len(times) < self.limit:
            return None
        return max(1, int(times[0] + self.window_s - now + 1))

    def hit(self, key: str, now: float | None = None) -> None:
        """Count one event of ``key``."""
        now = time.monotonic() if now is None else now
        times = self._recent(key, now)
        if not times:
            if len(self._events) >= self.max_keys:
                del self._events[next(iter(self._events))]
            self._events[key] = times
        times.append(now)


class PenaltyBox:
    """Addresses refused ``strikes`` times within ``window_s``, held for ``penalty_s``.

    A refusal (a strike) is something no rider's browser does often: an oversized request head,
    a page request far past the per-client rate. Past ``strikes`` of them in the window, the
    address is *penalised* for ``penalty_s`` seconds, and the server spends as little as it can
    on it (`stations.api.server`). ``clock`` is read for every decision (tests replace it).
    """

    def __init__(
        self,
        strikes: int,
        window_s: float,
        penalty_s: float,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        self.penalty_s = penalty_s
        self.clock = clock
        self.max_keys = max_keys
        self._strikes = WindowLimit(strikes, window_s, max_keys)
        self._until: dict[str, float] = {}

    def penalised(self, address: str) -> bool:
        """Whether ``address`` is in the box now."""
        until = self._until.get(address)
        if until is None:
            return False
        if until > self.clock():
            return True
        del self._until[address]
        return False

    def strike(self, address: str) -> bool:
        """Count one refusal of ``address``; True when it puts the address in the box."""
        if self.penalty_s <= 0 or self.penalised(address):
            return False
        now = self.clock()
        self._strikes.hit(address, now)
        if self._strikes.retry_after(address, now) is None:
            return False
        if len(self._until) >= self.max_keys:
            del self._until[next(iter(self._until))]
        self._until[address] = now + self.penalty_s
        return True

    def __len__(self) -> int:
        return len(self._until)
