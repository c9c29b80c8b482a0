"""Bulk import planned row by row: what each feature would do to the stored stations.

A dry run and the real import share this plan, so the dry run predicts the import exactly: every
feature is *created* (a new id), *changed* (the id exists and something differs), *unchanged*
(the id exists and the stored station is the same) or *refused* (the id exists and the import
may not replace stations). Sameness is judged on the validated station (its properties as the
schema reads them, and its position to a centimetre), so an unedited export imported again
changes nothing, whatever the spreadsheet did to empty cells or the last digits of a
coordinate after a datum round trip.

A changed station keeps the shape of its stored record: a property the row leaves out (an empty
cell) is written as the schema's empty value (``null`` or ``[]``), not dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from stations.models import Station, StationProperties
from stations.storage.loading import parse_feature

Feature = dict[str, Any]
#: Positions closer than this (degrees, ~1 cm) are the same: a datum round trip and the
#: 7 decimals a spreadsheet keeps move a point by less.
SAME_POSITION_DEG = 1e-7


@dataclass
class ImportPlan:
    """What an import does, by station id, in the order of the features given."""

    created: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (id, why)
    #: The features to write (created and changed), in order, changed ones merged.
    writes: list[Feature] = field(default_factory=list)

    def summary(self) -> str:
        """One line: how many of each."""
        return (
            f"{len(self.created)} created, {len(self.changed)} changed, "
            f"{len(self.unchanged)} unchanged, {len(self.refused)} refused"
        )


def _station(feature: Feature) -> Station | None:
    station, _, _ = parse_feature(feature, "stored")
    return station


def same_station(a: Station, b: Station) -> bool:
    """Whether two validated stations hold the same data (positions to a centimetre)."""
    if a.props != b.props or (a.lon is None) != (b.lon is None):
        return False
    if a.lon is None or b.lon is None or a.lat is None or b.lat is None:
        return True
    return abs(a.lon - b.lon) <= SAME_POSITION_DEG and abs(a.lat - b.lat) <= SAME_POSITION_DEG


def merged(stored: Feature, new: Feature) -> Feature:
    """``new`` with every stored property it leaves out written as the schema's empty value."""
    fields = StationProperties.model_fields
    props = dict(new["properties"])
    for key in stored.get("properties", {}):
        if key not in props and key in fields:
            props[key] = fields[key].get_default(call_default_factory=True)
    return {**new, "properties": props}


def plan_import(
    current: Mapping[str, Feature], features: list[Feature], update: bool
) -> ImportPlan:
    """Classify already validated ``features`` against the ``current`` stations by id.

    Parameters
    ----------
    current
        The stored features by station id.
    features
        The features to import (validated: each has ``properties.id``).
    update
        Whether existing stations may be replaced; without it a station that exists and
        differs is refused.
    """
    plan = ImportPlan()
    for feature in features:
        sid = feature["properties"]["id"]
        stored = current.get(sid)
        if stored is None:
            plan.created.append(sid)
            plan.writes.append(feature)
            continue
        new, old = _station(feature), _station(stored)
        if new is not None and old is not None and same_station(new, old):
            plan.unchanged.append(sid)
        elif not update:
            plan.refused.append((sid, "the id exists (use --update to replace it)"))
        else:
            plan.changed.append(sid)
            plan.writes.append(merged(stored, feature))
    return plan
