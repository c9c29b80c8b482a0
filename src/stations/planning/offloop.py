"""Demand away from the loop (a town, an area): PySAL spopt's MCLP over geodesic distances.

The ring algorithms only apply to demand along the loop. For demand farther off, candidate sites
are the demand points themselves and points every 2 km along the loop; existing stations are
fixed facilities. Distances are straight-line ellipsoidal geodesics (WGS84), and the integer
programme is solved by the CBC solver bundled with pulp. The answer says which solver ran.
spopt and pulp are imported when a model is solved: they take longer to import than the rest of
the service needs to start.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from importlib.metadata import version
from typing import Any

import numpy as np

from stations.catalog import Catalog
from stations.errors import InvalidInput, TooManyAttempts
from stations.geodesy import GEOD
from stations.planning.demand import DemandPoint
from stations.planning.places import (
    require_loop,
    ring_of,
    site_feature,
    statuses_for,
    suggestion_collection,
)

#: Candidate sites along the loop every this many metres (geometric).
LOOP_CANDIDATE_STEP_M = 2000.0
#: spopt's integer programme grows with demand x candidates; keep it solvable in seconds.
MAX_POINTS = 200

#: The solver's wall-clock limit: past it CBC stops with the best solution found so far.
SOLVER_TIME_LIMIT_S = 20
#: Solves running at once in this process. Each is a CBC process taking a core for seconds: a
#: client sending many requests would take every core from the riders' queries otherwise.
SOLVER_SLOTS = threading.BoundedSemaphore(1)

#: A candidate site: WGS84 lon, lat and where it comes from (existing, demand or loop).
Candidate = tuple[float, float, str]


class SolverBusy(TooManyAttempts):
    """Another off-loop solve is running in this process: try again shortly (429)."""


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


def _candidates(
    catalog: Catalog, demand: Sequence[DemandPoint], include_planned: bool
) -> tuple[list[Candidate], int]:
    """Candidate sites (existing stations first), and how many stations exist."""
    loop = require_loop(catalog)
    wanted = set(statuses_for(include_planned))
    existing = [s for s in catalog.located if s.props.status in wanted]
    steps = np.arange(0.0, loop.length_m, LOOP_CANDIDATE_STEP_M)
    cand: list[Candidate] = [
        (s.lon, s.lat, "existing") for s in existing if s.lon is not None and s.lat is not None
    ]
    cand += [(x, y, "demand") for x, y, _ in demand]
    cand += [(x, y, "loop") for x, y in (loop.point_at(c) for c in steps)]
    return cand, len(existing)


def _solve(
    cost: np.ndarray, weights: np.ndarray, radius_m: float, predefined: np.ndarray, p: int
) -> tuple[list[int], str]:
    """The candidates spopt's MCLP opens besides the predefined ones, and the solver's name."""
    # Imported here for their start-up cost (see the module docstring).
    import pulp
    from spopt.locate import MCLP

    model = MCLP.from_cost_matrix(
        cost,
        weights,
        service_radius=radius_m,
        p_facilities=p,
        predefined_facilities_arr=predefined if predefined.any() else None,
        name="stations-mclp",
    )
    try:
        model = model.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=SOLVER_TIME_LIMIT_S))
    except RuntimeError as exc:  # spopt raises when CBC reports no solution at all
        raise InvalidInput(
            f"the MCLP solver found no solution within {SOLVER_TIME_LIMIT_S} s ({exc}): "
            "give fewer demand points (aggregate them, e.g. by village)"
        ) from None
    chosen = [
        j
        for j in range(cost.shape[1])
        if not predefined[j] and (pulp.value(model.fac_vars[j]) or 0) > 0.5
    ]
    solver = f"spopt {version('spopt')} MCLP, pulp {pulp.__version__} CBC"
    if model.problem.sol_status != pulp.LpSolutionOptimal:
        solver += f" (stopped at the {SOLVER_TIME_LIMIT_S} s limit: best found, not proven optimal)"
    return chosen, solver


def _solve_in_slot(
    cost: np.ndarray, weights: np.ndarray, radius_m: float, predefined: np.ndarray, p: int
) -> tuple[list[int], str]:
    """`_solve` in one of this process's `SOLVER_SLOTS`; SolverBusy if none is free."""
    if not SOLVER_SLOTS.acquire(blocking=False):
        raise SolverBusy(
            "the planner is solving another off-loop request: try again in a few seconds",
            retry_after=5,
        )
    try:
        return _solve(cost, weights, radius_m, predefined, p)
    finally:
        SOLVER_SLOTS.release()


def suggest_off_loop(
    catalog: Catalog,
    count: int,
    radius_m: float,
    demand: Sequence[DemandPoint],
    include_planned: bool = False,
) -> dict[str, Any]:
    """``count`` new sites maximising demand within ``radius_m`` (straight line), via spopt."""
    loop = require_loop(catalog)
    if len(demand) > MAX_POINTS:
        raise InvalidInput(
            f"off-loop demand is solved as an integer programme: give at most {MAX_POINTS} "
            f"points (aggregate them, e.g. by village); got {len(demand)}"
        )
    cand, n_existing = _candidates(catalog, demand, include_planned)
    weights = np.array([d[2] for d in demand], float)
    cost = geodesic_matrix(
        np.array([d[0] for d in demand], float),
        np.array([d[1] for d in demand], float),
        np.array([c[0] for c in cand], float),
        np.array([c[1] for c in cand], float),
    )
    predefined = np.array([c[2] == "existing" for c in cand], dtype=int)
    before = 0.0
    if predefined.any():
        before = float(weights[(cost[:, predefined == 1] <= radius_m).any(axis=1)].sum())
    p = min(n_existing + count, len(cand))
    chosen, solver = _solve_in_slot(cost, weights, radius_m, predefined, p)
    open_sites = [j for j in range(len(cand)) if predefined[j] or j in chosen]
    served = (cost[:, open_sites] <= radius_m).any(axis=1)
    features = []
    for rank, j in enumerate(chosen, start=1):
        lon, lat, origin = cand[j]
        snap = loop.snap(lon, lat)
        place = {
            "rank": rank,
            "candidate": origin,
            "loop_km": round(loop.km_mark(snap.chainage_m), 3),
            "offroute_m": round(snap.offroute_m, 1),
        }
        reach = {"demand_within_radius": float(weights[cost[:, j] <= radius_m].sum())}
        features.append(site_feature(loop, lon, lat, place, reach))
    answer = {
        "method": "maximal covering over candidate sites (demand off the loop; straight-line "
        "geodesic distances)",
        "solver": solver,
        "demand": {
            "points": len(demand),
            "total_weight": float(weights.sum()),
            "covered_before": before,
            "covered_after": float(weights[served].sum()),
        },
    }
    stations_counted = len(ring_of(catalog, include_planned).sites)
    return suggestion_collection(loop, features, count, radius_m, stations_counted, answer)
