"""Where a /api/nearest request's time goes, in-process, by knocking stages out.

Run:  .venv/bin/python benchmarks/profile_nearest.py [--size 1000000] [--passes 6]

The ASGI app (`create_app`, lifespan run, hot path on) is called directly with the same 2,000
query points as `bench_api.py`, and a request's thread CPU time is taken as the best of several
passes. Then each stage in turn is replaced by a precomputed answer (the k-nearest query, the
answer's encoding, the rider's position in both datums for the links, the holder's data check)
and the whole request timed again: the difference is what the stage costs in place, including
what it costs the rest of the request in caches, which timing it alone in a tight loop misses
(the k-nearest query: ~48 µs alone, ~73 µs in place at 1,000,000 stations). No server and no
network: uvicorn's and the kernel's share is what `bench_api.py` measures.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from bench_api import query_points, write_stations  # noqa: E402
from stations import query  # noqa: E402
from stations.api.app import create_app  # noqa: E402
from stations.holder import CatalogHolder  # noqa: E402
from stations.index import GeoIndex  # noqa: E402
from stations.navigation import MY_LOCATION, Place  # noqa: E402
from stations.settings import Settings  # noqa: E402


@contextmanager
def replaced(owner: type, name: str, value: Any) -> Iterator[None]:
    original = owner.__dict__[name]
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, original)


async def run(size: int, passes: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "stations.geojson"
        lon, lat = write_stations(size, path)
        app = create_app(Settings(stations_path=path))
        points = query_points(lon, lat)
        strings = [f"k=5&lon={x:.5f}&lat={y:.5f}".encode() for x, y in points]

        startup: asyncio.Queue[dict[str, str]] = asyncio.Queue()
        await startup.put({"type": "lifespan.startup"})
        started = asyncio.Event()

        async def lifespan_send(message: dict[str, Any]) -> None:
            if message["type"].startswith("lifespan.startup"):
                started.set()

        lifespan = asyncio.create_task(
            app(
                {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}},
                startup.get,
                lifespan_send,
            )
        )
        await started.wait()
        statuses: list[int] = []

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def one_pass() -> float:
            t0 = time.thread_time()
            for qs in strings:
                scope = {
                    "type": "http",
                    "asgi": {"version": "3.0"},
                    "http_version": "1.1",
                    "method": "GET",
                    "scheme": "http",
                    "path": "/api/nearest",
                    "raw_path": b"/api/nearest",
                    "root_path": "",
                    "query_string": qs,
                    "headers": [(b"host", b"127.0.0.1")],
                    "client": ("127.0.0.1", 1),
                    "server": ("127.0.0.1", 80),
                    "state": {},
                }
                await app(scope, receive, send)
            return (time.thread_time() - t0) / len(strings) * 1e6

        catalog = await app.services.holder.get()
        hits = itertools.cycle([catalog.index.nearest(x, y, 5) for x, y in points.tolist()])
        place = Place.from_wgs84(107.0, 29.0, MY_LOCATION)
        body = query.find_nearest(catalog, 107.0, 29.0, k=5).encode()

        async def current(self: CatalogHolder) -> Any:
            return catalog

        stages: dict[str, Callable[[], Any]] = {
            "whole request": nullcontext,
            "k-nearest query (index)": lambda: replaced(
                GeoIndex, "nearest", lambda self, *a, **k: next(hits)
            ),
            "encoding the answer": lambda: replaced(query.Answer, "encode", lambda self: body),
            "rider's datums (links)": lambda: replaced(
                Place, "from_wgs84", classmethod(lambda cls, *a: place)
            ),
            "data check (holder)": lambda: replaced(CatalogHolder, "get", current),
        }
        best = dict.fromkeys(stages, float("inf"))
        for _ in range(passes):  # stages interleaved: each pass meets the same machine
            for name, knock_out in stages.items():
                with knock_out():
                    best[name] = min(best[name], await one_pass())
        if set(statuses) != {200}:
            raise RuntimeError(f"unexpected statuses {sorted(set(statuses))}")
        whole = best["whole request"]
        print(f"{size:,} stations, best of {passes} passes over {len(strings)} requests")
        print(f"{'whole request':28s} {whole:7.1f} µs")
        for name, t in best.items():
            if name != "whole request":
                print(f"{name:28s} {whole - t:7.1f} µs  (request without it: {t:.1f} µs)")
        await startup.put({"type": "lifespan.shutdown"})
        await lifespan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--passes", type=int, default=6)
    args = parser.parse_args()
    asyncio.run(run(args.size, args.passes))


if __name__ == "__main__":
    main()
