"""Shrinking a failing run: drop faults from its schedule while the same rule still breaks.

A delta-debugging pass (ddmin): try without each chunk of the schedule, halving the chunk
size when nothing can go; what is left is a short schedule that still fails, replayable
with the same seed (`vigil sim replay SEED --shrink`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from vigil.sim.faults import Fault
from vigil.sim.world import RunResult, World


def shrink(seed: int, faults: list[Fault], rule: str, *, nodes: int | None = None,
           budget: int = 60) -> tuple[list[Fault], RunResult | None]:
    # The schedule is explicit, so how it was drawn (intensity) no longer matters.
    """The shortest schedule found (within `budget` runs) that still breaks `rule`."""
    last: RunResult | None = None

    def fails(candidate: list[Fault]) -> bool:
        nonlocal last
        result = World(seed, nodes=nodes, faults=candidate).run()
        if any(v.rule == rule for v in result.violations):
            last = result
            return True
        return False

    return ddmin(faults, fails, budget), last


def ddmin(items: list[Fault], fails: Callable[[list[Fault]], bool],
          budget: int) -> list[Fault]:
    cur = list(items)
    parts = 2
    runs = 0
    while cur and runs < budget:
        size = math.ceil(len(cur) / parts)
        for i in range(0, len(cur), size):
            candidate = cur[:i] + cur[i + size:]
            runs += 1
            if fails(candidate):
                cur = candidate
                parts = max(parts - 1, 2)
                break
            if runs >= budget:
                break
        else:
            if size == 1:
                break
            parts = min(len(cur), parts * 2)
    return cur
