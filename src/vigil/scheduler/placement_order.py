"""The order in which resources are placed.

A colocation target must be placed before its dependents (the dependent follows the
target). A mandatory order's `first` is also placed before its `then` when that does
not fight a colocation, so that `then` knows whether `first` will run. Among resources
that are ready, config order decides.

Cycles are broken deterministically. When nothing is ready, the earliest resource (in
config order) whose colocation targets are all placed goes next, ignoring its pending
order edges. If there is none, colocations form a cycle: the earliest resource of a
cycle that nothing outside it still waits on goes next (found with strongly connected
components, so a resource merely downstream of a cycle never jumps ahead of it), and
its unplaced mandatory colocation targets are honoured in reverse when they are placed
(see `node_scores.apply_colocations`). Inside such a cycle, a resource still held back
by a promoted order (`first_then`, a correction from `placement`), or else by a
mandatory order, waits for its `first` if another member can go.
Runs in O((resources + constraints) log resources) when there are no cycles.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

from vigil.scheduler.inputs import Inputs


def placement_order(inp: Inputs, first_then: Sequence[tuple[str, str]] = ()) -> list[str]:
    """Resource ids in placement order.

    `first_then`: mandatory orders whose `first` must be placed before `then` as firmly
    as a colocation target (a correction from `placement`, see there).
    """
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
    promoted_in = [0] * count  # pending promoted `first`s (also counted in strong_in)
    promoted_out: list[list[int]] = [[] for _ in range(count)]
    for first, then in first_then:
        strong_out[idx[first]].append(idx[then])
        strong_in[idx[then]] += 1
        promoted_out[idx[first]].append(idx[then])
        promoted_in[idx[then]] += 1
    for o in inp.orders:
        if o.kind == "Mandatory":
            weak_out[idx[o.first]].append(idx[o.then])
            weak_in[idx[o.then]] += 1

    component = strongly_connected(strong_out)
    members: dict[int, list[int]] = {}
    for v, comp in enumerate(component):
        members.setdefault(comp, []).append(v)
    cross_in = dict.fromkeys(members, 0)  # pending targets outside the component
    for v in range(count):
        for j in strong_out[v]:
            if component[v] != component[j]:
                cross_in[component[j]] += 1

    done = [False] * count
    ready = [i for i in range(count) if strong_in[i] == 0 and weak_in[i] == 0]
    ready_strong = [i for i in range(count) if strong_in[i] == 0]
    ready_cycle = [i for comp, n in cross_in.items() if n == 0 for i in members[comp]]
    for heap in (ready, ready_strong, ready_cycle):
        heapq.heapify(heap)
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
            # Breaking a colocation cycle: prefer a member no promoted order (the fix
            # for a rule broken in an earlier round) and then no mandatory order still
            # holds back, so `first` goes before `then` whenever the cycle allows.
            # The remaining components form a DAG, so one of them has no pending
            # outside targets and its members are in ready_cycle: never empty here.
            i = min(
                (k for k in ready_cycle if not done[k]),
                key=lambda k: (promoted_in[k] > 0, weak_in[k] > 0, k),
            )
        done[i] = True
        order.append(ids[i])
        for j in promoted_out[i]:
            promoted_in[j] -= 1
        for j in strong_out[i]:
            strong_in[j] -= 1
            if component[i] != component[j]:
                cross_in[component[j]] -= 1
                if cross_in[component[j]] == 0:
                    for k in members[component[j]]:
                        heapq.heappush(ready_cycle, k)
            if strong_in[j] == 0 and not done[j]:
                heapq.heappush(ready_strong, j)
                if weak_in[j] == 0:
                    heapq.heappush(ready, j)
        for j in weak_out[i]:
            weak_in[j] -= 1
            if weak_in[j] == 0 and strong_in[j] == 0 and not done[j]:
                heapq.heappush(ready, j)
    return order


def strongly_connected(out: list[list[int]]) -> list[int]:
    """Component number of every vertex (Tarjan's algorithm, iterative: no recursion limit)."""
    count = len(out)
    index = [-1] * count
    low = [0] * count
    on_stack = [False] * count
    component = [-1] * count
    stack: list[int] = []
    counter = 0
    components = 0
    for root in range(count):
        if index[root] != -1:
            continue
        work = [(root, 0)]
        while work:
            v, edge = work.pop()
            if edge == 0:
                index[v] = low[v] = counter
                counter += 1
                stack.append(v)
                on_stack[v] = True
            if edge < len(out[v]):
                work.append((v, edge + 1))
                w = out[v][edge]
                if index[w] == -1:
                    work.append((w, 0))
                elif on_stack[w]:
                    low[v] = min(low[v], index[w])
                continue
            if low[v] == index[v]:
                while True:
                    w = stack.pop()
                    on_stack[w] = False
                    component[w] = components
                    if w == v:
                        break
                components += 1
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[v])
    return component
