"""Which instances of a promotable clone run in the Promoted role.

Once every instance of the clone is placed, each placed instance gets a promotion
score on its node: the agent's own (node attribute `master-<resource>`, set with
crm_master / crm_attribute --promotion), plus the clone's locations (of any role:
those without one, or `Started`/`Unpromoted`, count as crm_simulate shows), plus
locations with `role: Promoted`, plus the preferences of what is colocated with the
whole clone (without its stickiness: see `_clone_pulls`), plus
colocations of the Promoted role with something already placed, plus the preferences
of what is colocated with the Promoted role (so a VIP that must follow the primary
pulls the promotion towards where the VIP may run). The best `promoted_max`
instances with a score >= 0 are promoted, at most `promoted_node_max` per node; ties
keep the instance that is promoted now, then config node order. An instance whose
node has no promotion score is not promoted: the agent has not said it can be.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from vigil.model.config import INFINITY
from vigil.scheduler.inputs import Inputs
from vigil.scheduler.scores import add_scores, format_score

if TYPE_CHECKING:
    from vigil.scheduler.placement import Decision


def promotion_attribute(run_id: str) -> str:
    return f"master-{run_id}"


def _agent_score(inp: Inputs, run_id: str, node: str) -> int | None:
    return dict(inp.promotion_attributes(run_id)).get(node)


def promotion_scores(
    inp: Inputs, clone_id: str, decisions: Sequence[Decision], placed: Mapping[str, str | None]
) -> dict[str, tuple[int, list[str]]]:
    """Instance -> (promotion score, the parts in words), for placed instances."""
    out: dict[str, tuple[int, list[str]]] = {}
    locs = inp.promotion_locations.get(clone_id, ())
    for d in decisions:
        node = d.node
        if node is None:
            continue
        inst = inp.instance(d.resource)
        agent = _agent_score(inp, inst.run_id, node)
        if agent is None:
            out[d.resource] = (-INFINITY, [f"no promotion score for {inst.run_id} on {node} "
                                           "(the agent sets it with crm_master)"])
            continue
        total = max(-INFINITY, min(INFINITY, agent))
        parts = [f"{format_score(agent)}: the agent's promotion score on {node}"]
        # As crm_simulate shows, the clone's own node scores (its locations of any
        # role but Promoted) count for promotion too.
        for loc in inp.locations.get(d.resource, ()):
            if loc.node == node:
                total = add_scores(total, loc.score)
                parts.append(f"{format_score(loc.score)}: {loc.why}")
        for node_, score, why in _clone_pulls(inp, d.resource):
            if node_ == node:
                total = add_scores(total, score)
                parts.append(f"{format_score(score)}: {why}")
        for loc in locs:
            if loc.node == node:
                total = add_scores(total, loc.score)
                parts.append(f"{format_score(loc.score)}: {loc.why} (role Promoted)")
        out[d.resource] = (total, parts)
    for c in inp.promotion_colocations:
        if c.clone != clone_id:
            continue
        if c.dependent_role:
            where = {placed[t] for t in c.targets if placed.get(t) is not None}
            for iid, (total, parts) in out.items():
                node = placed[iid]
                if c.score >= INFINITY and node not in where:
                    out[iid] = (-INFINITY, [*parts, f"-INFINITY: colocation {c.id}: the "
                                            f"promoted instance must run with {c.target}"])
                elif c.score <= -INFINITY and node in where:
                    out[iid] = (-INFINITY, [*parts, f"-INFINITY: colocation {c.id}: never "
                                            f"promoted with {c.target}"])
                elif abs(c.score) < INFINITY and node in where:
                    out[iid] = (add_scores(total, c.score),
                                [*parts, f"{c.score}: colocation {c.id} with {c.target}"])
        else:
            _pull_dependents(inp, c.targets, c.score, c.id, out, placed)
    return out


def _clone_pulls(inp: Inputs, iid: str) -> list[tuple[str, int, str]]:
    """The clone's node scores from resources colocated with the whole clone."""
    from vigil.scheduler.node_scores import _with_whole_clone, base_scores, clone_pull

    out: list[tuple[str, int, str]] = []
    for c in inp.colocated_with.get(iid, ()):
        if _with_whole_clone(inp, c, iid) and c.with_role is None:
            dep = c.dependents[0]
            if dep not in inp.role_stopped and inp.views[dep].blocked is None:
                # Without the dependent's stickiness: it runs with any instance, so
                # promoting elsewhere does not move it, and its stickiness, which
                # appears only once it runs, would move the promotion in the next
                # transition (no convergence).
                out.extend(clone_pull(inp, c, base_scores(inp, dep, stickiness=False)))
    return out


def _pull_dependents(inp: Inputs, dependents: Sequence[str], score: int, cid: str,
                     out: dict[str, tuple[int, list[str]]],
                     placed: Mapping[str, str | None]) -> None:
    from vigil.scheduler.node_scores import base_scores

    if score <= 0 or len(dependents) != 1:
        return
    dep = dependents[0]
    if dep in inp.role_stopped or inp.views[dep].blocked is not None:
        return
    sheet = base_scores(inp, dep)
    factor = score / INFINITY
    before = dict(out)
    for iid, (total, parts) in list(out.items()):
        node = placed[iid]
        if node is None:
            continue
        value = sheet.score(node)
        if value == 0:
            continue
        if abs(value) < INFINITY:
            value = int(value * factor)
        out[iid] = (add_scores(total, value),
                    [*parts, f"{format_score(value)}: {dep} prefers {node} (colocation {cid})"])
    if any(t >= 0 for t, _ in before.values()) and not any(t >= 0 for t, _ in out.values()):
        out.clear()
        out.update(before)


def choose_promoted(
    inp: Inputs, clone_id: str, decisions: Sequence[Decision], placed: Mapping[str, str | None]
) -> Iterator[tuple[Decision, bool, str]]:
    clone = inp.layout.clone_of[clone_id]
    scores = promotion_scores(inp, clone_id, decisions, placed)
    ranked = []
    for d in decisions:
        view = inp.views[d.resource]
        if d.frozen:
            continue
        if d.node is None or d.resource not in scores:
            continue
        total, _ = scores[d.resource]
        now = d.node in view.promoted and (d.resource, d.node) not in inp.promotion_bans
        ranked.append((-total, not now, inp.node_index[d.node], d.resource))
    ranked.sort()
    chosen: set[str] = set()
    per_node: dict[str, int] = {}
    for neg, _, _, iid in ranked:
        node = placed[iid]
        assert node is not None
        if -neg < 0 or len(chosen) >= clone.promoted_max or iid in inp.no_promote:
            continue
        if per_node.get(node, 0) >= clone.promoted_node_max:
            continue
        chosen.add(iid)
        per_node[node] = per_node.get(node, 0) + 1
    for d in decisions:
        view = inp.views[d.resource]
        if d.frozen:
            promoted = d.node is not None and d.node in view.promoted
            yield d, promoted, "left in its role (unmanaged)"
            continue
        if d.node is None:
            yield d, False, ""
            continue
        total, parts = scores.get(d.resource, (-INFINITY, []))
        detail = "; ".join(parts)
        if d.resource in chosen:
            yield d, True, f"promoted on {d.node} (promotion score {format_score(total)}: " \
                           f"{detail})"
        elif d.resource in inp.no_promote:
            yield d, False, "unpromoted: target-role Unpromoted"
        elif total < 0:
            yield d, False, f"unpromoted: promotion score {format_score(total)} ({detail})"
        else:
            yield d, False, (f"unpromoted: {clone_id} promotes at most {clone.promoted_max} "
                             f"(promoted_node_max {clone.promoted_node_max}); promotion score "
                             f"{format_score(total)}")
