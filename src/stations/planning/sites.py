"""Planners' answers on the real loop: coverage reports and suggested sites.

Glue between the catalog (stations, the loop, its calibration) and the exact ring algorithms in
`stations.planning.ring` and `stations.planning.covering`; demand far from the loop goes to
`stations.planning.offloop`. Positions on the ring are in the loop's reported metres.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from stations.catalog import Catalog
from stations.errors import InvalidInput
from stations.loop import Loop
from stations.planning import covering
from stations.planning.demand import DemandPoint, check_demand, demand_on_ring
from stations.planning.offloop import suggest_off_loop
from stations.planning.places import (
    km_mark,
    point_at,
    require_loop,
    ring_of,
    site_feature,
    statuses_for,
    stretch,
    suggestion_collection,
)
from stations.planning.ring import (
    Ring,
    Site,
    check_count,
    check_radius,
    coverage,
    distances_at,
    max_distance,
    min_cover,
    p_center,
)

#: Demand farther than this from the loop is "off the loop": solved with spopt instead.
DEFAULT_DEMAND_OFFROUTE_M = 5_000.0


@dataclass(frozen=True)
class Objective:
    """How well a set of stations serves the loop."""

    max_distance_m: float
    covered_fraction: float | None
    max_gap_m: float | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (inf as null)."""
        return {
            "max_distance_m": None
            if math.isinf(self.max_distance_m)
            else round(self.max_distance_m, 1),
            "covered_fraction": None
            if self.covered_fraction is None
            else round(self.covered_fraction, 5),
            "max_gap_m": None if self.max_gap_m is None else round(self.max_gap_m, 1),
        }


def objective(ring: Ring, radius_m: float | None) -> Objective:
    """Largest distance, and coverage and largest gap at ``radius_m`` when given."""
    if radius_m is None:
        return Objective(max_distance(ring), None, None)
    cov = coverage(ring, radius_m)
    return Objective(cov.max_distance_m, cov.covered_fraction, cov.max_gap_m)


def coverage_report(
    catalog: Catalog, radius_m: float, include_planned: bool = False, profile_step_m: float = 1000.0
) -> dict[str, Any]:
    """Coverage of the loop at ``radius_m`` by road, for the CLI, the API and exports."""
    loop = require_loop(catalog)
    ring = ring_of(catalog, include_planned)
    cov = coverage(ring, radius_m)
    gaps = [
        stretch(
            loop,
            a,
            b,
            {
                "from_km": km_mark(a, ring.length),
                "to_km": km_mark(b, ring.length),
                "length_m": round(b - a, 1),
            },
        )
        for a, b in sorted(cov.gaps, key=lambda g: g[0])
    ]
    try:
        to_cover: list[Site] | None = min_cover(ring, radius_m)
    except InvalidInput:  # too many to list: the radius is tiny next to the loop
        to_cover = None
    positions = np.arange(0.0, ring.length, profile_step_m)
    dists = distances_at(ring, positions)
    return {
        "radius_m": cov.radius_m,
        "stations_counted": len(ring.sites),
        "statuses": [s.value for s in statuses_for(include_planned)],
        "covered_fraction": round(cov.covered_fraction, 5),
        "max_gap_m": round(cov.max_gap_m, 1),
        "max_distance_m": None if math.isinf(cov.max_distance_m) else round(cov.max_distance_m, 1),
        "gaps": {"type": "FeatureCollection", "features": gaps},
        "min_new_stations_to_cover": None if to_cover is None else len(to_cover),
        "to_cover_sites": None
        if to_cover is None
        else sorted(km_mark(s.u, ring.length) for s in to_cover),
        "profile": [
            {"loop_km": round(p / 1000.0, 3), "distance_m": None if math.isinf(d) else round(d, 1)}
            for p, d in zip(positions.tolist(), dists.tolist(), strict=True)
        ],
        "loop_calibration": loop.calibration(),
    }


def suggest(
    catalog: Catalog,
    count: int,
    radius_m: float | None = None,
    demand: Sequence[DemandPoint] | None = None,
    include_planned: bool = False,
) -> dict[str, Any]:
    """``count`` suggested new sites, as a FeatureCollection with the objective before/after.

    Without demand: p-center on the ring (minimise the largest along-loop distance from any
    point of the loop to its nearest station). With demand: maximal covering at ``radius_m``
    (exact on the ring), or spopt's MCLP when the demand lies off the loop.
    """
    loop = require_loop(catalog)
    ring = ring_of(catalog, include_planned)
    check_count(count)
    if radius_m is not None:
        radius_m = check_radius(radius_m)
    if demand:
        if radius_m is None:
            raise InvalidInput("demand-weighted suggestions need a radius (radius_m / --radius-km)")
        demand = check_demand(demand)
        snaps = [loop.snap(x, y) for x, y, _ in demand]
        if max(s.offroute_m for s in snaps) > DEFAULT_DEMAND_OFFROUTE_M:
            return suggest_off_loop(catalog, count, radius_m, demand, include_planned)
        points = demand_on_ring(loop, demand, snaps)
        sites, gained = covering.mclp(ring, points, radius_m, count)
        before = covering.covered_weight(ring, points, radius_m)
        extra: dict[str, Any] = {
            "method": "maximal covering on the ring (exact)",
            "demand": {
                "points": len(demand),
                "total_weight": sum(w for _, _, w in demand),
                "covered_before": before,
                "covered_after": before + gained,
            },
        }
    else:
        sites = p_center(ring, count)
        extra = {"method": "p-center on the ring (exact to 1 cm)"}
    with_all = objective(ring.with_sites(sites), radius_m)
    answer = {
        "objective": {"before": objective(ring, radius_m).as_dict(), "after": with_all.as_dict()},
        "solver": "stations.planning (exact ring algorithms)",
        **extra,
    }
    features = _site_features(loop, ring, sites, radius_m, with_all)
    return suggestion_collection(loop, features, count, radius_m, len(ring.sites), answer)


def _site_features(
    loop: Loop, ring: Ring, sites: list[Site], radius_m: float | None, with_all: Objective
) -> list[dict[str, Any]]:
    """The new sites in ring order, each with the objective without it and with all."""
    features = []
    for i, site in enumerate(sorted(sites, key=lambda s: s.u)):
        without = objective(ring.with_sites(s for s in sites if s is not site), radius_m)
        lon, lat = point_at(loop, site.u)
        features.append(
            site_feature(
                loop,
                lon,
                lat,
                {"loop_km": km_mark(site.u, ring.length)},
                {
                    "rank": i + 1,
                    "improvement": {"before": without.as_dict(), "after": with_all.as_dict()},
                },
            )
        )
    return features
