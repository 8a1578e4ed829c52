"""The simulated world of one seed: a cluster, its store, network, machines and faults.

    result = World(seed).run()

Phases (TigerBeetle's VOPR shape): warm-up (the cluster forms), faults (the schedule
drawn from the seed), then liveness: every fault is healed, every machine powered and
every agent running, and the cluster must settle within `settle` seconds (L1). Safety
(S1-S5) is checked throughout. Every knob derives from the seed; each subsystem has its
own random stream, so a run replays exactly.
"""

from __future__ import annotations

import contextlib
import functools
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from vigil.core import lifecycle
from vigil.core import records as rec
from vigil.core.snapshot import Snapshot, parse_snapshot
from vigil.model.config import ClusterConfig
from vigil.model.load import ConfigInvalid, load_config_text
from vigil.runtime import writer as writer_module
from vigil.sim import invariants
from vigil.sim.clock import VirtualClock
from vigil.sim.faults import Fault, draw_faults
from vigil.sim.machines import Network, Resources, fence_latency_and_outcome
from vigil.sim.node import WALL_EPOCH, SimNode
from vigil.sim.scenario import Scenario, config_variant, draw_scenario
from vigil.store.base import Compare, Put
from vigil.store.keys import Keys

WARMUP = 3.0
FAULT_PHASE = 15.0
SETTLE = 20.0
DRIFT = 5e-4
"""Clock rate error bound (500 ppm: the most NTP ever slews a clock)."""


@dataclass
class RunResult:
    seed: int
    nodes: int
    simulated: float
    violations: list[invariants.Violation]
    faults: list[Fault]
    trace: list[str] = field(default_factory=list)
    wall: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.violations


class _SimTime:
    """Stands in for the `time` module of the agent's writer: wall time of the world."""

    def __init__(self, world: World) -> None:
        self.world = world

    def time(self) -> float:
        return self.world.wall()

    def monotonic(self) -> float:
        return self.world.clock.now()


@contextlib.contextmanager
def _world_time(world: World) -> Iterator[None]:
    saved = writer_module.__dict__["time"]
    writer_module.__dict__["time"] = _SimTime(world)
    try:
        yield
    finally:
        writer_module.__dict__["time"] = saved


class World:
    def __init__(self, seed: int, *, nodes: int | None = None,
                 faults: list[Fault] | None = None, trace: bool = False,
                 fault_phase: float = FAULT_PHASE, settle: float = SETTLE,
                 drift: float = DRIFT, intensity: int = 1) -> None:
        self.seed = seed
        self.tracing = trace
        self.lines: list[str] = []
        self.violations: list[invariants.Violation] = []
        self.scenario: Scenario = draw_scenario(seed, nodes)
        boot = lifecycle.read_stored_config(rec.ConfigRecord(1, self.scenario.yaml),
                                            self.scenario.nodes[0])
        if boot.config is None:
            raise ValueError(f"seed {seed}: the drawn config is invalid: {boot.problem}")
        self.boot_config: ClusterConfig = boot.config
        self.keys = Keys(self.boot_config.store.prefix, self.boot_config.name)
        self.members_prefix = self.keys.root + "members/"
        self.clock = VirtualClock()
        self.rng = random.Random(f"world-{seed}")
        knobs = random.Random(f"knobs-{seed}")
        self.drift = drift
        self.fence_fail = knobs.choice((0.0, 0.1, 0.3))
        self.fault_phase = fault_phase
        self.settle = settle
        self.model = invariants.ObservedStore(self.clock, self, seed)
        self.rsc = Resources(self.clock, random.Random(f"rsc-{seed}"), self._start_begins)
        self.net = Network(random.Random(f"net-{seed}"), self.scenario.store_members)
        self.lease_owner: dict[int, str] = {}
        self.lease_gone_at: dict[str, float] = {}
        self.nodes = {n: SimNode(self, n, random.Random(f"node-{seed}-{n}"))
                      for n in self.scenario.nodes}
        self.faults = (faults if faults is not None
                       else draw_faults(seed, self.scenario, WARMUP + fault_phase, WARMUP,
                                        intensity))
        self._self_fenced: set[str] = set()
        self._config_cache: tuple[int, ClusterConfig] = (-1, self.boot_config)
        self._snap_cache: Snapshot | None = None
        self.model.subscribe(self._store_changed)

    def _store_changed(self) -> None:
        """The agents' watches: every change wakes every agent that reaches the store."""
        for node in self.nodes.values():
            if node.in_session and node.name in self.model.reachable:
                node.mark_dirty()

    # -- helpers used by nodes and observers ---------------------------------------------
    def wall(self) -> float:
        return WALL_EPOCH + self.clock.now()

    def log(self, who: str, msg: str) -> None:
        self.lines.append(f"[{self.clock.now():8.3f}] {who:>8}: {msg}")

    def violation(self, rule: str, message: str) -> None:
        v = invariants.Violation(rule, self.clock.now(), message)
        self.violations.append(v)
        self.log("VIOLATION", v.describe())

    def net_delay(self) -> float:
        return self.rng.uniform(0.0005, 0.005) + self.net.delay

    def snapshot(self) -> Snapshot:
        """The store's current state as `parse_snapshot` reads it; parsed once per
        revision and shared (every agent reading one revision gets the same result)."""
        if self._snap_cache is None or self._snap_cache.revision != self.model.revision:
            self._snap_cache = parse_snapshot(self.keys, *self.model.get_prefix(self.keys.root))
        return self._snap_cache

    def current_config(self) -> ClusterConfig:
        kv = self.model.get(self.keys.config)
        if kv is None:
            return self.boot_config
        if self._config_cache[0] != kv.mod_revision:
            stored = lifecycle.read_stored_config(rec.ConfigRecord.from_json(kv.value),
                                                  self.scenario.nodes[0])
            cfg = stored.config or self.boot_config
            self._config_cache = (kv.mod_revision, cfg)
        return self._config_cache[1]

    def _start_begins(self, node: str, rid: str) -> None:
        invariants.check_start(self, node, rid)

    def self_fenced(self, node: str) -> None:
        self._self_fenced.add(node)

    def lease_expired(self, lease_id: int) -> None:
        """S2: the store expires a node's lease; nothing may run there any more."""
        node = self.lease_owner.get(lease_id)
        if node is None:
            return
        cfg = self.current_config()
        if cfg.no_quorum_policy == "freeze":
            return
        running = self.rsc.node_active(node, self.scenario.resources)
        if running:
            self.violation("S2", f"the store expired the lease of {node} while "
                           f"{', '.join(running)} still run(s) there")

    def fence_device(self, by: SimNode, cfg: ClusterConfig, target: str,
                     done: Callable[[bool, str], None]) -> None:
        p_fail = self.fence_fail if self.clock.now() < WARMUP + self.fault_phase else 0.0
        elapsed, out = fence_latency_and_outcome(self.rng, p_fail,
                                                 cfg.fencing.topology(target), target)

        def finish() -> None:
            if out.ok:
                node = self.nodes[target]
                node.power_off(f"fenced by {by.name}")
                self.clock.call_later(self.rng.uniform(1.0, 4.0), node.power_on)
            done(out.ok, out.reason)

        by.later(elapsed, finish)

    # -- faults ----------------------------------------------------------------------------
    def _apply(self, f: Fault) -> None:
        if self.tracing:
            self.log("FAULT", f.describe())
        node = self.nodes.get(f.node)
        end = self.clock.now() + f.duration
        if f.kind == "partition":
            self.net.groups.append(f.group)
            self.clock.call_at(end, lambda: self._unpartition(f.group))
            self._store_reach()
        elif f.kind == "store_cut":
            self.net.store_cut.add(f.node)
            self.clock.call_at(end, lambda: self._store_uncut(f.node))
            self._store_reach()
        elif f.kind == "link_oneway":
            self.net.oneway.add((f.node, f.other))
            self.clock.call_at(end, lambda: self.net.oneway.discard((f.node, f.other)))
        elif f.kind == "loss":
            self.net.loss = f.amount
            self.clock.call_at(end, self._no_loss)
        elif f.kind == "slow":
            self.net.delay = f.amount
            self.clock.call_at(end, self._no_delay)
        elif f.kind == "pause" and node is not None:
            node.pause(f.duration)
        elif f.kind == "pause_after_read" and node is not None:
            node.pause_after_read = f.duration
        elif f.kind == "pause_dc_after_read":
            dc = self.model.get(self.keys.dc)
            if dc is not None:
                self.nodes[rec.DcRecord.from_json(dc.value).node].pause_after_read = f.duration
        elif f.kind == "crash" and node is not None and node.alive:
            node.crash_agent()
            self.clock.call_at(end, lambda: self._restart_agent(node))
        elif f.kind == "power" and node is not None and node.up:
            node.power_off("power failure (fault)")
            self.clock.call_at(end, node.power_on)
        elif f.kind == "flaky_agents":
            self.rsc.flaky[f.node] = f.amount
            self.clock.call_at(end, lambda: self.rsc.flaky.pop(f.node, None))
        elif f.kind == "rsc_crash":
            # Only a monitored resource's death can be noticed (L1 needs it noticed).
            monitored = any(r.id == f.other and r.ops.monitor_interval > 0
                            for r in self.current_config().resources)
            if monitored and self.rsc.crash(f.node, f.other) and self.tracing:
                self.log(f.node, f"{f.other} died on its own")
        elif f.kind == "config_push":
            self.push_config(random.Random(int(f.amount)))

    def _store_uncut(self, node: str) -> None:
        self.net.store_cut.discard(node)
        self._store_reach()

    def _restart_agent(self, node: SimNode) -> None:
        if node.up and not node.alive:
            node.boot_agent()

    def _unpartition(self, group: tuple[str, ...]) -> None:
        if group in self.net.groups:
            self.net.groups.remove(group)
        self._store_reach()

    def _no_delay(self) -> None:
        self.net.delay = 0.0

    def _no_loss(self) -> None:
        self.net.loss = 0.0

    def _store_reach(self) -> None:
        for n in self.scenario.nodes:
            if self.net.store_reachable(n):
                self.model.heal(n)
            else:
                self.model.cut(n)

    def push_config(self, rng: random.Random) -> None:
        """`vigil config apply` as the API does it: validate whole, then compare-and-set."""
        kv = self.model.get(self.keys.config)
        if kv is None:
            return
        old = rec.ConfigRecord.from_json(kv.value)
        text, _ = config_variant(old.source, rng)
        try:
            cfg = load_config_text(text, "pushed.yaml")
        except ConfigInvalid as e:
            self.log("CONFIG", f"push rejected: {str(e).splitlines()[0]}")
            after = self.model.get(self.keys.config)
            if after is None or after.mod_revision != kv.mod_revision:
                self.violation("S5", "a rejected config push changed the stored config")
            return
        if cfg.name != self.boot_config.name or text == old.source:
            return
        new = rec.ConfigRecord(old.version + 1, text, "pushed.yaml", self.wall(), "operator")
        self.model.txn([Compare(self.keys.config, "mod", "=", kv.mod_revision)],
                       [Put(self.keys.config, new.to_json())])
        self.log("CONFIG", f"config version {new.version} applied")

    def _heal_all(self) -> None:
        if self.tracing:
            self.log("WORLD", "faults stop: healing every partition, resuming, restarting")
        self.net.clear()
        self.rsc.flaky.clear()
        self._store_reach()
        for node in self.nodes.values():
            node.pause_after_read = 0.0
            if node.paused:
                node.resume()
            if not node.up:
                node.power_on()
            elif not node.alive:
                node.boot_agent()

    # -- running ---------------------------------------------------------------------------
    def run(self) -> RunResult:
        started = time.perf_counter()
        with _world_time(self):
            for name in self.scenario.nodes:
                self.model.register(name)
                node = self.nodes[name]
                self.clock.call_at(self.rng.uniform(0.0, 0.5), node.boot_agent)
            for f in self.faults:
                self.clock.call_at(f.at, functools.partial(self._apply, f))
            heal_at = WARMUP + self.fault_phase
            self.clock.run_until(heal_at)
            self._heal_all()
            end = heal_at + self.settle
            converged: str | None = "not checked"
            t = heal_at + 2.0
            while t <= end and not self._stop_early():
                self.clock.run_until(t)
                converged = invariants.check_converged(self)
                if converged is None:
                    break
                t += 1.0
            if converged is not None and not self._stop_early():
                self.violation("L1", f"not settled {self.settle:g}s after faults stopped: "
                               f"{converged}")
        return RunResult(self.seed, len(self.scenario.nodes), self.clock.now(),
                         list(self.violations), list(self.faults), self.lines,
                         time.perf_counter() - started)

    def _stop_early(self) -> bool:
        return bool(self.violations)


def run_seed(seed: int, *, nodes: int | None = None, faults: list[Fault] | None = None,
             trace: bool = False, intensity: int = 1) -> RunResult:
    return World(seed, nodes=nodes, faults=faults, trace=trace, intensity=intensity).run()
