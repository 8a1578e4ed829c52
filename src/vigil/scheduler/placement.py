"""Choosing one node (or none) for every resource.

Resources are placed one by one in `placement_order`. Each gets the node with the best
score among nodes with score >= 0 (non-hosting nodes are at -INFINITY). Ties go to a
node it already runs on (as Pacemaker does: without this a saturated score, e.g.
INFINITY + stickiness, would let a resource hop between equally good nodes), then to
the node with the fewest resources placed so far in this run, then to config order.

Hard rules that the one-pass loop cannot always see (a mandatory order whose `first`
is placed after its `then`, a colocation honoured in reverse inside a cycle) are
checked afterwards; any resource that breaks one is marked unable to run and the whole
placement is recomputed, until nothing breaks. Each round rules out at least one more
resource, and without cycles the first round already holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from vigil.model.config import INFINITY
from vigil.scheduler.inputs import Inputs
from vigil.scheduler.node_scores import apply_colocations, base_scores
from vigil.scheduler.placement_order import placement_order
from vigil.scheduler.reasons import cannot_run_anywhere, why_not
from vigil.scheduler.scores import ScoreSheet, clamp, format_score


@dataclass(frozen=True)
class Decision:
    resource: str
    node: str | None
    cause: str
    """Why it is (not) placed, without the resource name: "target-role Stopped"."""
    sheet: ScoreSheet
    blocked: bool = False

    @property
    def reason(self) -> str:
        return f"{self.resource}: {self.cause}"


def place_resources(inp: Inputs) -> dict[str, Decision]:
    """A decision per resource, keyed and ordered as the config lists resources."""
    order = placement_order(inp)
    ruled_out: dict[str, str] = {}
    while True:
        decisions = _place_once(inp, order, ruled_out)
        broken = _broken_rules(inp, decisions, ruled_out)
        if not broken:
            return {r.id: decisions[r.id] for r in inp.resources}
        ruled_out.update(broken)


def _place_once(inp: Inputs, order: list[str], ruled_out: Mapping[str, str]) -> dict[str, Decision]:
    placed: dict[str, str | None] = {}
    load = dict.fromkeys(inp.nodes, 0)
    decisions: dict[str, Decision] = {}
    for rid in order:
        rsc = inp.resources[inp.resource_index[rid]]
        sheet = base_scores(inp, rsc)
        apply_colocations(inp, rid, placed, sheet)
        decision = _decide(inp, rid, sheet, placed, ruled_out, load)
        decisions[rid] = decision
        placed[rid] = decision.node
        if decision.node is not None:
            load[decision.node] += 1
    return decisions


def _decide(
    inp: Inputs,
    rid: str,
    sheet: ScoreSheet,
    placed: Mapping[str, str | None],
    ruled_out: Mapping[str, str],
    load: Mapping[str, int],
) -> Decision:
    view = inp.views[rid]
    # Blocked comes first: even a resource asked to stop cannot be stopped where the
    # node is unreachable or its stop already failed.
    if view.blocked is not None:
        return Decision(rid, None, f"blocked, {view.blocked}", sheet, blocked=True)
    if rid in inp.role_stopped:
        return Decision(rid, None, "target-role Stopped", sheet)
    if rid in ruled_out:
        return Decision(rid, None, ruled_out[rid], sheet)
    for o in inp.orders_by_then.get(rid, ()):
        if o.kind == "Mandatory" and o.first in placed and placed[o.first] is None:
            return Decision(rid, None, _order_cause(o.id, o.first), sheet)

    allowed = [n for n in inp.nodes if sheet.score(n) >= 0]
    if not allowed:
        return Decision(rid, None, cannot_run_anywhere(sheet), sheet)
    active = set(view.active)
    best = min(
        allowed,
        key=lambda n: (-sheet.score(n), n not in active, load[n], inp.node_index[n]),
    )
    score = format_score(sheet.score(best))
    if best in view.failed:
        return Decision(rid, best, f"recovers on {best} (score {score})", sheet)
    if best in active:
        return Decision(rid, best, f"stays on {best} (score {score})", sheet)
    # Say why it is not where it ran before: that is what an operator asks first.
    tail = "".join(
        f"; not on {n}: {why_not(sheet, n, best)}" for n in (*view.active, *view.lost_on)
    )
    return Decision(rid, best, f"placed on {best} (score {score}){tail}", sheet)


def _order_cause(order_id: str, first: str) -> str:
    return f"cannot run: order {order_id} needs {first} first, and {first} will not run"


def _broken_rules(
    inp: Inputs, decisions: Mapping[str, Decision], ruled_out: Mapping[str, str]
) -> dict[str, str]:
    """Resources placed against a mandatory colocation or order, with why."""
    broken: dict[str, str] = {}

    def flag(rid: str, cause: str) -> None:
        if rid not in ruled_out and decisions[rid].node is not None:
            broken.setdefault(rid, cause)

    for c in inp.colocations:
        here = decisions[c.resource].node
        there = decisions[c.with_resource].node
        score = clamp(c.score)
        if score >= INFINITY and here != there:
            flag(
                c.resource,
                f"cannot run: colocation {c.id} needs {c.with_resource} on the same node, "
                "and they cannot be placed together",
            )
        elif score <= -INFINITY and here is not None and here == there:
            flag(
                c.resource,
                f"cannot run: colocation {c.id} forbids sharing a node with {c.with_resource}",
            )
    for o in inp.orders:
        if o.kind == "Mandatory" and decisions[o.first].node is None:
            flag(o.then, _order_cause(o.id, o.first))
    return broken
