"""The safety rules the "it bites" tests switch off, one at a time, in this process only.

Each switch monkeypatches one rule of vigil's core as the simulator calls it; nothing
here exists in production code. `first_failing_seed` runs seeds until one breaks an
invariant (single process, so the patch is in effect).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from vigil.core import coordinator, lifecycle
from vigil.core import node as core_node
from vigil.core.snapshot import Snapshot
from vigil.sim.world import RunResult, run_seed


def recover_without_fencing(mp: pytest.MonkeyPatch) -> None:
    """A fencing that was merely requested (running, even failed) counts as confirmed."""
    def fenced(snapshot: Snapshot) -> frozenset[str]:
        return frozenset(snapshot.fencing)
    mp.setattr(coordinator, "fenced_nodes", fenced)


def keep_running_after_lease_loss(mp: pytest.MonkeyPatch) -> None:
    """The S2 guard never stops anything, and the watchdog is never given a deadline."""
    mp.setattr(lifecycle, "lease_guard", lambda *a, **k: None)
    mp.setattr(lifecycle, "watchdog_deadline", lambda clock, frozen, now, timeout: now + 1e9)


def write_without_dc_key(mp: pytest.MonkeyPatch) -> None:
    """A coordinator's writes no longer check that it still holds the election key."""
    mp.setattr(lifecycle, "dc_guard", lambda keys, token, lease: [])


def start_before_stop(mp: pytest.MonkeyPatch) -> None:
    """Actions no longer wait for their dependencies (a start for its stop elsewhere)."""
    mp.setattr(core_node, "_succeeded", lambda snapshot, tid, dep: dep is not None)


SWITCHES: dict[str, tuple[Callable[[pytest.MonkeyPatch], None], tuple[str, ...]]] = {
    "recover_without_fencing": (recover_without_fencing, ("S4", "S1")),
    "keep_running_after_lease_loss": (keep_running_after_lease_loss, ("S2", "S1")),
    "write_without_dc_key": (write_without_dc_key, ("S3",)),
    "start_before_stop": (start_before_stop, ("S1", "S4")),
}


@contextmanager
def switched_off(name: str) -> Iterator[None]:
    mp = pytest.MonkeyPatch()
    try:
        SWITCHES[name][0](mp)
        yield
    finally:
        mp.undo()


def first_failing_seed(limit: int, rules: tuple[str, ...], start: int = 0,
                       **kw: Any) -> tuple[int | None, RunResult | None]:
    for seed in range(start, start + limit):
        r = run_seed(seed, **kw)
        if any(v.rule in rules for v in r.violations):
            return seed, r
    return None, None
