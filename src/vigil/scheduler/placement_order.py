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
    """Instance ids in placement order.

    `first_then`: mandatory orders whose `first` must be placed before `then` as firmly
    as a colocation target (a correction from `placement`, see there). Among ready
    instances, higher `priority` goes first, then config order. A colocation or order
    between many instances (clones) goes through one hub vertex rather than an edge
    per pair; hubs are passed through at once and never listed.
    """
    ids = [i.id for i in inp.instances]
    idx = inp.index
    count = len(ids)
    strong_out: list[list[int]] = [[] for _ in range(count)]
    weak_out: list[list[int]] = [[] for _ in range(count)]
    promoted_out: list[list[int]] = [[] for _ in range(count)]
    total = count

    def hub() -> int:
        nonlocal total
        for lists in (strong_out, weak_out, promoted_out):
            lists.append([])
        total += 1
        return total - 1

    def connect(out: list[list[int]], sources: Sequence[str], targets: Sequence[str]) -> None:
        src = [idx[s] for s in sources if s in idx]
        dst = [idx[t] for t in targets if t in idx]
        if len(src) > 1 and len(dst) > 1:
            h = hub()
            for i in src:
                out[i].append(h)
            out[h].extend(dst)
        else:
            for i in src:
                out[i].extend(j for j in dst if j != i)

    for c in inp.colocations:
        connect(strong_out, c.targets, c.dependents)
    for pc in inp.promotion_colocations:
        if pc.dependent_role:  # the clone's Promoted role follows `pc.targets`
            connect(strong_out, pc.targets, inp.layout.of_item.get(pc.clone, ()))
    for first, then in first_then:
        connect(strong_out, (first,), (then,))
        connect(promoted_out, (first,), (then,))
    for o in inp.orders:
        if o.kind == "Mandatory":
            connect(weak_out, o.first, o.then)

    strong_in = [0] * total
    weak_in = [0] * total
    promoted_in = [0] * total
    for v in range(total):
        for j in strong_out[v]:
            strong_in[j] += 1
        for j in weak_out[v]:
            weak_in[j] += 1
        for j in promoted_out[v]:
            promoted_in[j] += 1
    prio = [-i.meta.priority for i in inp.instances] + [0] * (total - count)

    component = strongly_connected(strong_out)
    members: dict[int, list[int]] = {}
    for v, comp in enumerate(component):
        members.setdefault(comp, []).append(v)
    cross_in = dict.fromkeys(members, 0)  # pending targets outside the component
    for v in range(total):
        for j in strong_out[v]:
            if component[v] != component[j]:
                cross_in[component[j]] += 1

    done = [False] * total
    ready = [(prio[i], i) for i in range(total) if strong_in[i] == 0 and weak_in[i] == 0]
    ready_strong = [(prio[i], i) for i in range(total) if strong_in[i] == 0]
    ready_cycle = [i for comp, n in cross_in.items() if n == 0 for i in members[comp]]
    for heap in (ready, ready_strong):
        heapq.heapify(heap)
    heapq.heapify(ready_cycle)
    order: list[str] = []
    processed = 0

    def pop_ready(heap: list[tuple[int, int]]) -> int | None:
        while heap:
            _, i = heapq.heappop(heap)
            if not done[i]:
                return i
        return None

    def finish(i: int) -> list[int]:
        """Mark `i` placed; returns hubs that became ready (passed through at once)."""
        nonlocal processed
        done[i] = True
        processed += 1
        if i < count:
            order.append(ids[i])
        hubs: list[int] = []
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
                if j >= count and weak_in[j] == 0:
                    hubs.append(j)
                    continue
                heapq.heappush(ready_strong, (prio[j], j))
                if weak_in[j] == 0:
                    heapq.heappush(ready, (prio[j], j))
        for j in weak_out[i]:
            weak_in[j] -= 1
            if weak_in[j] == 0 and strong_in[j] == 0 and not done[j]:
                if j >= count:
                    hubs.append(j)
                    continue
                heapq.heappush(ready, (prio[j], j))
        return hubs

    while processed < total:
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
                key=lambda k: (promoted_in[k] > 0, weak_in[k] > 0, prio[k], k),
            )
        work = [i]
        while work:
            v = work.pop()
            if not done[v]:
                work.extend(finish(v))
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
