"""Fault schedules: an explicit list drawn from the seed, so a failing one can be shrunk.

Every fault starts at `at` and (for those that last) ends `duration` later; all end
before the liveness phase, which heals everything and checks that the cluster settles.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from vigil.sim.scenario import Scenario

KINDS = (
    "partition",      # nodes split in two groups (store: only a majority side reaches it)
    "store_cut",      # one node cut off from the store (its etcd member isolated)
    "link_oneway",    # heartbeats from `node` to `other` dropped (asymmetric link)
    "loss",           # heartbeat packet loss on every link
    "slow",           # every packet (heartbeats, store requests) delayed by `amount`
    "pause",          # SIGSTOP the agent; it wakes with stale beliefs
    "pause_after_read",  # pause the agent right after its next snapshot read
    "pause_dc_after_read",  # the same for whichever node is the coordinator then
    "crash",          # the agent process dies; restarted after `duration`
    "power",          # the node loses power (everything dies); boots after `duration`
    "flaky_agents",   # resource-agent operations on `node` fail / hang during the window
    "rsc_crash",      # a running resource dies on its own (the monitor finds out)
    "config_push",    # someone applies a config (valid or broken) through the validator
)


@dataclass(frozen=True)
class Fault:
    at: float
    kind: str
    node: str = ""
    other: str = ""
    duration: float = 0.0
    group: tuple[str, ...] = ()
    amount: float = 0.0
    """loss: drop probability; flaky_agents: failure probability; config_push: variant."""

    def describe(self) -> str:
        parts = [f"{self.at:7.3f}s {self.kind}"]
        if self.node:
            parts.append(self.node)
        if self.other:
            parts.append(f"-> {self.other}")
        if self.group:
            parts.append(f"[{' '.join(self.group)}] | rest")
        if self.duration:
            parts.append(f"for {self.duration:.2f}s")
        if self.amount:
            parts.append(f"({self.amount:g})")
        return " ".join(parts)


WEIGHTS = {
    "partition": 4, "store_cut": 3, "link_oneway": 2, "loss": 2, "slow": 2, "pause": 4,
    "pause_after_read": 2, "pause_dc_after_read": 2, "crash": 3, "power": 2,
    "flaky_agents": 3, "rsc_crash": 3, "config_push": 1,
}


def draw_faults(seed: int, sc: Scenario, fault_phase: float, warmup: float,
                intensity: int = 1) -> list[Fault]:
    """1-7 faults per unit of `intensity` (each unit an independent draw; 1 is what
    `make test` runs, higher values make storms for longer searches)."""
    out = _draw(f"faults-{seed}", sc, fault_phase, warmup)
    for i in range(1, intensity):
        out += _draw(f"faults-{seed}-{i}", sc, fault_phase, warmup)
    return sorted(out, key=lambda f: (f.at, f.kind, f.node))


def _draw(stream: str, sc: Scenario, fault_phase: float, warmup: float) -> list[Fault]:
    rng = random.Random(stream)
    n = rng.randint(1, 7)
    kinds = list(WEIGHTS)
    out: list[Fault] = []
    for _ in range(n):
        kind = rng.choices(kinds, weights=[WEIGHTS[k] for k in kinds])[0]
        at = round(rng.uniform(warmup, fault_phase - 0.5), 3)
        left = fault_phase - at
        dur = round(min(left, rng.choice((0.3, 0.8, 1.5, 2.5, 4.0, 7.0))), 3)
        node = rng.choice(sc.nodes)
        if kind == "partition":
            members = list(sc.store_members)
            rng.shuffle(members)
            k = rng.randint(1, len(members) - 1)
            out.append(Fault(at, kind, duration=dur, group=tuple(sorted(members[:k]))))
        elif kind == "link_oneway":
            other = rng.choice([x for x in sc.nodes if x != node])
            out.append(Fault(at, kind, node, other, dur))
        elif kind == "loss":
            out.append(Fault(at, kind, duration=dur, amount=rng.choice((0.2, 0.5, 0.9))))
        elif kind == "slow":
            out.append(Fault(at, kind, duration=dur, amount=rng.choice((0.1, 0.3, 0.6, 0.9))))
        elif kind in ("flaky_agents",):
            out.append(Fault(at, kind, node, duration=dur, amount=rng.choice((0.3, 0.7, 1.0))))
        elif kind in ("rsc_crash",):
            out.append(Fault(at, kind, node, other=rng.choice(sc.resources)))
        elif kind == "pause_dc_after_read":
            out.append(Fault(at, kind, duration=dur))
        elif kind == "config_push":
            out.append(Fault(at, kind, amount=float(rng.randrange(1000))))
        else:
            out.append(Fault(at, kind, node, duration=dur))
    return sorted(out, key=lambda f: (f.at, f.kind, f.node))
