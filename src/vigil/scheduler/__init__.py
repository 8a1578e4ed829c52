"""The scheduler: a pure function from (config, observed state) to a transition.

    transition = schedule(config, state)

No I/O, no clock (time is `state.now`), no randomness, and nothing depends on the
insertion order of the state's mappings: the same input gives the same transition on
every node and in every test. Pipeline:

    inputs.prepare          index constraints, read where each resource runs
    placement.place_resources   scores (node_scores) and one node or none per resource
    actions.plan_actions    stops/starts and their dependencies
    graph.number_actions    topological order, stops first, ids 1..n

Convergence: when colocations and mandatory orders form no cycle, scheduling again
after every action of a transition succeeded gives no actions (with stickiness >= 0).
With cycles (which the config validator should warn about) every transition is still
safe and deterministic, but settling may take more than one transition.
"""

from __future__ import annotations

from vigil.model.config import ClusterConfig
from vigil.model.state import ClusterState
from vigil.model.transition import Placement, Transition
from vigil.scheduler.actions import plan_actions
from vigil.scheduler.graph import number_actions
from vigil.scheduler.inputs import prepare
from vigil.scheduler.placement import place_resources
from vigil.scheduler.scores import add_scores, format_score

__all__ = ["add_scores", "format_score", "schedule"]


def schedule(config: ClusterConfig, state: ClusterState) -> Transition:
    """Decide where every resource runs and the actions that get it there."""
    inp = prepare(config, state)
    decisions = place_resources(inp)
    actions = number_actions(inp, plan_actions(inp, decisions))
    placements = {
        rid: Placement(rid, d.node, d.reason, d.sheet.totals(),
                       {n: tuple((c.score, c.why) for c in d.sheet.parts(n))
                        for n in d.sheet.nodes})
        for rid, d in decisions.items()
    }
    return Transition(actions=actions, placements=placements)
