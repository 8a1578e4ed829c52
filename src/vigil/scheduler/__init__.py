"""The scheduler: a pure function from (config, observed state) to a transition.

    transition = schedule(config, state)

No I/O, no clock (time is `state.now`), no randomness, and nothing depends on the
insertion order of the state's mappings: the same input gives the same transition on
every node and in every test. Pipeline:

    inputs.prepare          expand groups and clones into instances (instances), resolve
                            constraints onto them, read where each instance runs
    placement.place_resources   scores (node_scores) and one node or none per instance,
                            promoted instances of promotable clones (promotion)
    actions.plan_actions    demotes/stops/starts/promotes and their dependencies
    graph.number_actions    topological order, stops first, ids 1..n

Convergence: when colocations and mandatory orders form no cycle, scheduling again
after every action of a transition succeeded gives no actions (with stickiness >= 0).
With cycles (which the config validator should warn about) every transition is still
safe and deterministic, but settling may take more than one transition.
"""

from __future__ import annotations

import gc

from vigil.model.config import ClusterConfig
from vigil.model.state import ClusterState
from vigil.model.transition import Placement, Transition
from vigil.scheduler.actions import plan_actions
from vigil.scheduler.graph import number_actions
from vigil.scheduler.inputs import prepare
from vigil.scheduler.placement import place_resources
from vigil.scheduler.scores import add_scores, format_score
from vigil.scheduler.sheet_views import Parts, Scores
from vigil.scheduler.summary_of import aggregate_placements

__all__ = ["add_scores", "format_score", "schedule"]


def schedule(config: ClusterConfig, state: ClusterState) -> Transition:
    """Decide where every resource runs and the actions that get it there."""
    # The cyclic garbage collector would rescan the whole (large) state again and again
    # while the scheduler allocates; nothing here builds cycles worth collecting early.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _schedule(config, state)
    finally:
        if collecting:
            gc.enable()


def _schedule(config: ClusterConfig, state: ClusterState) -> Transition:
    inp = prepare(config, state)
    decisions = place_resources(inp)
    actions = number_actions(inp, plan_actions(inp, decisions))
    placements: dict[str, Placement] = {}
    for iid, d in decisions.items():
        inst = inp.instance(iid)
        role = ""
        if inst.clone is not None and inst.clone.promotable and d.node is not None:
            role = "Promoted" if d.promoted else "Unpromoted"
        reason = d.reason if not d.role_cause else f"{d.reason}; {d.role_cause}"
        placements[iid] = Placement(iid, d.node, reason, Scores(d.sheet), Parts(d.sheet), role)
    placements.update(aggregate_placements(inp, placements))
    return Transition(actions=actions, placements=placements, fence=inp.fence)
