"""A sliding-window count per client: what the service limits that no single request shows.

Used for wrong admin tokens (`stations.api.auth`) and for page builds a client causes
(`stations.web.pages.PageCache`). Kept in each worker's memory: with N workers a client gets at
most N x ``limit`` per window. Memory is bounded by ``max_keys`` (the oldest key forgotten first).
"""

from __future__ import annotations

import time
from collections import deque


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
