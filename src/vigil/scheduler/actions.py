"""From placements to the actions that get the cluster there, with their dependencies.

Per instance: keep it where it runs and is placed; recover a FAILED copy in place
(stop then start); stop every other copy; start it on its node if it is not running
there; then bring it to its role (promote or demote). A promoted copy is demoted
before it is stopped, and promoted only after it started. Its start waits for all of
its stops, so it is never started while a copy may still be running (S1). Within a
promotable clone every promote waits for every demote, so the clone never has more
promoted instances than it allows, even for a moment. A blocked or unmanaged
instance gets no action at all.

Across instances (order constraints, groups, `ordered` clones): `then`'s action after
`first`'s when both are in the transition; when symmetrical, the inverse actions in
the inverse order (stop `then` before `first`; demote before stop...). Interleaved
clones pair instances by node. A mandatory start order also restarts a running
`then` whenever a `first` instance starts (moves, recovers or comes up; for a clone
instance: only when it restarts or moves, not when a new instance is added), so
`then` always runs on top of a fresh `first`, as in Pacemaker; the restart spreads
along chains of mandatory orders (and so through groups). An asymmetric order
(`symmetrical: false`) restarts nothing: it only orders starts.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from vigil.model.transition import ActionOp
from vigil.scheduler.inputs import Inputs, Order
from vigil.scheduler.placement import Decision
from vigil.scheduler.reasons import failure_words, why_not
from vigil.scheduler.scores import format_score, live_failure

ActionKey = tuple[ActionOp, str, str]
"""(op, instance, node): at most one action of each kind per instance and node."""

_INVERSE: dict[str, ActionOp] = {
    "start": "stop", "stop": "start", "promote": "demote", "demote": "promote"}


@dataclass
class DraftAction:
    op: ActionOp
    resource: str
    """The instance id."""
    node: str
    reason: str
    deps: set[ActionKey] = field(default_factory=set)

    @property
    def key(self) -> ActionKey:
        return (self.op, self.resource, self.node)


class _Plan:
    def __init__(self) -> None:
        self.actions: dict[ActionKey, DraftAction] = {}
        self.by_op: dict[tuple[str, str], list[ActionKey]] = {}
        """(op, instance) -> its actions of that op (several stops, one of the rest)."""

    def add(self, op: ActionOp, rid: str, node: str, reason: str) -> ActionKey:
        action = DraftAction(op, rid, node, reason)
        if action.key not in self.actions:
            self.actions[action.key] = action
            self.by_op.setdefault((op, rid), []).append(action.key)
        return action.key

    def of(self, op: str, rid: str) -> list[ActionKey]:
        return self.by_op.get((op, rid), [])

    def start(self, rid: str) -> ActionKey | None:
        keys = self.of("start", rid)
        return keys[0] if keys else None

    def dep(self, later: ActionKey, earlier: ActionKey) -> None:
        if later != earlier:
            self.actions[later].deps.add(earlier)


def plan_actions(inp: Inputs, decisions: Mapping[str, Decision]) -> list[DraftAction]:
    plan = _Plan()
    for inst in inp.instances:
        _instance_actions(inp, decisions[inst.id], plan)
    _restart_after_first(inp, decisions, plan)
    for inst in inp.instances:
        _own_dependencies(plan, inst.id)
    _clone_dependencies(inp, plan)
    for o in inp.orders:
        _order_dependencies(plan, o)
    return list(plan.actions.values())


def _stop(plan: _Plan, inp: Inputs, rid: str, node: str, reason: str) -> None:
    if node in inp.views[rid].promoted:
        plan.add("demote", rid, node, reason)
    plan.add("stop", rid, node, reason)


def _instance_actions(inp: Inputs, decision: Decision, plan: _Plan) -> None:
    rid, target, sheet = decision.resource, decision.node, decision.sheet
    view = inp.views[rid]
    if decision.blocked or decision.frozen:
        return
    inst = inp.instance(rid)
    if target is None:
        for node in view.active:
            _stop(plan, inp, rid, node, f"{rid}: stopping, {decision.cause}")
        return

    several = len(view.active) > 1 and inst.clone is None
    if several and inst.meta.multiple_active in ("stop_start", "stop_only"):
        where = ", ".join(view.active)
        policy = inst.meta.multiple_active
        for node in view.active:
            _stop(plan, inp, rid, node, f"{rid}: stopping on {node}, active on several nodes "
                  f"({where}); multiple_active {policy}")
        if policy == "stop_start":
            plan.add("start", rid, target, f"{rid}: starting on {target} after stopping it on "
                     f"every node (active on several nodes: {where})")
            if decision.promoted:
                plan.add("promote", rid, target, f"{rid}: promoting on {target}; "
                         f"{decision.role_cause}")
        return

    others = [n for n in view.active if n != target]
    started = False
    if target in view.failed:
        rsc = inst.rsc
        fc = live_failure(inp.state.failures.get((target, inst.run_id)), rsc.meta,
                          inp.state.now)
        reason = f"{rid}: recovering on {target} after {failure_words(fc, rsc.meta)}"
        _stop(plan, inp, rid, target, reason)
        plan.add("start", rid, target, reason)
        started = True
    elif target not in view.active:
        if len(others) == 1:
            reason = f"{rid}: moving {others[0]} -> {target} ({why_not(sheet, others[0], target)})"
        elif view.lost_on and not others:
            reason = (
                f"{rid}: starting on {target} because {why_not(sheet, view.lost_on[0], target)}"
            )
        else:
            reason = f"{rid}: starting on {target} (score {format_score(sheet.score(target))})"
        plan.add("start", rid, target, reason)
        started = True
        if len(others) == 1:
            _stop(plan, inp, rid, others[0], reason)
            others = []
    for node in others:
        where = ", ".join(view.active)
        _stop(plan, inp, rid, node,
              f"{rid}: stopping on {node}, active on several nodes ({where}); placed on {target}")
    _role_actions(inp, decision, plan, started)


def _role_actions(inp: Inputs, decision: Decision, plan: _Plan, started: bool) -> None:
    rid, target = decision.resource, decision.node
    if target is None:
        return
    inst = inp.instance(rid)
    if inst.clone is None or not inst.clone.promotable:
        return
    promoted_now = target in inp.views[rid].promoted and not started
    if promoted_now and (rid, target) in inp.promotion_bans:
        # Its Promoted monitor failed with on_fail demote: demote it, and promote it
        # again in place when it is still the best choice.
        plan.add("demote", rid, target, f"{rid}: demoting on {target} after its promoted "
                 "monitor failed (on_fail demote)")
        promoted_now = False
    if decision.promoted and not promoted_now:
        plan.add("promote", rid, target, f"{rid}: promoting on {target}; {decision.role_cause}")
    elif promoted_now and not decision.promoted:
        plan.add("demote", rid, target, f"{rid}: demoting on {target}; {decision.role_cause}")


def _own_dependencies(plan: _Plan, rid: str) -> None:
    """demote -> stop on each node; all stops -> start -> promote."""
    stops = plan.of("stop", rid)
    for stop in stops:
        for demote in plan.of("demote", rid):
            if demote[2] == stop[2]:
                plan.dep(stop, demote)
    start = plan.start(rid)
    if start is not None:
        plan.actions[start].deps.update(stops)
        for promote in plan.of("promote", rid):
            plan.dep(promote, start)


def _clone_dependencies(inp: Inputs, plan: _Plan) -> None:
    """In a promotable clone, every promote waits for every demote."""
    for clone in inp.config.clones:
        if not clone.promotable:
            continue
        ids = inp.layout.of_item.get(clone.id, ())
        demotes = [k for i in ids for k in plan.of("demote", i)]
        if not demotes:
            continue
        for i in ids:
            for promote in plan.of("promote", i):
                plan.actions[promote].deps.update(demotes)


def _order_dependencies(plan: _Plan, o: Order) -> None:
    _link(plan, o, o.first, o.first_action, o.then, o.then_action)
    if o.symmetrical and o.kind != "Serialize":
        # Undo in reverse: `then`'s inverse action before `first`'s inverse action.
        _link(plan, o, o.then, _INVERSE[o.then_action], o.first, _INVERSE[o.first_action])


def _link(plan: _Plan, o: Order, before: tuple[str, ...], before_op: str,
          after: tuple[str, ...], after_op: str) -> None:
    earlier = [k for rid in before for k in plan.of(before_op, rid)]
    if not earlier:
        return
    for rid in after:
        for later in plan.of(after_op, rid):
            deps = [k for k in earlier if k[2] == later[2]] if o.interleave else earlier
            plan.actions[later].deps.update(k for k in deps if k != later)


def _restart_after_first(inp: Inputs, decisions: Mapping[str, Decision], plan: _Plan) -> None:
    """Restart each running `then` of a mandatory start order whose `first` starts."""
    queue = deque(i.id for i in inp.instances if plan.start(i.id) is not None)
    while queue:
        first = queue.popleft()
        verb = _start_verb(plan, first)
        first_node = plan.start(first)
        assert first_node is not None
        for o in inp.orders_by_first.get(first, ()):
            if o.kind != "Mandatory" or o.first_action != "start" or o.then_action != "start" \
                    or not o.symmetrical:
                continue  # asymmetric: no "stop then before first" half, nothing to redo
            if len(o.first) > 1 and verb == "starts":
                continue  # a new clone instance: the clone was already running
            for then_id in o.then:
                then = decisions[then_id]
                node = then.node
                if (
                    plan.start(then_id) is not None
                    or then.blocked
                    or then.frozen
                    or node is None
                    or node not in inp.views[then_id].active
                    or (o.interleave and node != first_node[2])
                ):
                    continue
                name = o.id if o.id.startswith("group ") else f"order {o.id}"
                reason = f"{then_id}: restarting on {node} because {first} {verb} ({name})"
                _stop(plan, inp, then_id, node, reason)
                plan.add("start", then_id, node, reason)
                if then.promoted:
                    plan.add("promote", then_id, node, reason)
                queue.append(then_id)


def _start_verb(plan: _Plan, rid: str) -> str:
    start = plan.start(rid)
    assert start is not None
    stopped_on = {key[2] for key in plan.of("stop", rid)}
    if not stopped_on:
        return "starts"
    return "restarts" if start[2] in stopped_on else "moves"
