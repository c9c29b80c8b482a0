"""A throwaway PostgreSQL/PostGIS cluster for the tests: initdb and pg_ctl in a temporary folder.

Tests never use a PostgreSQL they did not start. The cluster listens on 127.0.0.1 on a free
port and on a unix socket in its own folder, with ``trust`` authentication for the one user
``stations`` (a superuser, so that ``CREATE EXTENSION postgis`` runs). PostgreSQL refuses to
run as root: when the tests run as root (CI does) the server's folder is handed to the
unprivileged user ``nobody`` and every server command runs through ``runuser -u nobody``.

One cluster serves the whole test run (`shared_cluster`, stopped when the run ends); each test
gets its own database (`Cluster.new_database`), copied from a template that holds the schema
and the bundled stations, which takes a few tens of milliseconds.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg

from stations.settings import DEFAULT_GEODATA
from stations.storage.postgres import PostgresStore, schema
from stations.storage.postgres.connect import close_pools

BUNDLED = DEFAULT_GEODATA / "stations.geojson"
USER = "stations"
TEMPLATE = "stations_template"


def _bin_dir() -> Path:
    """The newest installed PostgreSQL's programs (Debian keeps them off the PATH)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: p.parent.parent)
    if found:
        return found[-1].parent
    on_path = shutil.which("pg_ctl")
    if on_path is None:
        raise RuntimeError(
            "PostgreSQL is not installed: apt-get install postgresql postgresql-15-postgis-3 "
            "(.ci/run does)"
        )
    return Path(on_path).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Cluster:
    """One PostgreSQL server started by the tests (see the module docstring)."""

    def __init__(self, root: Path | None = None, durable: bool = False) -> None:
        self.root = Path(root or tempfile.mkdtemp(prefix="stations-pg-"))
        self.root.chmod(0o755)
        self.data = self.root / "data"
        self.socket_dir = self.root / "run"
        self.log = self.root / "server.log"
        self.port = _free_port()
        self.bin = _bin_dir()
        self._names = itertools.count(1)
        self._as_root = os.geteuid() == 0
        self.has_template = False
        #: fsync on (benchmarks); off by default: the tests' data need not survive the machine
        self.durable = durable
        self.socket_dir.mkdir(exist_ok=True)
        if self._as_root:
            nobody = pwd.getpwnam("nobody")
            for path in (self.root, self.socket_dir):
                os.chown(path, nobody.pw_uid, nobody.pw_gid)

    def _run(self, *args: str) -> None:
        """Run a server program, as ``nobody`` when we are root."""
        command = [str(self.bin / args[0]), *args[1:]]
        if self._as_root:
            command = ["runuser", "-u", "nobody", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed: {done.stdout}{done.stderr}")

    def init(self) -> Cluster:
        """initdb: a new, empty cluster."""
        self._run("initdb", "-D", str(self.data), "-U", USER, "-A", "trust", "-E", "UTF8",
                  "--no-sync")  # fmt: skip
        return self

    def start(self) -> None:
        """Start the server (and wait until it accepts connections)."""
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1"
            f" -c unix_socket_directories={self.socket_dir}"
            " -c max_connections=200"
        )
        if not self.durable:
            options += " -c fsync=off -c full_page_writes=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-o", options, "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``immediate``: as a crash would, without a shutdown checkpoint)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        """The URL of ``database`` on this server (TCP, 127.0.0.1)."""
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def execute(self, sql: str, database: str = "postgres") -> None:
        """Run one statement outside a transaction (CREATE/DROP DATABASE need that)."""
        with psycopg.connect(self.url(database), autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def new_database(self, template: str = "template0") -> str:
        """A new database copied from ``template``; its URL."""
        name = f"test_{os.getpid()}_{next(self._names)}"
        self.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return self.url(name)

    def standby(self) -> Cluster:
        """A hot standby of this cluster (``pg_basebackup -R``: streaming replication), started."""
        replica = Cluster()
        self_url = f"host=127.0.0.1 port={self.port} user={USER}"
        replica._run("pg_basebackup", "-D", str(replica.data), "-R", "-X", "stream",
                     "-c", "fast", "-d", self_url, "--no-sync")  # fmt: skip
        replica.start()
        return replica

    def destroy(self) -> None:
        """Stop the server (if it runs) and remove its folder."""
        with contextlib.suppress(RuntimeError):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


_SHARED: Cluster | None = None


def shared_cluster() -> Cluster:
    """The test run's one cluster, started on first use and removed when the run ends."""
    global _SHARED
    if _SHARED is None:
        cluster = Cluster().init()
        cluster.start()
        atexit.register(cluster.destroy)
        _SHARED = cluster
    return _SHARED


def bundled_database() -> str:
    """A new database holding the current schema and the bundled stations (folded); its URL.

    Copied from a template made once per run; each copy gets a new store epoch, as a database
    of its own would.
    """
    cluster = shared_cluster()
    if not cluster.has_template:
        _make_template(cluster)
    url = cluster.new_database(TEMPLATE)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE store_state SET epoch = gen_random_uuid()")
    return url


def _make_template(cluster: Cluster) -> None:
    cluster.execute(f'CREATE DATABASE "{TEMPLATE}" TEMPLATE template0')
    url = cluster.url(TEMPLATE)
    with psycopg.connect(url, autocommit=True) as conn:
        schema.upgrade(conn)
    store = PostgresStore(url)
    store.import_collection(json.loads(BUNDLED.read_text("utf-8")), "template")
    store.compact()
    with psycopg.connect(url, autocommit=True) as conn:  # as a copied file: no history yet
        conn.execute("TRUNCATE audit_stations, audit")
    close_pools()  # a template may have no connections while it is copied
    cluster.has_template = True
