"""Choosing one node (or none) for every instance, and the role of clone instances.

Instances are placed one by one in `placement_order`. Each gets the node with the best
score among nodes with score >= 0 (non-hosting nodes are at -INFINITY) that still have
room: at most `clone_node_max` instances of a clone per node, and enough free capacity
when the placement strategy counts utilization. Ties go to a node it already runs on
(as Pacemaker does: without this a saturated score, e.g. INFINITY + stickiness, would
let a resource hop between equally good nodes), then by the placement strategy:
`default`/`utilization`: the node with the fewest instances placed so far in this run;
`balanced`: the most free capacity, then the fewest instances; `minimal`: config
order alone (fill the first nodes). Then config order.

Once every instance of a promotable clone is placed, its promoted instances are
chosen (`promotion`), so that anything colocated with the Promoted role can follow.

Hard rules that the one-pass loop cannot always see inside a cycle (a mandatory order
whose `first` is placed after its `then`; a colocation honoured in reverse) are checked
afterwards, and the whole placement is recomputed with a correction, until nothing
breaks:
- a dependent placed where its mandatory target is not (or where its anti-colocated
  target also is) is banned from that node only, so the pair can meet elsewhere;
- a `then` placed although its mandatory `first` will not run was placed before
  `first` (the order edge lost to a colocation): the next round places `first` before
  it, as firmly as a colocation target; if that happens again, `then` is ruled out.
Each round adds at least one ban, reordering or rule-out, so rounds are bounded;
without cycles the first round already holds, so the usual cost is one pass.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field

from vigil.model.config import INFINITY
from vigil.scheduler.inputs import Inputs, Order
from vigil.scheduler.instances import Instance
from vigil.scheduler.node_scores import (
    BaseCache,
    apply_colocations,
    pull,
    target_nodes,
)
from vigil.scheduler.placement_order import placement_order
from vigil.scheduler.promotion import choose_promoted
from vigil.scheduler.reasons import cannot_run_anywhere, why_not
from vigil.scheduler.scores import ScoreSheet, format_score


@dataclass(frozen=True)
class Decision:
    resource: str
    """The instance id."""
    node: str | None
    cause: str
    """Why it is (not) placed, without the resource name: "target-role Stopped"."""
    sheet: ScoreSheet
    blocked: bool = False
    frozen: bool = False
    """Left as it is (unmanaged): no actions; `node` is where it runs, if anywhere."""
    promoted: bool = False
    """Instances of promotable clones: to run in the Promoted role."""
    role_cause: str = ""

    @property
    def reason(self) -> str:
        return f"{self.resource}: {self.cause}"


@dataclass
class _Corrections:
    """What earlier rounds learnt: nodes an instance must avoid, instances that cannot run."""

    bans: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    ruled_out: dict[str, str] = field(default_factory=dict)
    first_then: list[tuple[str, str]] = field(default_factory=list)

    def ban(self, rid: str, node: str, why: str) -> None:
        self.bans.setdefault(rid, []).append((node, why))


def place_resources(inp: Inputs) -> dict[str, Decision]:
    """A decision per instance, keyed and ordered as the instances are listed."""
    corrections = _Corrections()
    order = placement_order(inp)
    cache = BaseCache(inp)
    for _ in range(4 * len(inp.instances) + 8):
        decisions = _Round(inp, cache, corrections).run(order)
        reordered = len(corrections.first_then)
        if not _correct_broken_rules(inp, decisions, corrections):
            break
        if len(corrections.first_then) != reordered:
            order = placement_order(inp, corrections.first_then)
    return {i.id: decisions[i.id] for i in inp.instances}


class _Round:
    """One pass of placement over every instance."""

    def __init__(self, inp: Inputs, cache: BaseCache, corrections: _Corrections) -> None:
        self.inp = inp
        self.cache = cache
        self.corrections = corrections
        self.placed: dict[str, str | None] = {}
        self.promoted: dict[str, bool] = {}
        self.load = dict.fromkeys(inp.nodes, 0)
        self.by_load = sorted((0, inp.name_rank[n], n) for n in inp.nodes)
        """(load, name rank, node), sorted: the default tie-break order."""
        self.per_clone: dict[tuple[str, str], int] = {}
        self.decisions: dict[str, Decision] = {}
        self.capacity = {n.name: dict(n.capacity) for n in inp.config.nodes}
        self.counts_utilization = inp.config.placement_strategy != "default"
        self.clone_left: dict[str, int] = {}
        for inst in inp.instances:
            if inst.clone is not None:
                self.clone_left[inst.clone.id] = self.clone_left.get(inst.clone.id, 0) + 1
        self.runnable = {
            i.id: i.id not in inp.role_stopped and inp.views[i.id].blocked is None
            for i in inp.instances
        }

    def run(self, order: list[str]) -> dict[str, Decision]:
        order = list(order)
        sorted_clones: set[str] = set()
        for pos, iid in enumerate(order):
            inst = self.inp.instance(iid)
            if inst.clone is not None and inst.clone.id not in sorted_clones:
                sorted_clones.add(inst.clone.id)
                self._sort_instances(inst.clone.id, order, pos)
                iid = order[pos]
                inst = self.inp.instance(iid)
            decision = self._place(inst)
            self.decisions[iid] = decision
            self.placed[iid] = decision.node
            held = self.inp.views[iid].held
            if decision.node is None and decision.blocked and held:
                self._count(held[0])  # stuck where its stop failed: that node's load
            if decision.node is not None:
                self._count(decision.node)
                if inst.clone is not None and inst.member == 0:
                    key = (inst.clone.id, decision.node)
                    self.per_clone[key] = self.per_clone.get(key, 0) + 1
                if self.counts_utilization:
                    for k, v in inst.rsc.utilization.items():
                        cap = self.capacity.get(decision.node, {})
                        if k in cap:
                            cap[k] -= v
            if inst.clone is not None:
                self.clone_left[inst.clone.id] -= 1
                if self.clone_left[inst.clone.id] == 0 and inst.clone.promotable:
                    self._promote(inst.clone.id)
        return self.decisions

    def _sort_instances(self, clone_id: str, order: list[str], start: int) -> None:
        """Place a clone's instances in Pacemaker's order: those running where they
        score best first, so an instance keeps its node rather than another instance
        taking it and both moving (instances are interchangeable)."""
        inp = self.inp
        heads = inp.layout.heads.get(clone_id, ())
        if len(heads) < 2:
            return

        def key(n: int) -> tuple[int, int, int]:
            head = heads[n]
            view = inp.views[head]
            if not view.active:
                return (1, 0, n)
            sheet = self.cache.get(head).copy()
            pull(inp, head, sheet, self.placed, self.cache, self.runnable)
            apply_colocations(inp, head, self.placed, self.promoted, sheet)
            return (0, -sheet.score(view.active[0]), n)

        numbers = sorted(range(len(heads)), key=key)
        if numbers == sorted(numbers):
            return
        members: dict[str, list[int]] = {}
        for pos in range(start, len(order)):
            inst = inp.instance(order[pos])
            if inst.clone is not None and inst.clone.id == clone_id:
                members.setdefault(inst.primitive, []).append(pos)
        for primitive, slots in members.items():
            for slot, n in zip(slots, numbers, strict=False):
                # The same member of instance n: its id keeps the instance's suffix.
                suffix = heads[n][len(inp.instance(heads[n]).primitive):]
                order[slot] = f"{primitive}{suffix}"

    def _count(self, node: str) -> None:
        old = (self.load[node], self.inp.name_rank[node], node)
        del self.by_load[bisect.bisect_left(self.by_load, old)]
        self.load[node] += 1
        bisect.insort(self.by_load, (old[0] + 1, old[1], node))

    def _promote(self, clone_id: str) -> None:
        members = [self.decisions[i] for i in self.inp.layout.of_item[clone_id]]
        for d, promoted, cause in choose_promoted(self.inp, clone_id, members, self.placed):
            self.promoted[d.resource] = promoted
            self.decisions[d.resource] = Decision(
                d.resource, d.node, d.cause, d.sheet, d.blocked, d.frozen, promoted, cause)

    def _place(self, inst: Instance) -> Decision:
        inp, iid = self.inp, inst.id
        sheet = self.cache.get(iid).copy()
        if inst.prev is None:
            pull(inp, iid, sheet, self.placed, self.cache, self.runnable)
        apply_colocations(inp, iid, self.placed, self.promoted, sheet)
        for node, why in self.corrections.bans.get(iid, ()):
            sheet.add(node, -INFINITY, why)
        return self._decide(inst, sheet)

    def _decide(self, inst: Instance, sheet: ScoreSheet) -> Decision:
        inp, iid = self.inp, inst.id
        view = inp.views[iid]
        # Blocked comes first: even a resource asked to stop cannot be stopped where the
        # node is unreachable or its stop already failed.
        if view.blocked is not None:
            return Decision(iid, None, f"blocked, {view.blocked}", sheet, blocked=True)
        if view.frozen is not None:
            node = view.active[0] if view.active else None
            return Decision(iid, node, view.frozen, sheet, frozen=True)
        if iid in inp.role_stopped:
            return Decision(iid, None, inp.role_stopped[iid], sheet)
        if iid in self.corrections.ruled_out:
            return Decision(iid, None, self.corrections.ruled_out[iid], sheet)
        active = set(view.active)
        for o in inp.orders_by_then.get(iid, ()):
            if o.kind == "Mandatory" and self._first_wont_run(o):
                if o.symmetrical or not active:
                    return Decision(iid, None, _order_cause(o), sheet)
                # Asymmetric: `first` not running only keeps `then` from starting; a
                # running `then` may stay where it is (as in Pacemaker).
                sheet.restrict(frozenset(active), f"{_order_cause(o)}: it can only stay "
                               "where it runs (the order is not symmetrical)")
        best = self._best(inst, sheet, active)
        if best is None:
            allowed = [n for n in inp.nodes if sheet.score(n) >= 0]
            if not allowed:
                return Decision(iid, None, cannot_run_anywhere(sheet), sheet)
            return Decision(iid, None, self._no_room(inst, allowed), sheet)
        score = format_score(sheet.score(best))
        if best in view.failed:
            return Decision(iid, best, f"recovers on {best} (score {score})", sheet)
        if best in active:
            return Decision(iid, best, f"stays on {best} (score {score})", sheet)
        # Say why it is not where it ran before: that is what an operator asks first.
        tail = "".join(
            f"; not on {n}: {self._why_not(inst, sheet, n, best)}"
            for n in (*view.active, *view.lost_on)
        )
        return Decision(iid, best, f"placed on {best} (score {score}){tail}", sheet)

    def _best(self, inst: Instance, sheet: ScoreSheet, active: set[str]) -> str | None:
        """The best node with score >= 0 and room, or None.

        Only nodes the sheet mentions (and where the instance runs) can score other
        than 0; of the rest, the first in tie-break order with room stands for all.
        """
        restricted = sheet.allowed()
        named = set(sheet.explicit()) | active
        if restricted is not None:
            named &= restricted
        candidates = [n for n in named if sheet.score(n) >= 0 and self._has_room(inst, n)]
        top = max((sheet.score(n) for n in candidates), default=-1)
        if top <= 0:
            plain = self._plain_node(inst, sheet, named, restricted)
            if plain is not None:
                candidates.append(plain)
        if not candidates:
            return None

        keep = inst.clone is not None

        def compare(a: str, b: str) -> int:
            return self._compare(sheet, active, a, b, keep)

        return min(candidates, key=functools.cmp_to_key(compare))

    def _plain_node(self, inst: Instance, sheet: ScoreSheet, named: set[str],
                    restricted: frozenset[str] | None) -> str | None:
        """The best node scoring a plain 0 (nothing said about it) that has room."""
        unavailable = self.inp.unavailable
        strategy = self.inp.config.placement_strategy
        if restricted is not None or strategy == "balanced":
            pool = restricted if restricted is not None else self.inp.nodes
            plain = [n for n in pool if n not in named and unavailable[n] is None
                     and self._has_room(inst, n)]
            if not plain:
                return None
            def compare(a: str, b: str) -> int:
                return self._compare(sheet, set(), a, b)

            return min(plain, key=functools.cmp_to_key(compare))
        order = self.inp.nodes if strategy == "minimal" else (e[2] for e in self.by_load)
        for n in order:
            if n not in named and unavailable[n] is None and self._has_room(inst, n):
                return n
        return None

    def _why_not(self, inst: Instance, sheet: ScoreSheet, node: str, best: str) -> str:
        if sheet.score(node) >= 0 and not self._has_room(inst, node):
            return self._no_room(inst, [node])
        return why_not(sheet, node, best)

    def _first_wont_run(self, o: Order) -> bool:
        """A mandatory order's `first` has nothing that will run (in its action's role)."""
        known = [f for f in o.first if f in self.placed]
        if not known or len(known) < len(o.first):
            return False
        if o.first_action == "promote":
            return not any(self.promoted.get(f, False) for f in known)
        if o.first_action != "start":
            return False
        return all(self.placed[f] is None for f in known)

    def _has_room(self, inst: Instance, node: str) -> bool:
        c = inst.clone
        if c is not None and inst.member == 0 and \
                self.per_clone.get((c.id, node), 0) >= c.clone_node_max:
            return False
        if not self.counts_utilization or inst.member != 0:
            return True
        need = self._utilization(inst)
        cap = self.capacity.get(node, {})
        return all(cap.get(k, 0) >= v for k, v in need.items() if v > 0)

    def _utilization(self, inst: Instance) -> dict[str, int]:
        """What the instance needs; a group's first member reserves for the whole group."""
        need = dict(inst.rsc.utilization)
        if inst.group is not None:
            suffix = inst.id[len(inst.primitive):]
            for m in inst.group.members[1:]:
                other = self.inp.index.get(f"{m}{suffix}")
                if other is not None:
                    for k, v in self.inp.instances[other].rsc.utilization.items():
                        need[k] = need.get(k, 0) + v
        return need

    def _no_room(self, inst: Instance, nodes: list[str]) -> str:
        c = inst.clone
        if c is not None and all(
                self.per_clone.get((c.id, n), 0) >= c.clone_node_max for n in nodes):
            return (f"no node left for another instance of {c.id} "
                    f"(clone_node_max {c.clone_node_max})")
        need = self._utilization(inst)
        what = ", ".join(f"{k} {v}" for k, v in sorted(need.items()))
        return f"not enough free capacity for {what} on {', '.join(nodes)}"

    def _free(self, node: str) -> dict[str, int]:
        return self.capacity.get(node, {})

    def _compare(self, sheet: ScoreSheet, active: set[str], a: str, b: str,
                 keep: bool = False) -> int:
        """Pacemaker's order of equally scored nodes (as crm_simulate shows): the node
        it runs on when the score is positive (so a saturated score, e.g. INFINITY plus
        stickiness, never lets it hop) or when it is a clone instance (`keep`: an
        instance keeps its node); then the placement strategy's measure (the fewest
        instances placed so far); then the node it runs on; then node name. So with
        stickiness 0 a primitive moves to a less loaded node, as in Pacemaker."""
        sa, sb = sheet.score(a), sheet.score(b)
        if sa != sb:
            return -1 if sa > sb else 1
        a_on, b_on = a in active, b in active
        if (sa > 0 or keep) and a_on != b_on:
            return -1 if a_on else 1
        strategy = self.inp.config.placement_strategy
        if strategy == "balanced":
            more = _more_free(self._free(a), self._free(b))
            if more:
                return more
        if strategy != "minimal" and self.load[a] != self.load[b]:
            return -1 if self.load[a] < self.load[b] else 1
        if a_on != b_on:
            return -1 if a_on else 1
        rank = self.inp.name_rank
        return -1 if rank[a] < rank[b] else 1


def _more_free(a: Mapping[str, int], b: Mapping[str, int]) -> int:
    """-1 if node a has more free capacity than b (more attributes where it has more)."""
    wins = sum(1 for k in a.keys() | b.keys() if a.get(k, 0) > b.get(k, 0))
    losses = sum(1 for k in a.keys() | b.keys() if a.get(k, 0) < b.get(k, 0))
    return -1 if wins > losses else 1 if losses > wins else 0


def _order_cause(o: Order) -> str:
    first = o.first_name or ", ".join(o.first)
    what = "promoted" if o.first_action == "promote" else "first"
    if o.first_action == "promote":
        return (f"cannot run: order {o.id} needs {first} {what}, "
                f"and {first} will not be promoted")
    return f"cannot run: order {o.id} needs {first} first, and {first} will not run"


def _correct_broken_rules(
    inp: Inputs, decisions: Mapping[str, Decision], corrections: _Corrections
) -> bool:
    """Record a correction for every hard rule the placement breaks; True if any."""
    found = False
    banned: set[tuple[str, str]] = set()
    placed = {k: d.node for k, d in decisions.items()}
    promoted = {k: d.promoted for k, d in decisions.items()}
    for c in inp.colocations:
        if abs(c.score) < INFINITY:
            continue
        where = target_nodes(c, placed, promoted) or ()
        for dep in c.dependents:
            d = decisions[dep]
            here = d.node
            if here is None or d.frozen or (dep, here) in banned:
                continue
            if c.score >= INFINITY and here not in where:
                why = f"colocation {c.id}: {c.target} cannot run on {here}"
            elif c.score <= -INFINITY and here in where:
                why = f"colocation {c.id}: never with {c.target}, which is on {here}"
            else:
                continue
            if any(decisions[t].frozen for t in c.targets):
                continue
            corrections.ban(dep, here, why)
            banned.add((dep, here))
            found = True
    promoted_before = set(corrections.first_then)
    for o in inp.orders:
        if o.kind != "Mandatory" or o.first_action != "start":
            continue
        if any(decisions[f].node is not None for f in o.first):
            continue
        for then in o.then:
            if decisions[then].node is None or then in corrections.ruled_out \
                    or decisions[then].frozen:
                continue
            if not o.symmetrical and decisions[then].node in inp.views[then].active:
                continue  # stays where it runs: an asymmetric order only holds starts
            pairs = [(f, then) for f in o.first]
            if all(p in promoted_before for p in pairs):
                corrections.ruled_out[then] = _order_cause(o)
            else:
                for p in pairs:
                    if p not in corrections.first_then:
                        corrections.first_then.append(p)
            found = True
    return found
