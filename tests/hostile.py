"""Hostile values, shared by the sweep (`test_hostile_sweep`) and the fuzzer (`test_fuzz_openapi`).

What an attacker or a careless client sends: as it goes on the wire (for the sweep, which builds
raw requests), as text and Python values (for the fuzzer, whose client encodes them), plus a
valid body for each route that takes one (hostile values replace one member at a time, so the
rest stays valid and the hostile one is what reaches the code).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from conftest import station

#: Hostile values for query strings and paths, as they go on the wire (already percent-encoded).
WIRE_VALUES = [
    "NaN",
    "nan",
    "inf",
    "-inf",
    "Infinity",
    "1e309",
    "-1e309",
    str(2**64),
    str(-(2**63) - 1),
    "1" + "0" * 400,  # 10**400
    "9" * 5000,  # past Python's int-from-string limit
    "",
    "%20",
    "x" * 10_240,
    "%ED%A0%80",  # a lone surrogate (U+D800) in UTF-8
    "%FF%FE",  # not UTF-8
    "%00",
    quote("../../etc/passwd", safe=""),
    quote("<script>alert(1)</script>", safe=""),
    quote("1;DROP TABLE stations", safe=""),
    quote("\u202eevil", safe=""),  # right-to-left override
    "1,2",
    "90",
    "-90",
    "-89.99999",
    "-90.0000001",
    "89.99999999",
    "179.9999999",
    "-180",
    "180.0000001",
    "-0",
    "0x10",
    "1_000",
]

#: Hostile values a query string or a path can carry (text; the client percent-encodes it).
HOSTILE_TEXT = [
    "NaN",
    "-Infinity",
    "inf",
    "1e309",
    str(2**64),
    str(-(2**63) - 1),
    "1" + "0" * 400,
    "9" * 5000,
    "",
    " ",
    "x" * 10_240,
    "\x00",
    "\ufffd",
    "../../etc/passwd",
    "<script>alert(1)</script>",
    "1;DROP TABLE stations",
    "\u202eevil",
    "-90",
    "89.9999999",
]
#: Hostile JSON values for body members (JSON adds non-finite numbers, big integers, nesting).
HOSTILE_JSON: list[Any] = [
    *HOSTILE_TEXT,
    float("nan"),
    float("inf"),
    float("-inf"),
    2**64,
    -(2**63) - 1,
    10**400,
    "\ud800",
    "a\udc00",
    -90,
    1e308,
    [1, 2],
    {},
    {"a": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]},
    None,
    True,
]

#: Hostile JSON values for body fields, as raw JSON text (some are not valid JSON on purpose).
JSON_VALUES = [
    "NaN",
    "Infinity",
    "-Infinity",
    "1e309",
    "-1e309",
    str(2**64),
    str(-(2**63) - 1),
    "1" + "0" * 400,
    "9" * 5000,
    "1.5",
    "-1",
    "0",
    "90",
    "-90",
    "89.99999999",
    "179.9999999",
    "-180.0000001",
    '""',
    '" "',
    json.dumps("x" * 10_240),
    '"\\ud800"',  # a lone surrogate, escaped
    '"\\udc00x"',
    '"\xed\xa0\x80"',  # a lone surrogate, raw UTF-8 (not valid UTF-8)
    '"\xff"',
    '"\\u0000"',
    json.dumps("../../etc/passwd"),
    json.dumps("<script>alert(1)</script>"),
    json.dumps("1;DROP TABLE stations"),
    json.dumps("\u202eevil"),
    "null",
    "true",
    "[]",
    "[1, 2]",
    "{}",
    '{"a": 1}',
    "[" * 5000 + "]" * 5000,
    '{"a":' * 5000 + "1" + "}" * 5000,
]

#: Whole bodies that are no body the route takes: (content type, bytes).
WHOLE_BODIES: list[tuple[str | None, bytes]] = [
    ("application/json", b""),
    ("application/json", b"{"),
    ("application/json", b"not json"),
    ("application/json", b"\xff\xfe\x00"),
    ("application/json", b"null"),
    ("application/json", b"[]"),
    ("application/json", b"[" * 100_000 + b"]" * 100_000),
    ("application/json", b'{"a":' * 50_000 + b"1" + b"}" * 50_000),
    ("application/json", b'"\\ud800"'),
    ("text/plain", b"hello"),
    ("application/x-www-form-urlencoded", b"a=1&b=2"),
    ("multipart/form-data; boundary=x", b"--x\r\nContent-Disposition: form-data\r\n\r\n1\r\n--x--"),
    ("application/xml", b"<a/>"),
    (None, b'{"count": 1}'),
    ("application/json; charset=utf-16", '{"a": 1}'.encode("utf-16")),
]

#: A valid body for each write route; hostile values replace one field at a time.
SUGGEST_BODY = {
    "count": 1,
    "radius_m": 3000,
    "crs": "wgs84",
    "include_planned": False,
    "demand": [{"lon": 107.2618, "lat": 28.912, "weight": 2}],
}
REPORT_BODY = {"category": "dirty", "text": "dirty", "lon": 107.26, "lat": 28.91, "crs": "wgs84"}
RESOLVE_BODY = {"note": "cleaned"}
PATCH_BODY = {
    "properties": {"notes": "checked"},
    "geometry": {"type": "Point", "coordinates": [107.26, 28.91]},
}


def feature_body(sid: str) -> dict[str, Any]:
    """A valid station Feature, its properties all filled in."""
    return station(
        sid,
        107.3,
        28.95,
        town="头渡镇",
        address="178环线",
        amenities=["toilet"],
        opening_hours="Mo-Su 08:00-20:00",
        phone="023-12345678",
        awards=["一星"],
        notes="sweep",
    )


#: A closed track of fixes [lon, lat, time, accuracy] round a 2 km square by 头渡 (the loop routes).
TRACK_FIXES = [
    [lon, lat, 1_764_489_600_000 + 60_000 * i, 8.0]
    for i, (lon, lat) in enumerate(
        [(107.2, 28.95), (107.2, 28.97), (107.22, 28.97), (107.22, 28.95), (107.2, 28.9501)]
    )
]
BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/api/planning/suggest"): SUGGEST_BODY,
    ("POST", "/api/stations/{station_id}/reports"): REPORT_BODY,
    ("POST", "/api/reports/{report_id}/resolve"): RESOLVE_BODY,
    ("POST", "/api/stations"): feature_body("sweep-new"),
    ("PUT", "/api/stations/{station_id}"): feature_body("toudu-union-station"),
    ("PATCH", "/api/stations/{station_id}"): PATCH_BODY,
    ("POST", "/api/loop/preview"): TRACK_FIXES,
    ("PUT", "/api/loop"): TRACK_FIXES,
}
