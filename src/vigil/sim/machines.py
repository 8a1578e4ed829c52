"""Ground truth of the simulated machines: which resources really run where, resource-agent
operations (latency, failures, hanging stops), fence devices, and the heartbeat network.

The invariant observers read this, never the cluster's beliefs: a resource is *active* on
a node from the moment a start begins until a stop succeeds or the node's processes die
(watchdog kill, power loss). Operations run on the machine: they finish in (virtual) time
even while the agent that asked for them is paused.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from vigil.agents.base import OcfRc
from vigil.sim.clock import TimerHandle, VirtualClock


@dataclass
class _Op:
    op: str
    handle: TimerHandle
    killed: bool = False


@dataclass
class Resources:
    clock: VirtualClock
    rng: random.Random
    on_start_begin: Callable[[str, str], None]
    """Observer hook: (node, resource) a start begins (S1, S4 are checked here)."""
    running: set[tuple[str, str]] = field(default_factory=set)
    ops: dict[tuple[str, str], _Op] = field(default_factory=dict)
    flaky: dict[str, float] = field(default_factory=dict)
    """node -> failure probability of its agent operations (a fault window)."""
    last_start: dict[tuple[str, str], float] = field(default_factory=dict)
    last_kill: dict[str, float] = field(default_factory=dict)
    """node -> when all its resource processes were last killed (fencing, watchdog)."""

    def killed_since_start(self, node: str, rid: str) -> bool:
        """Every process of the node died after the resource last began starting there,
        and nothing started it since: it certainly does not run."""
        return (not self.active(node, rid)
                and self.last_kill.get(node, -1.0) > self.last_start.get((node, rid), -1.0))

    def active(self, node: str, rid: str) -> bool:
        key = (node, rid)
        if key in self.running:
            return True
        cur = self.ops.get(key)
        return cur is not None and not cur.killed and cur.op == "start"

    def active_nodes(self, rid: str, nodes: tuple[str, ...]) -> list[str]:
        return [n for n in nodes if self.active(n, rid)]

    def node_active(self, node: str, rids: tuple[str, ...]) -> list[str]:
        return [r for r in rids if self.active(node, r)]

    def check(self, node: str, rid: str) -> int:
        """Probe/monitor: what the agent would answer now."""
        if self.rng.random() < self.flaky.get(node, 0.0) / 2:
            return OcfRc.ERR_GENERIC
        return OcfRc.SUCCESS if (node, rid) in self.running else OcfRc.NOT_RUNNING

    def begin(self, node: str, rid: str, op: str, timeout: float,
              done: Callable[[int], None]) -> None:
        """Run start or stop; `done(rc)` when it returns (timeout: rc 1, nothing changed)."""
        key = (node, rid)
        if op == "start":
            self.on_start_begin(node, rid)
            self.last_start[key] = self.clock.now()
        p_fail = self.flaky.get(node, 0.0)
        latency = self.rng.uniform(0.01, 0.3)
        outcome = "ok"
        if p_fail and self.rng.random() < p_fail:
            outcome = "hang" if op == "stop" and self.rng.random() < 0.5 else "fail"
        if outcome == "hang" or latency > timeout:
            latency = timeout
            outcome = "hang"
        prev = self.ops.get(key)
        if prev is not None:
            prev.handle.cancel()

        def finish() -> None:
            cur = self.ops.pop(key, None)
            if cur is None:
                return
            if cur.killed:
                done(OcfRc.ERR_GENERIC)
                return
            if outcome == "ok":
                if op == "start":
                    self.running.add(key)
                else:
                    self.running.discard(key)
                done(OcfRc.SUCCESS)
            elif op == "start" and outcome == "fail":
                # A failed start may have left something half up: possibly active.
                if self.rng.random() < 0.5:
                    self.running.add(key)
                done(OcfRc.ERR_GENERIC)
            else:  # failed or timed-out stop: still running
                done(OcfRc.TIMEOUT if outcome == "hang" else OcfRc.ERR_GENERIC)

        self.ops[key] = _Op(op, self.clock.call_later(latency, finish))

    def abort(self, node: str, rid: str) -> None:
        """The agent gave up on an operation (session ended): its script is killed. A
        start cut short may have started the resource (unknown: assume it did)."""
        key = (node, rid)
        cur = self.ops.pop(key, None)
        if cur is None:
            return
        cur.handle.cancel()
        if cur.op == "start" and not cur.killed:
            self.running.add(key)

    def kill_all(self, node: str) -> list[str]:
        """Watchdog fire or power loss: every resource process of the node dies."""
        self.last_kill[node] = self.clock.now()
        killed = sorted(r for (n, r) in self.running if n == node)
        self.running = {k for k in self.running if k[0] != node}
        for (n, _), cur in self.ops.items():
            if n == node:
                cur.killed = True
        return killed

    def crash(self, node: str, rid: str) -> bool:
        if (node, rid) in self.running and (node, rid) not in self.ops:
            self.running.discard((node, rid))
            return True
        return False


@dataclass
class Network:
    """Heartbeat links and which store members the majority can reach."""

    rng: random.Random
    store_members: tuple[str, ...]
    groups: list[tuple[str, ...]] = field(default_factory=list)
    """Active partitions: each cuts its group off from everything outside it."""
    oneway: set[tuple[str, str]] = field(default_factory=set)
    loss: float = 0.0
    delay: float = 0.0
    """Extra one-way delay of every packet (heartbeats, store requests and answers)."""
    store_cut: set[str] = field(default_factory=set)

    def _split(self, a: str, b: str) -> bool:
        return any((a in g) != (b in g) for g in self.groups)

    def delivers(self, src: str, dst: str) -> bool:
        if self._split(src, dst) or (src, dst) in self.oneway:
            return False
        return not (self.loss and self.rng.random() < self.loss)

    def store_reachable(self, node: str) -> bool:
        """The node's etcd member is on the majority side (and not cut off alone)."""
        if node in self.store_cut:
            return False
        reach = [m for m in self.store_members if not self._split(node, m)
                 and m not in self.store_cut]
        return 2 * len(reach) > len(self.store_members)

    def clear(self) -> None:
        self.groups.clear()
        self.oneway.clear()
        self.loss = 0.0
        self.delay = 0.0
        self.store_cut.clear()


@dataclass(frozen=True)
class FenceOutcomeSim:
    ok: bool
    reason: str


def fence_latency_and_outcome(rng: random.Random, p_fail: float,
                              levels: tuple[tuple[str, ...], ...], node: str,
                              ) -> tuple[float, FenceOutcomeSim]:
    """Run the topology: levels in order, every device of a level must succeed."""
    elapsed = 0.0
    for level in levels:
        ok = True
        for _dev in level:
            elapsed += rng.uniform(0.05, 1.5)
            if rng.random() < p_fail:
                ok = False
                break
        if ok:
            return elapsed, FenceOutcomeSim(True, f"{node} fenced by level "
                                            f"[{', '.join(level)}]")
    return elapsed, FenceOutcomeSim(False, f"every fencing level failed for {node}")
