"""The ring algorithms against PySAL spopt (LSCP, MCLP, PCenter solved by pulp's bundled CBC)."""

import numpy as np
import pulp
import pytest
from spopt.locate import LSCP, MCLP, PCenter

from stations.planning.covering import mclp
from stations.planning.ring import Demand, Ring, Site, max_distance, min_cover, p_center

N = 24  # nodes on a ring of 24 km, 1 km apart
L = 24_000.0
NODES = np.arange(N) * 1000.0
EXISTING = [Site(3000.0), Site(15000.0)]


def ring_cost(existing_offroute=0.0):
    d = np.abs(NODES[:, None] - NODES[None, :])
    return np.minimum(d, L - d)


def solver():
    return pulp.PULP_CBC_CMD(msg=False)


def opened(model):
    return [j for j in range(len(model.fac_vars)) if (pulp.value(model.fac_vars[j]) or 0) > 0.5]


@pytest.mark.parametrize("radius", [1500.0, 2500.0, 3500.0])
def test_lscp_matches_min_cover(radius):
    # With R = k + 0.5 node spacings, covering the nodes and covering the whole ring need the
    # same number of stations, so the continuous exact answer must equal spopt's.
    cost = ring_cost()
    predefined = np.isin(NODES, [s.u for s in EXISTING]).astype(int)
    model = LSCP.from_cost_matrix(cost, radius, predefined_facilities_arr=predefined).solve(
        solver()
    )
    spopt_new = len(opened(model)) - int(predefined.sum())
    ours = min_cover(Ring(L, tuple(EXISTING)), radius)
    assert len(ours) == spopt_new
    assert len(min_cover(Ring(L), radius)) == len(
        opened(LSCP.from_cost_matrix(cost, radius).solve(solver()))
    )


@pytest.mark.parametrize("count", [1, 2, 3])
def test_mclp_matches_spopt(count):
    rng = np.random.default_rng(count)
    weights = rng.integers(1, 20, N).astype(float)
    radius = 2000.0  # whole spacings: every arc's right end is a node, so nodes are enough
    cost = ring_cost()
    predefined = np.isin(NODES, [s.u for s in EXISTING]).astype(int)
    model = MCLP.from_cost_matrix(
        cost, weights, radius, p_facilities=count + 2, predefined_facilities_arr=predefined
    ).solve(solver())
    chosen = opened(model)
    spopt_covered = weights[(cost[:, chosen] <= radius).any(axis=1)].sum()
    demand = [Demand(float(u), 0.0, float(w)) for u, w in zip(NODES, weights, strict=True)]
    ring = Ring(L, tuple(EXISTING))
    _, gained = mclp(ring, demand, radius, count)
    already = weights[(cost[:, predefined == 1] <= radius).any(axis=1)].sum()
    assert already + gained == pytest.approx(spopt_covered)


@pytest.mark.parametrize("count", [1, 2, 3])
def test_p_center_within_half_a_spacing_of_spopt(count):
    # spopt's PCenter picks nodes and measures at nodes; the continuous optimum differs from the
    # discrete one by at most half a node spacing either way.
    cost = ring_cost()
    predefined = np.isin(NODES, [s.u for s in EXISTING]).astype(int)
    model = PCenter.from_cost_matrix(
        cost, p_facilities=count + 2, predefined_facilities_arr=predefined
    ).solve(solver())
    discrete = cost[:, opened(model)].min(axis=1).max()
    ring = Ring(L, tuple(EXISTING))
    ours = max_distance(ring.with_sites(p_center(ring, count)))
    assert abs(ours - discrete) <= 500.0 + 1e-6
