"""A resource's score on every node: locations, stickiness, fail counts, colocations.

Colocation here is one-directional (v1): the dependent follows where its target was
placed. Pacemaker also lets a dependent's finite preferences pull its target towards
the dependent's favourite nodes; vigil v1 does not, so a finite colocation only adds
its score to the dependent's score on the target's node.
"""

from __future__ import annotations

from collections.abc import Mapping

from vigil.model.config import INFINITY, ColocationConstraint, Resource
from vigil.scheduler.inputs import Inputs
from vigil.scheduler.scores import ScoreSheet, clamp, format_score, live_failure, threshold_reached


def base_scores(inp: Inputs, rsc: Resource) -> ScoreSheet:
    """Scores before colocation: hosting, locations, stickiness, migration-threshold."""
    sheet = ScoreSheet(inp.nodes)
    for node in inp.nodes:
        unavailable = inp.unavailable[node]
        if unavailable is not None:
            sheet.add(node, -INFINITY, unavailable)
    for loc in inp.locations.get(rsc.id, ()):
        score = clamp(loc.score)
        if score <= -INFINITY:
            sheet.add(loc.node, score, f"location {loc.id} bans {loc.node}")
        else:
            sheet.add(loc.node, score, f"location {loc.id} gives {loc.node} {format_score(score)}")
    view = inp.views[rsc.id]
    # Stickiness goes to every node it is active on (FAILED counts: recover in place
    # when allowed). With several active nodes the tie-break picks one of them.
    for node in view.active:
        sheet.add(node, rsc.meta.stickiness, f"stickiness on {node}, where it runs")
    for node in inp.nodes:
        fc = live_failure(inp.state.failures.get((node, rsc.id)), rsc.meta, inp.state.now)
        if fc is not None and threshold_reached(rsc.meta, fc):
            sheet.add(
                node,
                -INFINITY,
                f"fail count {fc.count} on {node} reached migration-threshold "
                f"{rsc.meta.migration_threshold}",
            )
    return sheet


def apply_colocations(
    inp: Inputs, rid: str, placed: Mapping[str, str | None], sheet: ScoreSheet
) -> None:
    """Add the colocations of `rid` with resources already placed in this run.

    Normally only targets are placed before `rid`. In a cycle a dependent may have been
    placed first; then a mandatory (+/-INFINITY) colocation is honoured in reverse (the
    target goes where the dependent is, or avoids it), which satisfies it just as well.
    A finite one is not: it is advice to the dependent, which has already chosen;
    pushing it onto the target would count it twice in two-way cycles, and would let
    the outcome hinge on which of the two went first, so a later run could undo it.
    """
    for c in inp.colocations_of.get(rid, ()):
        if c.with_resource in placed:
            _constrain(inp, sheet, c, c.with_resource, placed[c.with_resource])
    for c in inp.colocated_with.get(rid, ()):
        if c.resource in placed and placed[c.resource] is not None and _mandatory(c):
            _constrain(inp, sheet, c, c.resource, placed[c.resource])


def _mandatory(c: ColocationConstraint) -> bool:
    return abs(clamp(c.score)) >= INFINITY


def _constrain(
    inp: Inputs, sheet: ScoreSheet, c: ColocationConstraint, other: str, where: str | None
) -> None:
    score = clamp(c.score)
    if score >= INFINITY:
        if where is None:
            for node in inp.nodes:
                sheet.add(node, -INFINITY, f"colocation {c.id}: {other} will not run")
            return
        for node in inp.nodes:
            if node != where:
                sheet.add(node, -INFINITY, f"colocation {c.id}: must run with {other}, on {where}")
        sheet.add(where, INFINITY, f"colocation {c.id}: {other} is on {where}")
    elif where is None:
        return
    elif score <= -INFINITY:
        sheet.add(where, -INFINITY, f"colocation {c.id}: never with {other}, which is on {where}")
    else:
        sheet.add(where, score, f"colocation {c.id} with {other} on {where}")
