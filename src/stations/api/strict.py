"""What a client sends, read strictly: query strings, ids in paths, JSON bodies.

Starlette and the standard library are lenient where a service must not be: a query string
that is not UTF-8 becomes U+FFFD, ``json.loads`` takes ``NaN``, ``Infinity``, ``1e309``
(infinite), integers of any size and lone surrogates, and nests until the interpreter's stack
runs out. Each of these later broke something deep inside (a geodesic, the solver, SQLite,
the JSON encoder) and answered 500. Here they are refused at the door with a 400 naming the
parameter or body member: `query_pairs` reads every query string (the framework's routes and
the hot path alike), the path-id types bound what a path may hold, and `StrictJSONRoute`
parses every JSON body with `read_json`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Coroutine
from typing import Annotated, Any
from urllib.parse import unquote_to_bytes

from fastapi import HTTPException, Path, Request, Response
from fastapi.routing import APIRoute

from stations.coords import shown
from stations.errors import InvalidInput
from stations.models import ID_PATTERN

#: The largest offset a listing takes (far past any catalog; inside every integer type).
MAX_OFFSET = 1_000_000_000
#: How many values a repeatable query parameter (kind, amenity, status) takes.
MAX_REPEATED = 20
#: The longest bbox string (four numbers with their digits).
MAX_BBOX_CHARS = 200
#: Integers anywhere in a request: SQLite's (and most databases') signed 64 bits.
MIN_INT64, MAX_INT64 = -(2**63), 2**63 - 1
#: JSON bodies: how deep arrays and objects nest, and the longest string (key or value).
MAX_JSON_DEPTH = 32
MAX_JSON_STRING = 10_000

_CONTROL = re.compile("[\\x00-\\x1f\\x7f]")
_SURROGATE = re.compile("[\\ud800-\\udfff]")


def _decoded(part: bytes, key: str | None) -> str:
    """One percent-encoded key or value as text; `InvalidInput` unless UTF-8 without controls."""
    what = "a query parameter name" if key is None else f"parameter {key!r}"
    try:
        text = unquote_to_bytes(part.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(
            f"{what} is not valid UTF-8 (lone surrogates and bytes that are no character are "
            "refused); send text percent-encoded as UTF-8"
        ) from None
    if _CONTROL.search(text):
        raise InvalidInput(f"{what} holds a control character; got {shown(text)}")
    return text


def query_pairs(query: bytes | str) -> list[tuple[str, str]]:
    """A query string's (key, value) pairs, as ``parse_qsl(query, keep_blank_values=True)``.

    Unlike `parse_qsl` (and Starlette), which replace what is not UTF-8 by U+FFFD, it refuses
    such a query string, and control characters, with `InvalidInput` naming the parameter. A
    rider's query (``lon=..&lat=..&k=5``) has nothing to unquote: it is split directly, which
    is several times faster.
    """
    raw = query.encode() if isinstance(query, str) else query
    if raw.isascii() and b"%" not in raw and b"+" not in raw:
        text = raw.decode("ascii")
        pairs = []
        for part in text.split("&"):
            if part:
                key, _, value = part.partition("=")
                pairs.append((key, value))
        if _CONTROL.search(text):
            bad = next(k for k, v in pairs if _CONTROL.search(k + v))
            raise InvalidInput(f"parameter {bad!r} holds a control character")
        return pairs
    out = []
    for chunk in raw.split(b"&"):
        if chunk:
            key_raw, _, value_raw = chunk.partition(b"=")
            key = _decoded(key_raw, None)
            out.append((key, _decoded(value_raw, key)))
    return out


# Path parameters: ids are short and of a known alphabet, so nothing else reaches a lookup.
StationId = Annotated[
    str,
    Path(
        max_length=64,
        pattern=ID_PATTERN.pattern,
        description="A station id: 1-64 characters of a-z, 0-9 and '-'.",
    ),
]
CollectionId = Annotated[
    str,
    Path(max_length=32, pattern="^[a-z][a-z0-9_-]{0,31}$", description="stations or loop."),
]
FeatureId = Annotated[
    str,
    Path(
        max_length=128,
        pattern="^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$",
        description="A feature's id: a station id, or the loop's.",
    ),
]
ReportId = Annotated[
    int, Path(ge=1, le=MAX_INT64, description="A report's number (from 1, within 64 bits).")
]


class _BigInt(str):
    """An integer literal too long to be read as a number (marked, then refused with its place)."""


def _int(text: str) -> int | _BigInt:
    return int(text) if len(text) <= 20 else _BigInt(text)


def read_json(raw: bytes) -> Any:
    """A JSON body, or `InvalidInput` naming the member that breaks the rules.

    The body must be UTF-8 (RFC 8259); numbers finite (no ``NaN``, ``Infinity``, nor literals
    such as ``1e309`` that overflow to infinity); integers within signed 64 bits; strings and
    keys without lone surrogates and at most `MAX_JSON_STRING` characters (control characters
    are left to the models: report texts drop them); arrays and objects nested at most
    `MAX_JSON_DEPTH` deep.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"the body is not valid UTF-8 (at byte {exc.start}); send JSON encoded as UTF-8"
        ) from None
    try:
        value = json.loads(text, parse_int=_int, parse_constant=float)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"the body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except RecursionError:
        raise InvalidInput(f"the body nests deeper than {MAX_JSON_DEPTH} levels") from None
    _check_json(value, "body", 0)
    return value


def _check_json(value: Any, where: str, depth: int) -> None:
    """Walk a parsed body, refusing the first value that breaks `read_json`'s rules."""
    if isinstance(value, str):
        _check_string(value, where)
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int):
        if not MIN_INT64 <= value <= MAX_INT64:
            raise InvalidInput(f"{where}: integers must fit in 64 bits; got {shown(value)}")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInput(f"{where}: numbers must be finite; got {value!r}")
    elif isinstance(value, list | dict):
        if depth >= MAX_JSON_DEPTH:
            raise InvalidInput(f"{where}: nested deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(value, list):
            for i, item in enumerate(value):
                _check_json(item, f"{where}[{i}]", depth + 1)
        else:
            for key, item in value.items():
                _check_string(key, f"{where}: a member name")
                _check_json(item, f"{where}.{key}", depth + 1)


def _check_string(value: str, where: str) -> None:
    if isinstance(value, _BigInt):
        raise InvalidInput(f"{where}: integers must fit in 64 bits; got {shown(str(value))}")
    if len(value) > MAX_JSON_STRING:
        raise InvalidInput(
            f"{where}: strings must be at most {MAX_JSON_STRING} characters; got {len(value)}"
        )
    if _SURROGATE.search(value):
        raise InvalidInput(f"{where}: a lone surrogate (\\ud800-\\udfff) is not a character")


class StrictJSONRequest(Request):
    """A request whose `json` is `read_json` (a 400 naming the member, never a 500)."""

    async def json(self) -> Any:
        """The body, parsed and checked once."""
        if not hasattr(self, "_json"):
            try:
                self._json = read_json(await self.body())
            except InvalidInput as exc:  # FastAPI lets only HTTPException through as it is
                raise HTTPException(400, str(exc)) from None
        return self._json


class StrictJSONRoute(APIRoute):
    """A route reading its JSON body with `read_json`: ``APIRouter(route_class=...)``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """FastAPI's handler, given a `StrictJSONRequest`."""
        handler = super().get_route_handler()

        async def strict_handler(request: Request) -> Response:
            return await handler(StrictJSONRequest(request.scope, request.receive))

        return strict_handler
