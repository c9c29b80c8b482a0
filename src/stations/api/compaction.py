"""The API's idle compaction: the write journal is folded into the file once writes pause.

Every write through the API resets a timer; when nobody has written for ``compact_idle_s``
seconds, the store's `compact` runs (`storage.store.compact_store`), once per worker however
many writes it served. The lifespan starts this task holder and, at shutdown, lets a fold
under way finish.

The fold runs in a child process, not in a thread of this worker: it serialises the whole
stations file, and for a national file that holds the GIL for about a second, stalling every
read this worker serves meanwhile. The child takes the store's lock like any writer; this
worker then adopts the new snapshot without reading it (`stations.holder`).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

from stations.settings import Settings
from stations.storage.store import compact_store

log = logging.getLogger("stations.api")
#: How long shutdown waits for a fold under way (it holds the store's lock meanwhile).
SHUTDOWN_WAIT_S = 120.0


class IdleCompaction:
    """Folds the configured store's journal once writes have paused for ``compact_idle_s``.

    Parameters
    ----------
    settings
        The store to fold, and how long a pause must last (``compact_idle_s``).
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._timer: asyncio.TimerHandle | None = None
        self._folds: set[asyncio.Future[None]] = set()

    def written(self) -> None:
        """A write was made: fold once the next ``compact_idle_s`` seconds pass without one."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(
            self._settings.compact_idle_s, self._start
        )

    def _start(self) -> None:
        fold = asyncio.ensure_future(self._fold())
        self._folds.add(fold)
        fold.add_done_callback(self._folds.discard)

    async def _fold(self) -> None:
        """Run the store's compaction in a child process; log what it did."""
        settings = self._settings
        context = multiprocessing.get_context("spawn")  # no copy of this worker's threads
        pool = ProcessPoolExecutor(1, mp_context=context)
        try:
            folded = await asyncio.get_running_loop().run_in_executor(
                pool, compact_store, settings, settings.compact_idle_s
            )
        except Exception as exc:  # whatever failed in the child: logged, this worker serves on
            log.error("compaction failed: %s", exc)
            return
        finally:
            pool.shutdown(wait=False)
        if folded:
            log.info("folded %d journal lines into %s", folded, settings.stations_path)

    async def close(self) -> None:
        """At shutdown: no new fold; let one under way finish."""
        if self._timer is not None:
            self._timer.cancel()
        if self._folds:
            try:
                await asyncio.wait_for(asyncio.gather(*self._folds), timeout=SHUTDOWN_WAIT_S)
            except TimeoutError:  # pragma: no cover - a stuck child
                log.error("compaction did not finish before shutdown")
