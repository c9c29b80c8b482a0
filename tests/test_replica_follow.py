"""How a replica's follower thread orders its reads and installs (`stations.replica`).

The thread is held at chosen points (`Held`), so that each interleaving is made on purpose
rather than hoped for: no assertion here depends on how fast anything runs (a held thread
makes no poll either: it waits, then does what the announcements it finds tell it).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import pgcluster
from conftest import BUNDLED_LOOP, station
from stations.catalog import Catalog
from stations.replica import ReplicaHolder, _Update
from stations.settings import Settings
from stations.storage.loading import FeatureCache
from stations.storage.postgres import PostgresStore
from stations.storage.postgres.store import PostgresStore as Store

WAIT_S = 60  # a bound against hanging, never reached when the code is right


class Held(ReplicaHolder):
    """A replica whose thread can be held before it waits for NOTIFY and after each read."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.events: list[tuple[Any, ...]] = []
        self.hold_wait = threading.Event()  # set: hold the next wait for notifications
        self.hold_read = threading.Event()  # set: hold after the next read
        self.waiting = threading.Event()  # the thread is held before waiting
        self.read = threading.Event()  # the thread is held after a read
        self.go = threading.Event()
        super().__init__(*args, **kwargs)

    def _hold(self, arm: threading.Event, signal: threading.Event) -> None:
        if arm.is_set() and threading.current_thread() is self._thread:
            arm.clear()
            signal.set()
            assert self.go.wait(WAIT_S)
            self.go.clear()

    def _notes(self, conn: Any, poll: float) -> None:
        if threading.current_thread() is self._thread:
            self.events.append(("wait",))
        self._hold(self.hold_wait, self.waiting)
        super()._notes(conn, poll)

    def _fetch(self, source: PostgresStore, reload: bool = False) -> _Update:
        update = super()._fetch(source, reload)
        if threading.current_thread() is self._thread:
            self.events.append(("read", update.base.seq, update.position.seq))
        self._hold(self.hold_read, self.read)
        return update

    def _install(self, update: _Update) -> bool:
        done = super()._install(update)
        if threading.current_thread() is self._thread:
            self.events.append(("install", done))
        return done


def release(holder: Held, held: threading.Event) -> None:
    """Let the thread go on from where ``held`` says it waits."""
    held.clear()
    holder.go.set()


@pytest.fixture
def follower() -> Iterator[tuple[Held, Store]]:
    """A replica of the bundled stations (no event loop: its thread installs), and a writer."""
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=pgcluster.bundled_database(),
        loop_path=BUNDLED_LOOP,
    )
    cache = FeatureCache()
    holder = Held(Catalog.from_settings(settings, cache), settings, cache)
    try:
        yield holder, Store(settings.database_url or "")
    finally:
        holder.go.set()
        holder.close()


def test_announcements_read_during_a_catch_up_that_lost_its_install_are_applied(follower):
    """A write's catch-up (`refresh`) installs an older read while the thread read further.

    The thread consumed the announcements of both writes before reading, so none is left to
    wake it: it must read again from where the other install left it, not wait for the poll.
    """
    holder, store = follower
    holder.hold_wait.set()
    assert holder.waiting.wait(WAIT_S)  # started, caught up, about to wait for NOTIFY
    start = holder.position.seq
    store.create(station("first", 107.2, 28.95), "test")
    early = holder._fetch(holder._primary)  # what this worker's refresh read after "first"
    store.create(station("second", 107.3, 28.95), "test")
    holder.hold_read.set()
    release(holder, holder.waiting)  # both announcements are waiting: read together
    assert holder.read.wait(WAIT_S)
    assert holder.events[-1] == ("read", start, start + 2)
    assert holder._install(early)  # the refresh installs first, from its older read
    holder.hold_wait.set()
    release(holder, holder.read)
    assert holder.waiting.wait(WAIT_S)  # the thread is done and waits for NOTIFY again
    tail = holder.events[holder.events.index(("read", start, start + 2)) :]
    assert tail == [
        ("read", start, start + 2),
        ("install", False),
        ("read", start + 1, start + 2),  # at once, from the refresh's position
        ("install", True),
        ("wait",),
    ]
    assert holder.position.seq == start + 2
    assert {"first", "second"} <= set(holder.catalog.by_id)
    release(holder, holder.waiting)


def _tracked(obj: object) -> bool:
    """Whether the cyclic collector would scan ``obj`` (frozen objects it never scans)."""
    return any(o is obj for o in gc.get_objects())


def test_loaded_and_reloaded_catalogs_are_kept_out_of_the_collectors_scans(follower):
    """As a served worker's: a full collection would scan millions of objects, GIL held."""
    holder, _ = follower
    holder.hold_wait.set()
    assert holder.waiting.wait(WAIT_S)  # the thread stays out of the way
    assert not _tracked(holder.catalog)
    reloaded = holder._fetch(holder._store, reload=True)
    assert reloaded.catalog is not None and _tracked(reloaded.catalog)
    assert holder._install(reloaded)
    assert holder.catalog is reloaded.catalog and not _tracked(holder.catalog)
    release(holder, holder.waiting)
