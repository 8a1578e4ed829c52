"""Proof that the simulator bites: switch off one safety rule at a time (in this test
process only, see `bites.py`) and the simulator must find a violation within a bounded
number of seeds. Measured seeds needed are in docs/simulation.md."""

from __future__ import annotations

import pytest
from tests.sim.bites import SWITCHES, first_failing_seed, switched_off

from vigil.sim.faults import Fault
from vigil.sim.world import World

BOUND = 60
"""Seeds each switch gets; the ones measured need far fewer (docs/simulation.md)."""


@pytest.mark.parametrize("name", ["recover_without_fencing", "keep_running_after_lease_loss",
                                  "start_before_stop"])
def test_simulator_finds_the_broken_rule(name: str) -> None:
    rules = SWITCHES[name][1]
    with switched_off(name):
        seed, result = first_failing_seed(BOUND, rules)
    assert seed is not None, f"{name}: no {'/'.join(rules)} violation in {BOUND} seeds"
    assert result is not None and result.violations[0].rule in rules


def test_simulator_finds_a_coordinator_writing_without_its_key() -> None:
    """A stale coordinator needs a stall between reading and writing: every seed here
    also stalls whoever is DC right after a read (a fault kind the random schedules
    draw too, more rarely)."""
    stalls = [Fault(5.0, "pause_dc_after_read", duration=4.0),
              Fault(11.0, "pause_dc_after_read", duration=3.0)]
    found = None
    with switched_off("write_without_dc_key"):
        for seed in range(BOUND):
            faults = sorted([*World(seed).faults, *stalls], key=lambda f: f.at)
            result = World(seed, faults=faults).run()
            if any(v.rule == "S3" for v in result.violations):
                found = seed
                break
    assert found is not None, f"no S3 violation in {BOUND} seeds"
    # With the rule in place, the same schedule is safe.
    faults = sorted([*World(found).faults, *stalls], key=lambda f: f.at)
    assert not [v for v in World(found, faults=faults).run().violations if v.rule == "S3"]


def test_switches_are_undone() -> None:
    with switched_off("write_without_dc_key"):
        pass
    from vigil.core import lifecycle
    from vigil.store.keys import Keys
    assert lifecycle.dc_guard(Keys("/v", "c"), 5, 7)  # the real guard is back


def test_clocks_drifting_past_the_bound_are_caught() -> None:
    """A node whose clock runs 30 % slow outlives its lease in the store (S2): the
    observer is not satisfied by the agent's own view of time."""
    found = next((seed for seed in range(BOUND)
                  if any(v.rule in ("S2", "S1") for v in World(seed, drift=0.3).run().violations)),
                 None)
    assert found is not None
