"""An instance's score on every node: locations, stickiness, fail counts, colocations.

Colocation works both ways, as in Pacemaker: the dependent follows where its target
was placed, and before that, the target takes the dependent's preferences into
account (`pull`): a group goes where all its members can run, with the stickiness of
all its active members. A pulled preference that would leave the target nowhere to
run is dropped (the target then runs, and the dependent may not). Colocations between
single instances pull, scaled by score / INFINITY; a negative one (anti-colocation)
pushes the target away from the dependent's favourite nodes, finite scores only (as
crm_simulate shows: `backup -INFINITY with ip`, backup prefers n2 by 1000: ip gets
-1000 on n2).
"""

from __future__ import annotations

from collections.abc import Mapping

from vigil.model.config import INFINITY
from vigil.scheduler.inputs import Coloc, Inputs
from vigil.scheduler.scores import (
    Contribution,
    ScoreSheet,
    add_scores,
    clamp,
    live_failure,
    threshold_reached,
)

PlacedNodes = Mapping[str, str | None]


def base_scores(inp: Inputs, iid: str, stickiness: bool = True) -> ScoreSheet:
    """Scores before colocation: hosting, locations, stickiness (unless `stickiness` is
    False), migration-threshold."""
    inst = inp.instance(iid)
    meta = inst.meta
    sheet = ScoreSheet(inp.nodes, inp.unavailable)
    locs = inp.locations.get(iid, ())
    if not inp.config.symmetric_cluster:
        # Opt-in: a group member is enabled where its group (first member) is.
        head = inp.locations.get(inst.head, ()) if inst.head != iid else ()
        enabled = frozenset(loc.node for loc in (*locs, *head) if loc.score > -INFINITY)
        sheet.restrict(enabled, "no location enables this node (opt-in cluster)")
    for loc in locs:
        sheet.add(loc.node, loc.score, loc.why)
    if inst.clone is not None and locs:
        # As in Pacemaker, a clone's instances may not run where the clone's own
        # score is negative, whatever they add to it (stickiness, promotion score).
        clone_level: dict[str, int] = {}
        for loc in locs:
            clone_level[loc.node] = add_scores(clone_level.get(loc.node, 0), loc.score)
        for node, score in clone_level.items():
            if -INFINITY < score < 0:
                sheet.add(node, -INFINITY, f"{inst.clone.id} scores {score} on {node}: "
                          "its instances cannot run there")
    view = inp.views[iid]
    if inst.clone is not None and inst.clone.promotable:
        # As in Pacemaker, the agent's promotion scores also steer where instances go:
        # a running instance only on its own node, a new one on every node.
        for node, score in inp.promotion_attributes(inst.run_id):
            if not view.active or node in view.active:
                sheet.add(node, score, f"promotion score {score} on {node} "
                          f"(master-{inst.run_id})")
    # Stickiness goes to every node it is active on (FAILED counts: recover in place
    # when allowed). With several active nodes the tie-break picks one of them.
    for node in view.active if stickiness else ():
        sheet.add(node, meta.stickiness, f"stickiness on {node}, where it runs")
    for node, raw in inp.failures.get(inst.run_id, ()):
        fc = live_failure(raw, meta, inp.state.now)
        if fc is None or inst.rsc.ops.on_fail_for(
                fc.op or "monitor", inp.config.fencing.enabled) == "ignore":
            continue
        if threshold_reached(meta, fc):
            sheet.add(
                node,
                -INFINITY,
                f"fail count {fc.count} on {node} reached migration-threshold "
                f"{meta.migration_threshold}",
            )
    return sheet


class BaseCache:
    """Base sheets computed once per placement round (they do not depend on placement)."""

    def __init__(self, inp: Inputs) -> None:
        self.inp = inp
        self._sheets: dict[str, ScoreSheet] = {}

    def get(self, iid: str) -> ScoreSheet:
        sheet = self._sheets.get(iid)
        if sheet is None:
            sheet = base_scores(self.inp, iid)
            self._sheets[iid] = sheet
        return sheet


def pull(inp: Inputs, iid: str, sheet: ScoreSheet, placed: PlacedNodes, cache: BaseCache,
         runnable: Mapping[str, bool]) -> None:
    """Add the preferences of the instances colocated with `iid` that are not placed."""
    stack: list[tuple[str, float, str, frozenset[str]]] = [(iid, 1.0, "", frozenset({iid}))]
    while stack:
        target, factor, via, seen = stack.pop(0)
        for c in inp.colocated_with.get(target, ()):
            if target == iid and _with_whole_clone(inp, c, iid):
                if c.dependents[0] not in placed and runnable.get(c.dependents[0], True):
                    for node, score, why in clone_pull(inp, c, cache.get(c.dependents[0])):
                        sheet.add(node, score, why)
                continue
            if c.score == 0 or len(c.dependents) != 1 or _live_count(inp, c.targets) != 1:
                continue
            dep = c.dependents[0]
            if dep in placed or dep in seen or not runnable.get(dep, True):
                continue
            f = factor * (c.score / INFINITY)
            path = f"{via}{dep}" if not via else f"{via} -> {dep}"
            dep_sheet = cache.get(dep)
            # Only a negative part can leave the target nowhere: then keep a way back.
            risky = dep_sheet.has_negative() or f < 0
            before = sheet.copy() if risky else None
            had_room = sheet.any_allowed() if risky else False
            label = f"with {path} ({_coloc_name(c)})"
            # Unavailable nodes are the same for everyone: not counted twice.
            # Scaled as crm_simulate shows: with a colocation of 20, the dependent's
            # ban (-INFINITY) counts -20 for its target; only a mandatory one carries
            # the ban itself.
            per_node: dict[str, list[Contribution]] = {}
            for node, part in dep_sheet.own_parts():
                per_node.setdefault(node, []).append(part)
            for node, parts in per_node.items():
                total = 0
                for part in parts:
                    total = add_scores(total, part.score)
                if f < 0 and (total < 0 or total >= INFINITY):
                    continue  # avoiding it: its bans, musts and dislikes are not inverted
                why = " + ".join(part.why for part in parts)
                sheet.add(node, scaled(total, f), f"{label}: {why}")
            for allowed, why in dep_sheet.restrictions() if f > 0 else ():
                if f >= 1:
                    sheet.restrict(allowed, f"{label}: {why}")
                    continue
                for node in inp.nodes:
                    if node not in allowed:
                        sheet.add(node, int(-INFINITY * f), f"{label}: {why}")
            if before is not None and had_room and not sheet.any_allowed():
                sheet.restore(before)
                continue
            stack.append((dep, f, path, seen | {dep}))


def _with_whole_clone(inp: Inputs, c: Coloc, iid: str) -> bool:
    """`c` colocates one resource with the whole clone that `iid` is an instance of."""
    clone = inp.instance(iid).clone
    return (clone is not None and len(c.dependents) == 1 and c.score > 0
            and c.targets == inp.layout.heads.get(clone.id))


def clone_pull(inp: Inputs, c: Coloc, dep_sheet: ScoreSheet) -> list[tuple[str, int, str]]:
    """What a resource colocated with a whole clone adds to the clone's node scores (so
    to every instance, and to promotion), as crm_simulate shows: its positive node
    totals scaled by score/INFINITY. Its bans and dislikes are not carried (the clone
    may run where the dependent may not; the dependent then picks among the others)."""
    dep = c.dependents[0]
    factor = c.score / INFINITY
    per_node: dict[str, list[Contribution]] = {}
    for node, part in dep_sheet.own_parts():
        per_node.setdefault(node, []).append(part)
    out = []
    for node, parts in per_node.items():
        total = 0
        for part in parts:
            total = add_scores(total, part.score)
        value = scaled(total, factor) if total > 0 else 0
        if value > 0:
            why = " + ".join(part.why for part in parts)
            out.append((node, value, f"with {dep} ({_coloc_name(c)}): {why}"))
    return out


def scaled(score: int, factor: float) -> int:
    """A dependent's node score as its colocation target sees it: the node's total
    times score/INFINITY, truncated (as crm_simulate shows). Pacemaker counts a non-zero
    total that truncates to 0 as 1 (-1 for an anti-colocation); vigil counts 0, since
    otherwise a dependent's stickiness, which appears only once it runs, would move its
    target in the next transition (crm_simulate does: no convergence). See
    docs/pacemaker.md."""
    return clamp(int(score * factor))


def _live_count(inp: Inputs, targets: tuple[str, ...]) -> int:
    """Targets that are not orphan clone instances (those only get stopped)."""
    return sum(1 for t in targets if not inp.instance(t).orphan)


def _coloc_name(c: Coloc) -> str:
    return c.id if c.internal else f"colocation {c.id}"


def apply_colocations(
    inp: Inputs, iid: str, placed: PlacedNodes, promoted: Mapping[str, bool], sheet: ScoreSheet
) -> None:
    """Add the colocations of `iid` with instances already placed in this run.

    Normally only targets are placed before `iid`. In a cycle a dependent may have been
    placed first; then a mandatory (+/-INFINITY) colocation between two single
    instances is honoured in reverse (the target goes where the dependent is, or
    avoids it), which satisfies it just as well. A finite one is not: it is advice to
    the dependent, which has already chosen.
    """
    for c in inp.colocations_of.get(iid, ()):
        where = target_nodes(c, placed, promoted)
        if where is not None:
            _constrain(inp, sheet, c, c.target, where)
    for c in inp.colocated_with.get(iid, ()):
        if len(c.dependents) != 1 or len(c.targets) != 1 or c.with_role is not None:
            continue
        dep = c.dependents[0]
        dep_node = placed.get(dep)
        if dep_node is not None and _mandatory(c):
            _constrain(inp, sheet, c, dep, (dep_node,))


def target_nodes(c: Coloc, placed: PlacedNodes, promoted: Mapping[str, bool]
                 ) -> tuple[str, ...] | None:
    """Where the target of `c` is (in its role), or None if none of it is placed yet."""
    known = [t for t in c.targets if t in placed]
    if not known:
        return None
    nodes: list[str] = []
    for t in known:
        node = placed[t]
        if node is None:
            continue
        if c.with_role == "Promoted" and not promoted.get(t, False):
            continue
        if c.with_role == "Unpromoted" and promoted.get(t, False):
            continue
        if node not in nodes:
            nodes.append(node)
    return tuple(nodes)


def _mandatory(c: Coloc) -> bool:
    return abs(clamp(c.score)) >= INFINITY


def _constrain(inp: Inputs, sheet: ScoreSheet, c: Coloc, other: str,
               where: tuple[str, ...]) -> None:
    score = c.score
    name = _coloc_name(c)
    role = " (Promoted)" if c.with_role == "Promoted" else ""
    if score >= INFINITY:
        if not where:
            sheet.restrict(frozenset(), f"{name}: {other}{role} will not run")
            return
        on = ", ".join(where)
        sheet.restrict(frozenset(where), f"{name}: must run with {other}{role}, on {on}")
        if len(where) == 1:
            sheet.add(where[0], INFINITY, f"{name}: {other}{role} is on {where[0]}")
    elif not where:
        return
    elif score <= -INFINITY:
        for node in where:
            sheet.add(node, -INFINITY, f"{name}: never with {other}{role}, which is on {node}")
    else:
        for node in where:
            sheet.add(node, score, f"{name} with {other}{role} on {node}")
