"""Demand away from the loop (a town, an area): PySAL spopt's MCLP over geodesic distances.

The ring algorithms only apply to demand along the loop. For demand farther off, candidate sites
are the demand points themselves and points every 2 km along the loop; existing stations are
fixed facilities. Distances are straight-line ellipsoidal geodesics (WGS84), and the integer
programme is solved by the CBC solver bundled with pulp. The answer says which solver ran.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from stations.catalog import Catalog
from stations.errors import InvalidInput
from stations.geodesy import GEOD
from stations.planning.sites import nearest_town, ring_of, statuses_for

#: Candidate sites along the loop every this many metres (geometric).
LOOP_CANDIDATE_STEP_M = 2000.0
#: spopt's integer programme grows with demand x candidates; keep it solvable in seconds.
MAX_POINTS = 200


def geodesic_matrix(
    a_lon: np.ndarray, a_lat: np.ndarray, b_lon: np.ndarray, b_lat: np.ndarray
) -> np.ndarray:
    """Ellipsoidal distances (m) from every a to every b."""
    x1 = np.repeat(a_lon, len(b_lon))
    y1 = np.repeat(a_lat, len(b_lat))
    x2 = np.tile(b_lon, len(a_lon))
    y2 = np.tile(b_lat, len(a_lat))
    _, _, d = GEOD.inv(x1, y1, x2, y2)
    return np.asarray(d, float).reshape(len(a_lon), len(b_lon))


def suggest_off_loop(
    catalog: Catalog,
    count: int,
    radius_m: float,
    demand: Sequence[tuple[float, float, float]],
    include_planned: bool = False,
) -> dict[str, Any]:
    """``count`` new sites maximising demand within ``radius_m`` (straight line), via spopt."""
    import pulp
    from spopt.locate import MCLP

    loop = catalog.loop
    assert loop is not None
    if len(demand) > MAX_POINTS:
        raise InvalidInput(
            f"off-loop demand is solved as an integer programme: give at most {MAX_POINTS} "
            f"points (aggregate them, e.g. by village); got {len(demand)}"
        )
    wanted = set(statuses_for(include_planned))
    existing = [s for s in catalog.located if s.props.status in wanted]
    steps = np.arange(0.0, loop.length_m, LOOP_CANDIDATE_STEP_M)
    along = [loop.point_at(c) for c in steps]
    cand: list[tuple[float, float, str]] = [
        (s.lon, s.lat, "existing") for s in existing if s.lon is not None and s.lat is not None
    ]
    cand += [(x, y, "demand") for x, y, _ in demand]
    cand += [(x, y, "loop") for x, y in along]
    c_lon = np.array([c[0] for c in cand], float)
    c_lat = np.array([c[1] for c in cand], float)
    d_lon = np.array([d[0] for d in demand], float)
    d_lat = np.array([d[1] for d in demand], float)
    weights = np.array([d[2] for d in demand], float)
    cost = geodesic_matrix(d_lon, d_lat, c_lon, c_lat)
    predefined = np.array([c[2] == "existing" for c in cand], dtype=int)
    before = 0.0
    if predefined.any():
        before = float(weights[(cost[:, predefined == 1] <= radius_m).any(axis=1)].sum())
    model = MCLP.from_cost_matrix(
        cost,
        weights,
        service_radius=radius_m,
        p_facilities=min(len(existing) + count, len(cand)),
        predefined_facilities_arr=predefined if predefined.any() else None,
        name="stations-mclp",
    )
    try:
        model = model.solve(pulp.PULP_CBC_CMD(msg=False))
    except RuntimeError as exc:  # spopt raises when CBC reports no optimal solution
        raise InvalidInput(f"the MCLP solver found no solution: {exc}") from None
    chosen = [
        j
        for j in range(len(cand))
        if cand[j][2] != "existing" and (pulp.value(model.fac_vars[j]) or 0) > 0.5
    ]
    open_sites = [j for j in range(len(cand)) if predefined[j] or j in chosen]
    served = (cost[:, open_sites] <= radius_m).any(axis=1)
    ring = ring_of(catalog, include_planned)
    features = []
    for rank, j in enumerate(chosen, start=1):
        lon, lat, origin = cand[j]
        snap = loop.snap(lon, lat)
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [round(lon, 7), round(lat, 7)]},
                "properties": {
                    "rank": rank,
                    "candidate": origin,
                    "loop_km": round(loop.km_mark(snap.chainage_m), 3),
                    "offroute_m": round(snap.offroute_m, 1),
                    "lon": round(lon, 7),
                    "lat": round(lat, 7),
                    "nearest_town": nearest_town(loop, lon, lat),
                    "demand_within_radius": float(weights[cost[:, j] <= radius_m].sum()),
                },
            }
        )
    return {
        "type": "FeatureCollection",
        "features": features,
        "count": count,
        "radius_m": radius_m,
        "stations_counted": len(ring.sites),
        "method": "maximal covering over candidate sites (demand off the loop; straight-line "
        "geodesic distances)",
        "solver": f"spopt {_version('spopt')} MCLP, pulp {pulp.__version__} CBC",
        "demand": {
            "points": len(demand),
            "total_weight": float(weights.sum()),
            "covered_before": before,
            "covered_after": float(weights[served].sum()),
        },
        "loop_calibration": loop.calibration(),
    }


def _version(name: str) -> str:
    from importlib.metadata import version

    return version(name)
