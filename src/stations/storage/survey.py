"""Who surveyed a station: ``surveyed_by`` is the writer's label, never what a client sent.

A write that changes a station's survey (``accuracy_m`` or ``surveyed_at``) records the writer as
``surveyed_by``; any other write keeps the stored value, so editing a surveyed station's phone
number does not make the clerk its surveyor. A station
without survey fields has no ``surveyed_by``. Stores apply this under their write lock, where the
stored station (``before``) is known.

Moving the data from the files into PostgreSQL (`stations db import`, an operator's command on
the server, trusted as the data files are) keeps the surveyors the file names (`stamp_imported`),
so that a move between stores does not make the importer everyone's surveyor. Imports that edit
the data (`stations import` of a sheet) follow the rule above.
"""

from __future__ import annotations

from typing import Any

from stations.storage.base import Feature

_SURVEY = ("accuracy_m", "surveyed_at")


def _survey_of(feature: Feature | None) -> tuple[Any, ...] | None:
    if feature is None:
        return None
    props = feature.get("properties", {})
    return tuple(props.get(k) for k in _SURVEY)


def stamp_surveyor(before: Feature | None, after: Feature, actor: str) -> Feature:
    """``after`` with ``surveyed_by`` set: ``actor`` if the survey changed, else as stored."""
    props = after.get("properties")
    if not isinstance(props, dict):
        return after  # validation names what is wrong
    surveyed = any(props.get(k) is not None for k in _SURVEY)
    if not surveyed:
        who = None
    elif before is not None and _survey_of(before) == _survey_of(after):
        who = before.get("properties", {}).get("surveyed_by")
    else:
        who = actor
    new = {k: v for k, v in props.items() if k != "surveyed_by"}
    if who is not None:
        new["surveyed_by"] = who
    return {**after, "properties": new}


def stamp_imported(before: Feature | None, after: Feature, actor: str) -> Feature:
    """As `stamp_surveyor`, except that a surveyor the imported file names is kept."""
    props = after.get("properties")
    if (
        isinstance(props, dict)
        and props.get("surveyed_by")
        and any(props.get(k) is not None for k in _SURVEY)
    ):
        return after
    return stamp_surveyor(before, after, actor)
