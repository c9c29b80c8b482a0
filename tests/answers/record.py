"""Record the HTTP API's answers to a fixed sample of GET requests (the "answer recorder").

Before a refactor, the answers are recorded once into ``tests/answers/sample.jsonl`` and
committed; afterwards ``tests/test_answers_unchanged.py`` records them again and requires the
same bytes: status, headers and body of every request, error messages included.

Usage (from the repository root, with the package importable)::

    python tests/answers/record.py --write   # (re)write the committed sample
    python tests/answers/record.py           # compare with it; exit 1 on the first difference

What is recorded
----------------
Every public GET route of the OpenAPI document (and the document itself, and ``/docs``): the
station listing with its filters, bbox, datums and paging; every station of the bundled data;
``/api/nearest`` at 60 points drawn with a fixed seed around Nanchuan (k 1..5, straight and
loop, wgs84/gcj02/bd09, the filters); ``/api/within``, ``/api/loop``, ``/api/map/stations``,
``/api/convert``, the planning routes, the OGC API - Features routes and the pages; 69 bad
requests (400, 403, 404, 405) whose messages must not change either; and a few conditional
GETs (``If-None-Match``, answered 304 when the ETag matches). 305 requests in all.

The requests go to three apps, each built by `stations.api.create_app` over a copy of the
bundled ``geodata/`` in a temporary folder and driven by starlette's ``TestClient`` (lifespan
run), with every ``STATIONS_*`` environment variable ignored:

``bundled``
    Default settings. The hot path (`stations.api.hotpath`: plain GETs of ``/api/nearest``
    and ``/api/within`` answered before FastAPI's stack) IS exercised: ``TestClient`` calls
    the ASGI app itself (`StationsApp.__call__`), as uvicorn does, and sends neither ``Origin``
    nor ``Content-Length`` on a GET (``--hot-path`` prints how many answers came from it:
    110 of the 305).
``framework``
    ``hot_path=False``: a subset of the ``/api/nearest`` and ``/api/within`` requests again,
    answered through FastAPI's routing; the answers must equal the hot path's.
``hours``
    The bundled data with opening hours, amenities and statuses added to a few stations in the
    copy (`HOURS_PATCH`; the bundled stations have no opening hours, so there ``open_now`` is
    always null and the clock never matters): ``open_now``, ``status`` and ``amenity``
    filters with real effect.

The clock
---------
It is frozen, not stripped: every ``datetime`` class a ``stations.*`` module imported (``from
datetime import datetime``, or the ``datetime`` module itself) is replaced, while the apps run,
by one whose ``now()`` / ``utcnow()`` / ``today()`` answer `FROZEN_NOW` (Tuesday 15 July 2025,
10:30 in Asia/Shanghai; 02:30Z), and ``isinstance`` checks still accept real datetimes. This
fixes ``open_now`` (`stations.query.QueryContext`) and the OGC items' ``timeStamp``
(`stations.api.ogc`). The modules are scanned again before every request, so modules imported
late are frozen too. Should a refactor take the time some other way (``time.time``, a library),
the OGC ``timeStamp`` (and ``open_now`` in the ``hours`` app) would show the real clock and the
comparison would fail there, naming the request.

What is normalised (the rest is recorded byte for byte)
-------------------------------------------------------
* ``date`` and ``server`` headers are not recorded; headers are sorted by name.
* HTML pages' CSP nonce (fresh per answer): ``'nonce-…'`` in ``Content-Security-Policy`` and
  ``nonce="…"`` in the body become ``NONCE``.
* ``/map`` and ``/embed``: folium's random element ids (``map_<32 hex>``…) become
  ``map_ID1``, ``feature_group_ID2``… numbered by first appearance, so references keep their
  structure.
* ``ETag``: ``W/"<24 hex>"`` hashes the data version, which includes the copied files' inode
  and mtime; it is recorded as ``W/"ETAG"``. The conditional GETs check the ETag's behaviour.

Bodies are stored as text (UTF-8), or base64 when not UTF-8.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as _dt
import json
import os
import random
import re
import shutil
import sys
import tempfile
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

SAMPLE = Path(__file__).with_name("sample.jsonl")
FORMAT = 1

#: The moment every app sees as "now": a Tuesday morning in Nanchuan.
FROZEN_NOW = _dt.datetime(2025, 7, 15, 2, 30, 0, tzinfo=_dt.UTC)

#: Changes made to the copy of the bundled stations served by the ``hours`` app.
HOURS_PATCH: dict[str, dict[str, Any]] = {
    "jinshan-union-station": {
        "opening_hours": "Mo-Fr 08:00-18:00",
        "amenities": ["drinking_water", "toilet"],
    },
    "toudu-union-station": {
        "opening_hours": "Sa,Su 09:00-17:00",  # closed on the frozen Tuesday
        "amenities": ["toilet", "hot_water"],
    },
    "delong-yinxing-union-station": {
        "opening_hours": "24/7",
        "amenities": ["toilet", "phone_charging"],
    },
    "qingyuan-union-station": {"status": "closed"},
    "shanwangping-union-station": {"status": "planned"},
    "sanquan-union-station": {
        "opening_hours": "Mo-Su 19:00-23:00",  # closed at 10:30
        "amenities": ["drinking_water"],
    },
    "nanchuan-warm-station": {"opening_hours": "Mo-Su 07:00-21:00"},
}

SKIPPED_HEADERS = frozenset({"date", "server"})


# -- the requests ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Req:
    """One GET request of the sample, sent to one of the apps."""

    url: str
    app: str = "bundled"
    headers: tuple[tuple[str, str], ...] = ()
    #: Send the ETag of this URL's answer (fetched first) as If-None-Match.
    etag_of: str | None = None


def _bundled_ids() -> list[str]:
    from stations.settings import DEFAULT_GEODATA

    doc = json.loads((DEFAULT_GEODATA / "stations.geojson").read_text(encoding="utf-8"))
    return [str(f.get("id") or f["properties"]["id"]) for f in doc["features"]]


def nearest_points(n: int = 60, seed: int = 178) -> list[str]:
    """``/api/nearest`` URLs at ``n`` points drawn with a fixed seed around Nanchuan."""
    rng = random.Random(seed)
    crss = [None, "gcj02", "bd09", "wgs84"]
    filters: list[list[tuple[str, str]]] = [
        [],
        [("kind", "union_station")],
        [("kind", "warm_station"), ("kind", "cold_drink_fridge")],
        [("amenity", "fridge")],
        [("open_now", "true")],
        [("max_distance_m", "8000")],
        [("status", "open"), ("status", "planned")],
        [],
        [("max_distance_m", "15000.5"), ("kind", "union_station")],
        [("open_now", "false")],
    ]
    urls = []
    for i in range(n):
        lon = round(rng.uniform(106.9, 107.4), 5)
        lat = round(rng.uniform(28.8, 29.3), 5)
        params: list[tuple[str, str]] = [("lon", str(lon)), ("lat", str(lat))]
        k = rng.randint(1, 5)
        if i % 7 != 3:  # now and then the default k (3)
            params.append(("k", str(k)))
        if i % 2:
            params.append(("by", "loop"))
        elif i % 4 == 2:
            params.append(("by", "straight"))
        crs = crss[i % len(crss)]
        if crs is not None:
            params.append(("crs", crs))
        params += filters[i % len(filters)]
        urls.append("/api/nearest?" + urlencode(params))
    return urls


BAD = [
    # /api/nearest (the hot path's error mapping)
    "/api/nearest?lon=200&lat=28.9",
    "/api/nearest?lon=107&lat=-91",
    "/api/nearest?lon=north&lat=28.9",
    "/api/nearest?lon=nan&lat=28.9",
    "/api/nearest?lon=inf&lat=28.9",
    "/api/nearest?lat=28.9",
    "/api/nearest",
    "/api/nearest?lon=107&lat=28.9&k=0",
    "/api/nearest?lon=107&lat=28.9&k=101",
    "/api/nearest?lon=107&lat=28.9&k=abc",
    "/api/nearest?lon=107&lat=28.9&crs=mars",
    "/api/nearest?lon=107&lat=28.9&bogus=1",
    "/api/nearest?lon=107&lat=28.9&by=air",
    "/api/nearest?lon=107&lat=28.9&kind=castle",
    "/api/nearest?lon=107&lat=28.9&amenity=pool",
    "/api/nearest?lon=107&lat=28.9&open_now=maybe",
    "/api/nearest?lon=107&lat=28.9&max_distance_m=-5",
    "/api/within?lon=107&lat=28.9",
    "/api/within?lon=107&lat=28.9&radius_m=1e9",
    "/api/within?lon=107&lat=28.9&radius_m=-1",
    "/api/within?lon=107&lat=28.9&radius_m=5000&limit=0",
    # the framework's routes
    "/api/stations?limit=0",
    "/api/stations?limit=10001",
    "/api/stations?offset=-1",
    "/api/stations?bbox=1,2,3",
    "/api/stations?bbox=a,b,c,d",
    "/api/stations?bbox=108,29,107,28",
    "/api/stations?bbox=107,28,200,29",
    "/api/stations?crs=wgs",
    "/api/stations?kind=castle",
    "/api/stations?unknown=1",
    "/api/stations/no-such-station",
    "/api/stations/jinshan-union-station?crs=mars",
    "/api/stations/jinshan-union-station?x=1",
    "/api/loop?x=1",
    "/healthz?verbose=1",
    "/api/map/stations?zoom=10",
    "/api/map/stations?bbox=107,28.8,107.5,29.2&zoom=99",
    "/api/map/stations?bbox=107,28.8,107.5&zoom=10",
    "/api/map/stations?bbox=107,28.8,107.5,29.2&zoom=10&extra=1",
    "/api/convert?lon=107&lat=29&to=mars",
    "/api/convert?lon=107",
    "/api/convert?lon=500&lat=29",
    "/api/planning/coverage",
    "/api/planning/coverage?radius_m=0",
    "/api/planning/coverage?radius_m=1e9",
    "/api/planning/suggest",
    "/api/planning/suggest?count=101",
    "/api/planning/suggest?count=1&radius_m=1e9",
    "/api/reports",
    "/api/reports?status=maybe",
    "/ogc?f=xml",
    "/ogc/conformance?f=html",
    "/ogc/collections/nope",
    "/ogc/collections/nope/items",
    "/ogc/collections/stations/items?limit=0",
    "/ogc/collections/stations/items?limit=20000",
    "/ogc/collections/stations/items?bbox=bad",
    "/ogc/collections/stations/items?sortby=name",
    "/ogc/collections/stations/items/no-such-station",
    "/ogc/collections/loop/items/nope",
    "/?tiles=bogus",
    "/?lang=fr",
    "/map?coverage_km=0",
    "/embed?lon=107",
    "/embed?station=no-such-station",
    "/api/no-such-route",
    "/api/reports/1/resolve",  # POST only: 405 with Allow
    "/api/stations/jinshan-union-station/reports",  # POST only
]


def build_requests() -> list[Req]:
    """The fixed sample, in the order it is sent."""
    ids = _bundled_ids()
    urls: list[str] = [
        "/healthz",
        "/openapi.json",
        "/docs",
        # the listing
        "/api/stations",
        "/api/stations?limit=3",
        "/api/stations?limit=3&offset=3",
        "/api/stations?offset=8",
        "/api/stations?offset=100",
        "/api/stations?crs=gcj02",
        "/api/stations?crs=bd09&limit=4",
        "/api/stations?crs=wgs84",
        "/api/stations?bbox=107,28.8,107.5,29.2",
        "/api/stations?bbox=107.1,28.9,107.2,29.0&crs=gcj02",
        "/api/stations?bbox=0,0,1,1",
        "/api/stations?kind=union_station",
        "/api/stations?kind=warm_station&kind=cold_drink_fridge",
        "/api/stations?kind=worker_service_point",
        "/api/stations?amenity=fridge",
        "/api/stations?amenity=fridge&amenity=cold_drinks",
        "/api/stations?status=open",
        "/api/stations?status=closed&status=planned",
        "/api/stations?open_now=true",
        "/api/stations?open_now=false&limit=2",
        "/api/stations?bbox=107,28.8,107.5,29.2&kind=union_station&limit=2&offset=1&crs=bd09",
        # every station
        *(f"/api/stations/{sid}" for sid in ids),
        f"/api/stations/{ids[0]}?crs=gcj02",
        f"/api/stations/{ids[0]}?crs=bd09",
        f"/api/stations/{ids[-1]}?crs=gcj02",
        "/api/loop",
        # nearest: hand-written cases, then the seeded points
        "/api/nearest?lon=107.2618&lat=28.912",
        "/api/nearest?lon=107.2618&lat=28.912&k=5",
        "/api/nearest?lon=107.2618&lat=28.912&k=100",
        "/api/nearest?lon=107.26&lat=28.91&k=3&by=loop",
        "/api/nearest?lon=107.27&lat=28.91&k=1&k=4",  # the last value wins
        "/api/nearest?lon=%31%30%37.2&lat=28.9",  # percent-encoded digits
        "/api/nearest?lon=107.2&lat=+28.9",  # '+' (a space) goes through parse_qsl
        "/api/nearest?lon=107.10335&lat=29.15201&k=2",  # two stations at one spot
        "/api/nearest?lon=116.39&lat=39.9&k=2",  # Beijing: far from everything
        "/api/nearest?lon=116.39&lat=39.9&by=loop",
        "/api/nearest?lon=107.2&lat=29&max_distance_m=1",
        "/api/nearest?lon=107.2&lat=29&kind=worker_service_point",
        *nearest_points(),
        # within
        "/api/within?lon=107.2618&lat=28.912&radius_m=9000",
        "/api/within?lon=107.2618&lat=28.912&radius_m=50000&limit=2&crs=gcj02",
        "/api/within?lon=107.2&lat=29.0&radius_m=30000&crs=bd09",
        "/api/within?lon=107.2&lat=29.0&radius_m=200000",
        "/api/within?lon=107.2&lat=29.0&radius_m=1",
        "/api/within?lon=107.2&lat=29.0&radius_m=40000&kind=union_station&open_now=true",
        "/api/within?lon=107.2&lat=29.0&radius_m=40000&amenity=fridge",
        # the map's viewport and the datum converter
        "/api/map/stations?bbox=107,28.8,107.5,29.2&zoom=10",
        "/api/map/stations?bbox=106.5,28.5,108,29.6&zoom=3",
        "/api/map/stations?bbox=107,28.8,107.5,29.2&zoom=14&crs=gcj02",
        "/api/map/stations?bbox=107,28.8,107.5,29.2&zoom=12&crs=bd09",
        "/api/map/stations?bbox=107,28.8,107.5,29.2&zoom=10&kind=union_station",
        "/api/map/stations?bbox=107,28.8,107.5,29.2&zoom=10&status=closed",
        "/api/map/stations?bbox=0,0,1,1&zoom=10",
        "/api/convert?lon=107.2618&lat=28.912",
        "/api/convert?lon=107.2618&lat=28.912&to=gcj02",
        "/api/convert?lon=107.2618&lat=28.912&to=bd09",
        "/api/convert?lon=107.2618&lat=28.912&crs=gcj02&to=wgs84",
        "/api/convert?lon=107.2618&lat=28.912&crs=bd09&to=gcj02",
        "/api/convert?lon=2.35&lat=48.85&to=gcj02",  # outside China: unchanged
        # planning
        "/api/planning/coverage?radius_m=5000",
        "/api/planning/coverage?radius_m=2000&include_planned=true",
        "/api/planning/coverage?radius_m=50000",
        "/api/planning/suggest?count=0",
        "/api/planning/suggest?count=1",
        "/api/planning/suggest?count=2&radius_m=5000",
        "/api/planning/suggest?count=3&radius_m=3000&include_planned=true",
        # OGC API - Features
        "/ogc",
        "/ogc?f=json",
        "/ogc/conformance",
        "/ogc/collections",
        "/ogc/collections/stations",
        "/ogc/collections/loop?f=json",
        "/ogc/collections/stations/items",
        "/ogc/collections/stations/items?limit=3",
        "/ogc/collections/stations/items?limit=3&offset=3",
        "/ogc/collections/stations/items?limit=4&offset=8",
        "/ogc/collections/stations/items?offset=50",
        "/ogc/collections/stations/items?bbox=107,28.8,107.2,29.0&limit=2",
        "/ogc/collections/stations/items?bbox=0,0,1,1",
        "/ogc/collections/stations/items?f=geojson&limit=1",
        "/ogc/collections/loop/items",
        "/ogc/collections/loop/items?bbox=0,0,1,1",
        f"/ogc/collections/stations/items/{ids[0]}",
        f"/ogc/collections/stations/items/{ids[-1]}?f=json",
        "/ogc/collections/stations/items/loop178-union-station-7",
        "/ogc/collections/loop/items/loop178",
        # pages
        "/",
        "/?lang=en",
        "/?tiles=amap",
        "/?tiles=none&lang=en",
        "/map",
        "/map?lang=en&planning=true&count=2&coverage_km=3",
        f"/embed?station={ids[2]}&lang=en",
        "/embed?lon=107.2&lat=29.0&zoom=11&tiles=amap",
        *BAD,
    ]
    reqs = [Req(u) for u in urls]
    # conditional GETs: the ETag of a first answer, matching (304) or not (200)
    for u in ("/api/stations?limit=3", f"/api/stations/{ids[0]}", "/api/loop"):
        reqs.append(Req(u, etag_of=u))
    reqs.append(Req("/ogc/collections/stations/items?limit=2", etag_of="/api/loop"))
    reqs.append(Req("/api/stations/" + ids[1], headers=(("if-none-match", 'W/"0"'),)))
    # the hot routes again, through FastAPI's routing
    hot = [r.url for r in reqs if r.url.startswith(("/api/nearest", "/api/within"))]
    reqs += [Req(u, app="framework") for u in hot[:16] + hot[-24:]]
    # a cross-origin request: the hot path leaves it to the framework
    reqs.append(Req("/api/nearest?lon=107.2618&lat=28.912", headers=(("origin", "https://a.b"),)))
    # opening hours, statuses and amenities that matter
    reqs += [
        Req(u, app="hours")
        for u in [
            "/api/stations",
            "/api/stations?open_now=true",
            "/api/stations?status=closed&status=planned",
            "/api/stations?status=open&open_now=true&amenity=toilet",
            "/api/stations/jinshan-union-station",
            "/api/stations/toudu-union-station",
            "/api/stations/qingyuan-union-station",
            "/api/nearest?lon=107.2618&lat=28.912&k=5",
            "/api/nearest?lon=107.2618&lat=28.912&k=5&open_now=true",
            "/api/nearest?lon=107.2618&lat=28.912&k=5&open_now=true&by=loop",
            "/api/nearest?lon=107.2618&lat=28.912&k=5&status=open&status=closed&status=planned",
            "/api/nearest?lon=107.2618&lat=28.912&k=2&amenity=toilet",
            "/api/nearest?lon=107.2618&lat=28.912&amenity=toilet&amenity=hot_water",
            "/api/nearest?lon=107.15&lat=29.1&k=4&open_now=true&crs=gcj02",
            "/api/nearest?lon=107.15&lat=29.1&k=4&amenity=drinking_water&open_now=true",
            "/api/within?lon=107.2&lat=29.0&radius_m=60000&open_now=true",
            "/api/within?lon=107.2&lat=29.0&radius_m=60000&status=closed",
            "/api/map/stations?bbox=107,28.8,107.5,29.2&zoom=10",
            "/api/map/stations?bbox=107,28.8,107.5,29.2&zoom=10&status=open&status=planned",
            "/ogc/collections/stations/items?limit=4",
            "/ogc/collections/stations/items/sanquan-union-station",
            "/api/planning/coverage?radius_m=5000",
            "/api/planning/coverage?radius_m=5000&include_planned=true",
            "/api/planning/suggest?count=2&include_planned=true",
            "/api/loop",
        ]
    ]
    return reqs


# -- the frozen clock ------------------------------------------------------------------------

_REAL_DATETIME = _dt.datetime


class _FrozenMeta(type):
    def __instancecheck__(cls, obj: object) -> bool:
        return isinstance(obj, _REAL_DATETIME)

    def __subclasscheck__(cls, sub: type) -> bool:
        return issubclass(sub, _REAL_DATETIME)


class FrozenDatetime(_REAL_DATETIME, metaclass=_FrozenMeta):
    """``datetime`` whose now is `FROZEN_NOW` (naive ``now()``: its UTC wall time)."""

    @classmethod
    def now(cls, tz: _dt.tzinfo | None = None) -> _dt.datetime:  # type: ignore[override]
        if tz is None:
            return FROZEN_NOW.replace(tzinfo=None)
        return FROZEN_NOW.astimezone(tz)

    @classmethod
    def utcnow(cls) -> _dt.datetime:  # type: ignore[override]
        return FROZEN_NOW.replace(tzinfo=None)

    @classmethod
    def today(cls) -> _dt.datetime:  # type: ignore[override]
        return FROZEN_NOW.replace(tzinfo=None)


_FROZEN_MODULE = types.ModuleType("datetime")
_FROZEN_MODULE.__dict__.update({k: v for k, v in vars(_dt).items() if not k.startswith("__")})
_FROZEN_MODULE.datetime = FrozenDatetime  # type: ignore[attr-defined]


class FrozenClock:
    """Replaces ``datetime`` in every ``stations.*`` module while active; `refresh` rescans."""

    def __init__(self) -> None:
        self._replaced: list[tuple[types.ModuleType, str, object]] = []
        self._done: set[tuple[str, str]] = set()

    def refresh(self) -> None:
        for name, module in list(sys.modules.items()):
            if module is None or not (name == "stations" or name.startswith("stations.")):
                continue
            for attr, value in list(vars(module).items()):
                if (name, attr) in self._done:
                    continue
                if value is _REAL_DATETIME:
                    replacement: object = FrozenDatetime
                elif value is _dt:
                    replacement = _FROZEN_MODULE
                else:
                    continue
                setattr(module, attr, replacement)
                self._replaced.append((module, attr, value))
                self._done.add((name, attr))

    def restore(self) -> None:
        for module, attr, value in reversed(self._replaced):
            setattr(module, attr, value)
        self._replaced.clear()
        self._done.clear()


@contextlib.contextmanager
def frozen_clock() -> Iterator[FrozenClock]:
    clock = FrozenClock()
    clock.refresh()
    try:
        yield clock
    finally:
        clock.restore()


# -- the apps --------------------------------------------------------------------------------


@contextlib.contextmanager
def _without_stations_env() -> Iterator[None]:
    saved = {k: v for k, v in os.environ.items() if k.upper().startswith("STATIONS_")}
    for key in saved:
        del os.environ[key]
    try:
        yield
    finally:
        os.environ.update(saved)


def _data_copy(folder: Path, patch: dict[str, dict[str, Any]] | None = None) -> Path:
    from stations.settings import DEFAULT_GEODATA

    folder.mkdir(parents=True)
    for name in ("stations.geojson", "loop178.geojson"):
        shutil.copyfile(DEFAULT_GEODATA / name, folder / name)
    if patch:
        path = folder / "stations.geojson"
        doc = json.loads(path.read_text(encoding="utf-8"))
        for feature in doc["features"]:
            feature["properties"].update(patch.get(feature["properties"]["id"], {}))
        path.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return folder


@contextlib.contextmanager
def _apps(tmp: Path) -> Iterator[dict[str, Any]]:
    from fastapi.testclient import TestClient

    from stations.api import create_app
    from stations.settings import Settings

    specs = {
        "bundled": (_data_copy(tmp / "bundled"), {}),
        "framework": (_data_copy(tmp / "framework"), {"hot_path": False}),
        "hours": (_data_copy(tmp / "hours", HOURS_PATCH), {}),
    }
    with contextlib.ExitStack() as stack:
        clients = {}
        for name, (folder, extra) in specs.items():
            with _without_stations_env():
                settings = Settings(
                    _env_file=None,  # type: ignore[call-arg]
                    stations_path=folder / "stations.geojson",
                    loop_path=folder / "loop178.geojson",
                    **extra,
                )
            app = create_app(settings)
            clients[name] = stack.enter_context(TestClient(app))
        yield clients


# -- recording -------------------------------------------------------------------------------

_NONCE_CSP = re.compile(r"'nonce-[A-Za-z0-9_\-+/=]+'")
_NONCE_HTML = re.compile(r'nonce="[A-Za-z0-9_\-+/=]+"')
_FOLIUM_ID = re.compile(r"\b([a-z][a-z0-9_]*?)_([0-9a-f]{32})(?![0-9A-Za-z])")
_ETAG = re.compile(r'W/"[0-9a-f]{24}"')


def _normalise_ids(text: str) -> str:
    numbers: dict[str, int] = {}

    def number(match: re.Match[str]) -> str:
        n = numbers.setdefault(match.group(2), len(numbers) + 1)
        return f"{match.group(1)}_ID{n}"

    return _FOLIUM_ID.sub(number, text)


def _record_one(req: Req, response: Any, sent: dict[str, str]) -> dict[str, Any]:
    notes: list[str] = []
    headers = []
    for name, value in response.headers.multi_items():
        name = name.lower()
        if name in SKIPPED_HEADERS:
            continue
        if name == "content-security-policy":
            value, n = _NONCE_CSP.subn("'nonce-NONCE'", value)
            if n:
                notes.append("csp-nonce")
        elif name == "etag":
            value, n = _ETAG.subn('W/"ETAG"', value)
            if n:
                notes.append("etag")
        headers.append([name, value])
    headers.sort()
    raw = response.content
    try:
        body = raw.decode("utf-8")
        encoding = "utf-8"
    except UnicodeDecodeError:
        body, encoding = base64.b64encode(raw).decode("ascii"), "base64"
    if encoding == "utf-8" and response.headers.get("content-type", "").startswith("text/html"):
        body, n = _NONCE_HTML.subn('nonce="NONCE"', body)
        if n:
            notes.append("html-nonce")
        normalised = _normalise_ids(body)
        if normalised != body:
            body = normalised
            notes.append("element-ids")
    entry: dict[str, Any] = {"app": req.app, "method": "GET", "url": req.url}
    if sent:
        entry["request_headers"] = sent
    entry.update(status=response.status_code, headers=headers, body_encoding=encoding)
    if notes:
        entry["normalised"] = sorted(set(notes))
    entry["body"] = body
    return entry


def record(requests: list[Req] | None = None) -> list[dict[str, Any]]:
    """Send the sample to fresh apps (clock frozen) and return one entry per request."""
    requests = build_requests() if requests is None else requests
    entries = []
    with tempfile.TemporaryDirectory(prefix="stations-answers-") as tmp, frozen_clock() as clock:
        with _apps(Path(tmp)) as clients:
            for req in requests:
                clock.refresh()
                client = clients[req.app]
                sent = dict(req.headers)
                if req.etag_of is not None:
                    sent["if-none-match"] = client.get(req.etag_of).headers.get("etag", "")
                response = client.get(req.url, headers=sent)
                shown = dict(sent)
                if req.etag_of is not None:
                    shown["if-none-match"] = f"<ETag of {req.etag_of}>"
                entries.append(_record_one(req, response, shown))
    return entries


def header_line() -> dict[str, Any]:
    return {
        "format": FORMAT,
        "frozen_now": FROZEN_NOW.isoformat(),
        "note": "recorded by tests/answers/record.py; see its docstring",
    }


def dumps(entries: list[dict[str, Any]]) -> str:
    """The sample file's text: a header line, then one JSON line per request."""
    lines = [json.dumps(header_line(), ensure_ascii=False)]
    lines += [json.dumps(e, ensure_ascii=False) for e in entries]
    return "\n".join(lines) + "\n"


def first_difference(expected: str, actual: str) -> str | None:
    """A readable account of the first request answered differently, or None."""
    old, new = expected.rstrip("\n").split("\n"), actual.rstrip("\n").split("\n")
    for i in range(max(len(old), len(new))):
        a = old[i] if i < len(old) else None
        b = new[i] if i < len(new) else None
        if a == b:
            continue
        if a is None or b is None:
            which = "recorded" if b is None else "new"
            line = json.loads(a if b is None else b)
            return (
                f"line {i + 1}: only in the {which} answers: "
                f"{line.get('app')} GET {line.get('url')} (recorded {len(old)} lines, now "
                f"{len(new)})"
            )
        ea, eb = json.loads(a), json.loads(b)
        if i == 0:
            return f"the sample's header differs:\n  recorded: {a}\n  now:      {b}"
        where = f"request {i}: {ea.get('app')} GET {ea.get('url')}"
        if (ea.get("app"), ea.get("url")) != (eb.get("app"), eb.get("url")):
            return f"{where}: the sample now sends {eb.get('app')} GET {eb.get('url')} instead"
        parts = [where]
        for key in sorted(set(ea) | set(eb)):
            va, vb = ea.get(key), eb.get(key)
            if va == vb:
                continue
            if isinstance(va, str) and isinstance(vb, str):
                at = next(
                    (j for j, (x, y) in enumerate(zip(va, vb, strict=False)) if x != y),
                    min(len(va), len(vb)),
                )
                lo = max(0, at - 60)
                parts.append(
                    f"  {key} differs at character {at} (lengths {len(va)} -> {len(vb)}):\n"
                    f"    recorded: {va[lo : at + 80]!r}\n"
                    f"    now:      {vb[lo : at + 80]!r}"
                )
            else:
                parts.append(f"  {key}:\n    recorded: {va!r}\n    now:      {vb!r}")
        return "\n".join(parts)
    return None


def count_hot_path(requests: list[Req]) -> int | None:
    """How many of ``requests`` the hot path answers (None if there is no hot path)."""
    try:
        from stations.api import hotpath
    except ImportError:
        return None
    hot_path = getattr(hotpath, "HotPath", None)
    if hot_path is None or not hasattr(hot_path, "_answer"):
        return None
    count = 0
    original = hot_path._answer

    async def spy(self: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal count
        count += 1
        return await original(self, *args, **kwargs)

    hot_path._answer = spy
    try:
        record(requests)
    finally:
        hot_path._answer = original
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"write {SAMPLE.name}")
    parser.add_argument("--out", type=Path, default=SAMPLE, help="where to write or compare")
    parser.add_argument(
        "--hot-path", action="store_true", help="also count the answers the hot path gave"
    )
    args = parser.parse_args(argv)
    requests = build_requests()
    text = dumps(record(requests))
    print(f"{len(requests)} requests recorded", file=sys.stderr)
    if args.hot_path:
        print(f"answered by the hot path: {count_hot_path(requests)}", file=sys.stderr)
    if args.write:
        args.out.write_text(text, encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)
        return 0
    if not args.out.exists():
        print(f"no {args.out}; run with --write first", file=sys.stderr)
        return 1
    diff = first_difference(args.out.read_text(encoding="utf-8"), text)
    if diff:
        print(diff, file=sys.stderr)
        return 1
    print("answers unchanged", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
