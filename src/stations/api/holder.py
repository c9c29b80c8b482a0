"""The catalog a worker serves, reloaded when another process (or this one) changes the file.

Every request compares the data file's identity (inode, mtime, size: one ``stat``) with the one
it was loaded from. On a change the catalog is rebuilt in a thread, once however many requests
notice. After a quiet spell, requests wait up to `RELOAD_WAIT_S` for it (a small file reloads
within that, so a change is served at once). During a stream of writes (a reload finished less
than `BUSY_WINDOW_S` ago) they wait at most `BUSY_WAIT_S` and are otherwise answered from the data
of a moment ago while the next reload runs, so writes never stall reads for long. A file that
fails validation is not loaded: the previous data stays in service and the error is logged.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool

from stations.catalog import Catalog
from stations.errors import StationsError

log = logging.getLogger("stations.api")
RELOAD_WAIT_S = 0.1
BUSY_WINDOW_S = 1.0
BUSY_WAIT_S = 0.02


def file_version(path_version: str, loop_version: str) -> str:
    """A short ETag component from the files' identities."""
    return hashlib.blake2b(f"{path_version}|{loop_version}".encode(), digest_size=8).hexdigest()


class CatalogHolder:
    """The current catalog and how to notice that its files changed."""

    def __init__(
        self, catalog: Catalog, version: str, probe: Callable[[], str], load: Callable[[], Catalog]
    ) -> None:
        self.catalog = catalog
        self.version = version
        self._probe = probe
        self._load = load
        self._task: asyncio.Future[None] | None = None
        self._reloaded_at = -math.inf

    async def get(self) -> Catalog:
        """The catalog, reloaded first (waiting a little) if the files changed."""
        try:
            seen = self._probe()
        except OSError:
            return self.catalog  # the file is being replaced; keep serving what we have
        if seen == self.version:
            return self.catalog
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._reload(seen))
        busy = time.monotonic() - self._reloaded_at < BUSY_WINDOW_S  # writes are streaming in
        try:
            await asyncio.wait_for(
                asyncio.shield(self._task), timeout=BUSY_WAIT_S if busy else RELOAD_WAIT_S
            )
        except TimeoutError:
            pass
        return self.catalog

    async def refresh(self) -> None:
        """Reload now if the files changed, and wait for it (after this worker's own write)."""
        seen = self._probe()
        if seen == self.version:
            return
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._reload(seen))
        await asyncio.shield(self._task)
        if self.version != self._probe():  # another change landed meanwhile
            await self._reload(self._probe())

    async def _reload(self, seen: str) -> None:
        try:
            catalog = await run_in_threadpool(self._load)
        except StationsError as exc:
            log.error("data changed but is invalid; still serving the previous data: %s", exc)
            self.version = seen  # do not retry on every request; the next change retries
            return
        self.catalog, self.version = catalog, seen
        self._reloaded_at = time.monotonic()
