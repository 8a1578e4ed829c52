"""The order in which resources are placed.

A colocation target must be placed before its dependents (the dependent follows the
target). A mandatory order's `first` is also placed before its `then` when that does
not fight a colocation, so that `then` knows whether `first` will run. Among resources
that are ready, config order decides.

Cycles are broken deterministically: when nothing is ready, the earliest resource (in
config order) whose colocation targets are all placed goes next, ignoring its pending
order edges; if there is none (a colocation cycle), the earliest remaining resource
goes next and its unplaced colocation targets are honoured in reverse when they are
placed (see `placement.py`). Runs in O((resources + constraints) log resources).
"""

from __future__ import annotations

import heapq

from vigil.scheduler.inputs import Inputs


def placement_order(inp: Inputs) -> list[str]:
    ids = [r.id for r in inp.resources]
    idx = inp.resource_index
    count = len(ids)
    strong_in = [0] * count  # pending colocation targets
    weak_in = [0] * count  # pending mandatory-order `first`s
    strong_out: list[list[int]] = [[] for _ in range(count)]
    weak_out: list[list[int]] = [[] for _ in range(count)]
    for c in inp.colocations:
        strong_out[idx[c.with_resource]].append(idx[c.resource])
        strong_in[idx[c.resource]] += 1
    for o in inp.orders:
        if o.kind == "Mandatory":
            weak_out[idx[o.first]].append(idx[o.then])
            weak_in[idx[o.then]] += 1

    done = [False] * count
    ready = [i for i in range(count) if strong_in[i] == 0 and weak_in[i] == 0]
    ready_strong = [i for i in range(count) if strong_in[i] == 0]
    heapq.heapify(ready)
    heapq.heapify(ready_strong)
    earliest = 0  # every index below it is done: amortised O(n) scan in cycles
    order: list[str] = []

    def pop_ready(heap: list[int]) -> int | None:
        while heap:
            i = heapq.heappop(heap)
            if not done[i]:
                return i
        return None

    while len(order) < count:
        i = pop_ready(ready)
        if i is None:
            i = pop_ready(ready_strong)
        if i is None:
            while done[earliest]:
                earliest += 1
            i = earliest
        done[i] = True
        order.append(ids[i])
        for j in strong_out[i]:
            strong_in[j] -= 1
            if strong_in[j] == 0 and not done[j]:
                heapq.heappush(ready_strong, j)
                if weak_in[j] == 0:
                    heapq.heappush(ready, j)
        for j in weak_out[i]:
            weak_in[j] -= 1
            if weak_in[j] == 0 and strong_in[j] == 0 and not done[j]:
                heapq.heappush(ready, j)
    return order
