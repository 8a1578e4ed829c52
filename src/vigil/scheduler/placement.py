"""Choosing one node (or none) for every resource.

Resources are placed one by one in `placement_order`. Each gets the node with the best
score among nodes with score >= 0 (non-hosting nodes are at -INFINITY). Ties go to a
node it already runs on (as Pacemaker does: without this a saturated score, e.g.
INFINITY + stickiness, would let a resource hop between equally good nodes), then to
the node with the fewest resources placed so far in this run, then to config order.

Hard rules that the one-pass loop cannot always see inside a cycle (a mandatory order
whose `first` is placed after its `then`; a colocation honoured in reverse) are checked
afterwards, and the whole placement is recomputed with a correction, until nothing
breaks:
- a dependent placed where its mandatory target is not (or where its anti-colocated
  target also is) is banned from that node only, so the pair can meet elsewhere;
- a `then` placed although its mandatory `first` will not run was placed before
  `first` (the order edge lost to a colocation): the next round places `first` before
  it, as firmly as a colocation target; if that happens again, `then` is ruled out.
  (Ruling it out at once would also free whatever `then` kept `first` from, and the
  next run, `then` stopped, would place both: it would not converge.)
Each round adds at least one ban, reordering or rule-out, so rounds are bounded;
without cycles the first round already holds, so the usual cost is one pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

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


@dataclass
class _Corrections:
    """What earlier rounds learnt: nodes a resource must avoid, resources that cannot run."""

    bans: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    """Resource -> [(node, why)]."""
    ruled_out: dict[str, str] = field(default_factory=dict)
    """Resource -> why it cannot run."""
    first_then: list[tuple[str, str]] = field(default_factory=list)
    """Mandatory orders whose `first` must now be placed before `then`."""

    def ban(self, rid: str, node: str, why: str) -> None:
        self.bans.setdefault(rid, []).append((node, why))


def place_resources(inp: Inputs) -> dict[str, Decision]:
    """A decision per resource, keyed and ordered as the config lists resources."""
    corrections = _Corrections()
    order = placement_order(inp)
    while True:
        decisions = _place_once(inp, order, corrections)
        reordered = len(corrections.first_then)
        if not _correct_broken_rules(inp, decisions, corrections):
            return {r.id: decisions[r.id] for r in inp.resources}
        if len(corrections.first_then) != reordered:
            order = placement_order(inp, corrections.first_then)


def _place_once(inp: Inputs, order: list[str], corrections: _Corrections) -> dict[str, Decision]:
    placed: dict[str, str | None] = {}
    load = dict.fromkeys(inp.nodes, 0)
    decisions: dict[str, Decision] = {}
    for rid in order:
        rsc = inp.resources[inp.resource_index[rid]]
        sheet = base_scores(inp, rsc)
        apply_colocations(inp, rid, placed, sheet)
        for node, why in corrections.bans.get(rid, ()):
            sheet.add(node, -INFINITY, why)
        decision = _decide(inp, rid, sheet, placed, corrections.ruled_out, load)
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


def _correct_broken_rules(
    inp: Inputs, decisions: Mapping[str, Decision], corrections: _Corrections
) -> bool:
    """Record a correction for every hard rule the placement breaks; True if any."""
    found = False
    banned: set[tuple[str, str]] = set()
    for c in inp.colocations:
        here = decisions[c.resource].node
        there = decisions[c.with_resource].node
        if here is None or (c.resource, here) in banned:
            continue
        score = clamp(c.score)
        if score >= INFINITY and here != there:
            why = f"colocation {c.id}: {c.with_resource} cannot run on {here}"
        elif score <= -INFINITY and here == there:
            why = f"colocation {c.id}: never with {c.with_resource}, which is on {here}"
        else:
            continue
        corrections.ban(c.resource, here, why)
        banned.add((c.resource, here))
        found = True
    promoted_before = set(corrections.first_then)
    for o in inp.orders:
        if (
            o.kind != "Mandatory"
            or decisions[o.first].node is not None
            or decisions[o.then].node is None
            or o.then in corrections.ruled_out
        ):
            continue
        if (o.first, o.then) in promoted_before:
            corrections.ruled_out[o.then] = _order_cause(o.id, o.first)
        elif (o.first, o.then) not in corrections.first_then:
            corrections.first_then.append((o.first, o.then))
        found = True
    return found
