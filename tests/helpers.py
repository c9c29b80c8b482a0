"""Helpers shared by the tests that run real processes: free ports and `stations serve`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(
    env: dict[str, str] | None = None,
    args: tuple[str, ...] = (),
    forbid: tuple[str, ...] = ("Traceback",),
) -> Iterator[str]:
    """Run `stations serve` on a free port (STATIONS_* from ``env`` only); yield its base URL.

    Its output goes to a file (a pipe nobody reads would block it once full); a traceback in it
    (or any of ``forbid``) fails the test that used the server, with the log's tail.
    """
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("STATIONS_")}
    clean.update(env or {})
    log = tempfile.TemporaryFile()  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        [sys.executable, "-m", "stations", "serve", "--port", str(port), "--no-access-log", *args],
        env=clean,
        stdout=log,
        stderr=subprocess.STDOUT,
    )

    def output() -> str:
        log.seek(0)
        return log.read().decode(errors="replace")

    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"server exited: {output()[-2000:]}")
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            proc.kill()
            pytest.fail(f"server did not start: {output()[-2000:]}")
        try:
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        for needle in forbid:
            if needle in output():
                pytest.fail(f"the server logged {needle!r}:\n{output()[-4000:]}")
    finally:
        log.close()
