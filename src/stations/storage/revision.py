"""Station versions: what an ``ETag`` names, and the ``If-Match`` check writes make under a lock.

A station's version is a digest of its validated record in one canonical form: the properties as
the schema dumps them (`StationProperties`, survey fields left out when unset) and its WGS84
lon/lat, encoded as JSON with sorted keys. Every store and every API worker computes it the same
way from what it holds (a stored feature, or a loaded `Station`), so a version read from one
worker is checked by whichever process writes next. Stored formatting (key order, an omitted
default, an elevation, which the service never serves) does not change it.
"""

from __future__ import annotations

import hashlib

import orjson

from stations.errors import PreconditionFailed
from stations.models import Station
from stations.storage.base import Feature
from stations.storage.loading import parse_feature

#: ``If-Match: *``: any existing station matches.
ANY = "*"


#: Versions of loaded stations by ``id()`` (each entry holds its station, so the id cannot be
#: reused while cached); bounded like `stations.features` caches. A station object never
#: changes, so its version is computed once per worker.
_VERSIONS: dict[int, tuple[Station, str]] = {}
CACHE_LIMIT = 20_000


def station_version(station: Station) -> str:
    """The version of a loaded station: 24 hex digits of its canonical record's digest."""
    cached = _VERSIONS.get(id(station))
    if cached is not None and cached[0] is station:
        return cached[1]
    record = {"properties": station.props.model_dump(mode="json"), "at": [station.lon, station.lat]}
    blob = orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
    version = hashlib.blake2b(blob, digest_size=12).hexdigest()
    if len(_VERSIONS) >= CACHE_LIMIT:
        _VERSIONS.clear()
    _VERSIONS[id(station)] = (station, version)
    return version


def feature_version(feature: Feature) -> str:
    """The version of a stored (valid) feature; equals `station_version` of its station."""
    station, problems, _ = parse_feature(feature, "stored")
    if station is None:  # pragma: no cover - stored features were validated on write
        raise PreconditionFailed(f"the stored station cannot be versioned: {problems[:1]}")
    return station_version(station)


def check_if_match(current: Feature, if_match: str | None) -> None:
    """Raise `PreconditionFailed` unless ``if_match`` (a version, or ``*``) fits ``current``.

    Stores call it under their write lock, so no write can slip between the check and theirs.
    """
    if if_match is None or if_match == ANY:
        return
    now = feature_version(current)
    if if_match != now:
        sid = current.get("properties", {}).get("id")
        raise PreconditionFailed(
            f"station {sid!r} changed since the version this write is based on "
            f"(If-Match {if_match!r}, now {now!r}): read it again (GET /api/stations/{sid}) "
            "and redo the change, or send If-Match: * to overwrite it"
        )
