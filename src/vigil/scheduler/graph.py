"""Lay the draft actions out as a numbered list whose dependencies point backwards.

A topological sort (Kahn) that, among actions whose dependencies are done, always
takes demotes, then stops, then starts, then promotes, then config order of instances,
then of nodes. No stop ever depends on a start, so every stop comes before every start.

Order constraints can form a loop (a then b, b then a); the config validator should
reject that, but the scheduler must still answer. When the sort is stuck it releases
the earliest action whose own resource's stops are done and drops its dependencies on
actions not yet listed. The stop-before-start rule of one resource (S1) is therefore
never dropped: only an inter-resource order inside the loop is.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable

from vigil.model.transition import Action
from vigil.scheduler.actions import ActionKey, DraftAction
from vigil.scheduler.inputs import Inputs

_SortKey = tuple[int, int, int]
_RANK = {"demote": 0, "stop": 1, "start": 2, "promote": 3}
_TEARDOWN = ("demote", "stop")


def number_actions(inp: Inputs, drafts: list[DraftAction]) -> tuple[Action, ...]:
    def sort_key(d: DraftAction) -> _SortKey:
        return (_RANK[d.op], inp.index[d.resource], inp.node_index[d.node])

    by_key = {d.key: d for d in drafts}
    pending = {d.key: len(d.deps) for d in drafts}
    dependents: dict[ActionKey, list[ActionKey]] = {k: [] for k in by_key}
    for d in drafts:
        for dep in d.deps:
            dependents[dep].append(d.key)

    ready = [(sort_key(d), d.key) for d in drafts if not d.deps]
    heapq.heapify(ready)
    ids: dict[ActionKey, int] = {}
    listed: list[DraftAction] = []
    stops_left = sum(1 for d in drafts if d.op in _TEARDOWN)
    while len(listed) < len(drafts):
        # A start may only go ahead of the stops if none is left: when the remaining
        # stops wait on each other (an order loop), break the loop among them first.
        if ready and (ready[0][0][0] <= _RANK["stop"] or stops_left == 0):
            _, key = heapq.heappop(ready)
            if key in ids:
                continue
        else:
            key = _break_loop(by_key, ids, sort_key)
        if key[0] in _TEARDOWN:
            stops_left -= 1
        ids[key] = len(listed) + 1
        listed.append(by_key[key])
        for later in dependents[key]:
            pending[later] -= 1
            if pending[later] == 0 and later not in ids:
                heapq.heappush(ready, (sort_key(by_key[later]), later))

    out = []
    for d in listed:
        inst = inp.instance(d.resource)
        out.append(Action(
            id=ids[d.key],
            node=d.node,
            resource=inst.run_id,
            op=d.op,
            deps=tuple(sorted(ids[k] for k in d.deps if k in ids and ids[k] < ids[d.key])),
            reason=d.reason,
            instance=inst.id if inst.clone is not None else "",
        ))
    return tuple(out)


def _break_loop(
    by_key: dict[ActionKey, DraftAction],
    ids: dict[ActionKey, int],
    sort_key: Callable[[DraftAction], _SortKey],
) -> ActionKey:
    """The earliest unlisted action whose same-resource dependencies are all listed.

    One always exists: stops have no same-resource dependencies, and once every stop
    is listed, every start's same-resource dependencies are listed too.
    """
    candidates = [
        d
        for k, d in by_key.items()
        if k not in ids and all(dep in ids for dep in d.deps if dep[1] == d.resource)
    ]
    return min(candidates, key=sort_key).key
