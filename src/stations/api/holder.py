"""The catalog a worker serves, reloaded when another process (or this one) changes the file.

Every request compares the data file's identity (inode, mtime, size: one ``stat``) with the one
it was loaded from. On a change the catalog is rebuilt in a thread, once however many requests
notice; requests wait up to `RELOAD_WAIT_S` for it (a small file reloads within that, so the
change is served at once) and otherwise go on with the previous data, so a large reload never
stalls reads for long. A file that fails validation is not loaded: the previous data
stays in service and the error is logged.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool

from stations.catalog import Catalog
from stations.errors import StationsError

log = logging.getLogger("stations.api")
RELOAD_WAIT_S = 0.1


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
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout=RELOAD_WAIT_S)
        except TimeoutError:
            pass
        return self.catalog

    async def _reload(self, seen: str) -> None:
        try:
            catalog = await run_in_threadpool(self._load)
        except StationsError as exc:
            log.error("data changed but is invalid; still serving the previous data: %s", exc)
            self.version = seen  # do not retry on every request; the next change retries
            return
        self.catalog, self.version = catalog, seen
