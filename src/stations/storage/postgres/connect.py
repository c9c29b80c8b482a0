"""Connections to the PostgreSQL store: one small pool per process and URL, and clear failures.

A store handle is opened per write (`storage.store.open_store`), so connections are pooled
(psycopg_pool) per process: a handle costs nothing and a write reuses a connection. A pool made
before a ``fork`` is not reused by the child. Every pooled connection decodes ``json`` with
orjson (the same decoder as the GeoJSON store's files) and is checked before it is handed out,
so a connection the server dropped (a restart) is replaced rather than failing a write.

A database that cannot be reached raises `StoreUnavailable` naming the URL without its
password (`redacted`); the API answers it with 503.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson
import psycopg
from psycopg.types.json import set_json_loads
from psycopg_pool import ConnectionPool

from stations.errors import DataError, StoreUnavailable
from stations.storage.postgres.schema import CURRENT, version_of

#: Seconds to wait for a connection (from the pool, or a new one) before giving up.
CONNECT_TIMEOUT_S = 5
_POOLS: dict[tuple[int, str], ConnectionPool[psycopg.Connection[Any]]] = {}
_LOCK = threading.Lock()

Connection = psycopg.Connection[Any]

# The pool logs every failed reconnection attempt; while the database is away that is a line
# every few seconds per worker. The store reports the outage itself (`StoreUnavailable`, and
# the replica's log line when it is lost and when it is back).
logging.getLogger("psycopg.pool").setLevel(logging.ERROR)


def redacted(url: str) -> str:
    """``url`` without its password (safe for logs and messages)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "postgresql://…"
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[-1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def unavailable(url: str, exc: BaseException) -> StoreUnavailable:
    """The error raised when the database at ``url`` cannot be reached (one line, no password)."""
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return StoreUnavailable(f"the database {redacted(url)} cannot be reached: {reason}")


def _configure(conn: Connection) -> None:
    set_json_loads(orjson.loads, conn)


def _pool(url: str) -> ConnectionPool[Connection]:
    """The pool of this process for ``url``, made after one direct connection succeeds.

    The direct connection fails at once with the server's own reason (refused, unknown
    database, bad password), where an empty pool would wait `CONNECT_TIMEOUT_S` and only
    say it got no connection.
    """
    key = (os.getpid(), url)
    pool = _POOLS.get(key)
    if pool is None:
        with _LOCK:
            pool = _POOLS.get(key)
            if pool is None:
                connect(url).close()
                pool = ConnectionPool(
                    url,
                    min_size=1,
                    max_size=4,
                    open=True,
                    timeout=CONNECT_TIMEOUT_S,
                    kwargs={"connect_timeout": CONNECT_TIMEOUT_S},
                    configure=_configure,
                    check=ConnectionPool.check_connection,
                    name="stations",
                )
                _POOLS[key] = pool
    return pool


@contextmanager
def connection(url: str) -> Iterator[Connection]:
    """A pooled connection to ``url`` in a transaction (committed on success, else rolled back).

    Raises `StoreUnavailable` if the database cannot be reached or drops the connection.
    """
    try:
        with _pool(url).connection() as conn:
            yield conn
    except psycopg.OperationalError as exc:
        raise unavailable(url, exc) from None


def connect(url: str, autocommit: bool = True) -> Connection:
    """A connection of its own (not pooled): for LISTEN, upgrades and bulk copies."""
    try:
        conn = psycopg.connect(url, autocommit=autocommit, connect_timeout=CONNECT_TIMEOUT_S)
    except psycopg.OperationalError as exc:
        raise unavailable(url, exc) from None
    _configure(conn)
    return conn


def check_schema(conn: Connection, url: str) -> None:
    """Refuse a database whose schema is not this code's (`DataError` saying what to run)."""
    have = version_of(conn)
    if have < CURRENT:
        raise DataError(
            redacted(url),
            [
                f"the database schema is at version {have}, this program needs "
                f"{CURRENT}: run `stations db upgrade`"
            ],
        )
    if have > CURRENT:
        raise DataError(
            redacted(url),
            [f"the database schema is at version {have}, newer than this program's "
             f"({CURRENT}): upgrade the program"],
        )  # fmt: skip


def close_pools() -> None:
    """Close this process's pools (tests, and a server shutting down)."""
    with _LOCK:
        for key in [k for k in _POOLS if k[0] == os.getpid()]:
            _POOLS.pop(key).close()
