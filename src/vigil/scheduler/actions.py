"""From placements to the actions that get the cluster there, with their dependencies.

Per resource: keep it where it runs and is placed; recover a FAILED copy in place
(stop then start); stop every other copy; start it on its node if it is not running
there. Its start waits for all of its stops, so it is never started while a copy may
still be running (S1). A blocked resource gets no action at all.

Across resources (order constraints, mandatory or optional): `then` starts after
`first` starts when both start; when symmetrical, `first` stops after `then` stops when
both stop. A mandatory order also restarts a running `then` whenever `first` starts
(moves, recovers or comes up), so `then` always runs on top of a fresh `first`, as in
Pacemaker; the restart spreads along chains of mandatory orders.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from vigil.model.transition import ActionOp
from vigil.scheduler.inputs import Inputs
from vigil.scheduler.placement import Decision
from vigil.scheduler.reasons import failure_words, why_not
from vigil.scheduler.scores import format_score, live_failure

ActionKey = tuple[ActionOp, str, str]
"""(op, resource, node): at most one action of each kind per resource and node."""


@dataclass
class DraftAction:
    op: ActionOp
    resource: str
    node: str
    reason: str
    deps: set[ActionKey] = field(default_factory=set)

    @property
    def key(self) -> ActionKey:
        return (self.op, self.resource, self.node)


class _Plan:
    def __init__(self) -> None:
        self.actions: dict[ActionKey, DraftAction] = {}
        self.stops: dict[str, list[ActionKey]] = {}
        self.start: dict[str, ActionKey] = {}

    def add(self, op: ActionOp, rid: str, node: str, reason: str) -> None:
        action = DraftAction(op, rid, node, reason)
        if action.key in self.actions:
            return
        self.actions[action.key] = action
        if op == "stop":
            self.stops.setdefault(rid, []).append(action.key)
        else:
            self.start[rid] = action.key


def plan_actions(inp: Inputs, decisions: Mapping[str, Decision]) -> list[DraftAction]:
    plan = _Plan()
    for rsc in inp.resources:
        _resource_actions(inp, decisions[rsc.id], plan)
    _restart_after_first(inp, decisions, plan)
    for rid, start in plan.start.items():
        plan.actions[start].deps.update(plan.stops.get(rid, ()))
    for o in inp.orders:
        first_start, then_start = plan.start.get(o.first), plan.start.get(o.then)
        if first_start is not None and then_start is not None:
            plan.actions[then_start].deps.add(first_start)
        if o.symmetrical:
            then_stops = plan.stops.get(o.then, ())
            for first_stop in plan.stops.get(o.first, ()):
                plan.actions[first_stop].deps.update(then_stops)
    return list(plan.actions.values())


def _resource_actions(inp: Inputs, decision: Decision, plan: _Plan) -> None:
    rid, target, sheet = decision.resource, decision.node, decision.sheet
    view = inp.views[rid]
    if decision.blocked:
        return
    if target is None:
        for node in view.active:
            plan.add("stop", rid, node, f"{rid}: stopping, {decision.cause}")
        return

    others = [n for n in view.active if n != target]
    if target in view.failed:
        rsc = inp.resources[inp.resource_index[rid]]
        fc = live_failure(inp.state.failures.get((target, rid)), rsc.meta, inp.state.now)
        reason = f"{rid}: recovering on {target} after {failure_words(fc, rsc.meta)}"
        plan.add("stop", rid, target, reason)
        plan.add("start", rid, target, reason)
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
        if len(others) == 1:
            plan.add("stop", rid, others[0], reason)
            return
    if others:
        where = ", ".join(view.active)
        for node in others:
            plan.add(
                "stop",
                rid,
                node,
                f"{rid}: stopping on {node}, active on several nodes ({where}); placed on {target}",
            )


def _restart_after_first(inp: Inputs, decisions: Mapping[str, Decision], plan: _Plan) -> None:
    """Restart each running `then` of a mandatory order whose `first` starts."""
    queue = deque(r.id for r in inp.resources if r.id in plan.start)
    while queue:
        first = queue.popleft()
        verb = _start_verb(plan, first)
        for o in inp.orders_by_first.get(first, ()):
            then = decisions[o.then]
            node = then.node
            if (
                o.kind != "Mandatory"
                or o.then in plan.start
                or then.blocked
                or node is None
                or node not in inp.views[o.then].active
            ):
                continue
            reason = f"{o.then}: restarting on {node} because {first} {verb} (order {o.id})"
            plan.add("stop", o.then, node, reason)
            plan.add("start", o.then, node, reason)
            queue.append(o.then)


def _start_verb(plan: _Plan, rid: str) -> str:
    _, _, node = plan.start[rid]
    stopped_on = {key[2] for key in plan.stops.get(rid, ())}
    if not stopped_on:
        return "starts"
    return "restarts" if node in stopped_on else "moves"
