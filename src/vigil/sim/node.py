"""One simulated machine: its agent (the simulator's shell around vigil's core), its
watchdog process, its clock.

The agent here is a second shell around the same decisions as `vigil.runtime.agent`:
`core.lifecycle` (S2 guard, roles, S3 guard, joining, config), `core.coordinator.decide`,
`core.node.runnable_actions`, `core.fencing_policy`, `core.membership`, the watchdog's
`fencing.watchdog_policy.step`, the heartbeat `core.detector`, and the agent's own
`runtime.writer.NodeWriter` for every status and result write. What differs is only how
it waits: callbacks on the virtual clock instead of asyncio tasks, so thousands of runs
fit in a minute and each one replays exactly.

Time: the node's monotonic clock is `offset + rate * t` (rate within the drift bound);
every delay it asks for is in its own seconds. Callbacks belong to an agent incarnation
(a crash drops them) and mostly to a session (a lost lease drops them); while the agent
is paused (SIGSTOP) they queue and run late, in order, when it resumes: stale beliefs.
"""

from __future__ import annotations

import contextlib
import functools
import random
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from vigil.core import lifecycle
from vigil.core import records as rec
from vigil.core.coordinator import CoordinatorState, decide
from vigil.core.detector import FailureDetector
from vigil.core.fencing_policy import FenceRequest, deputy_request, outcome_txn
from vigil.core.lease import LeaseClock
from vigil.core.node import interrupted, runnable_actions
from vigil.core.outcomes import outcome
from vigil.core.snapshot import Snapshot
from vigil.fencing import watchdog_policy as wdp
from vigil.model.config import ClusterConfig
from vigil.model.state import RscState
from vigil.model.transition import Action
from vigil.runtime.writer import NodeWriter, NotMember
from vigil.sim.clock import TimerHandle
from vigil.sim.store_model import SimStore
from vigil.store.base import Compare, LeaseLost, Put, StoreError, StoreUnavailable

if TYPE_CHECKING:
    from vigil.sim.world import World

T = TypeVar("T")
WALL_EPOCH = 1_800_000_000.0
QUICK_WRITE = 0.3  # as the agent: a failover-critical write attempt
RESYNC_INTERVAL = 5.0


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never waits (the simulated store answers at once)."""
    try:
        coro.send(None)
    except StopIteration as e:
        return e.value  # type: ignore[no-any-return]
    coro.close()
    raise RuntimeError("a simulated store call tried to wait")


class NodeStore(SimStore):
    """The agent's store client: events go to the trace, not into the store (they are
    write-only history; the agent's watch ignores them too)."""

    def __init__(self, world: World, client: str) -> None:
        super().__init__(world.model, client)
        self.world = world

    async def put(self, key: str, value: bytes, lease: int = 0) -> int:
        if key.startswith(self.world.keys.events):
            if self.world.tracing:
                ev = rec.EventRecord.from_json(value)
                self.world.log(self.client, f"event {ev.kind}: {ev.message}")
            self._check()
            return self.model.revision
        return await super().put(key, value, lease)


class SimNode:
    def __init__(self, world: World, name: str, rng: random.Random) -> None:
        self.w = world
        self.name = name
        self.rng = rng
        drift = world.drift
        self.rate = 1.0 + rng.uniform(-drift, drift)
        self.offset = rng.uniform(0.0, 1000.0)
        self.up = True
        self.alive = False
        self.paused = False
        self.pause_after_read = 0.0
        self.deferred: list[Callable[[], None]] = []
        self.hb_buffered: set[str] = set()
        self.inc = 0
        self.sess = 0
        self.store = NodeStore(world, name)
        self.writer = NodeWriter(self.store, world.keys, name)
        self.wd = wdp.WatchdogState(world.boot_config.watchdog.timeout)
        self.wd_timer: TimerHandle | None = None
        self.wd_fired_at: float | None = None
        """Wall time of the watchdog's last firing (its record file, for the agent)."""
        self._reset_agent()

    # -- time and callbacks ------------------------------------------------------------
    def mono(self) -> float:
        return self.offset + self.rate * self.w.clock.now()

    def wall(self) -> float:
        return WALL_EPOCH + self.mono()

    def later(self, delay: float, fn: Callable[[], None], session: bool = True) -> None:
        """Run fn after `delay` of this node's seconds, if the agent (and the session)
        still lives then; deferred while the agent is paused."""
        inc, sess = self.inc, (self.sess if session else -1)

        def run() -> None:
            if not self.alive or self.inc != inc or (sess >= 0 and self.sess != sess):
                return
            if self.paused:
                self.deferred.append(run)
                return
            fn()

        self.w.clock.call_later(max(0.0, delay) / self.rate, run)

    def tr(self, msg: str) -> None:
        if self.w.tracing:
            self.w.log(self.name, msg)

    # -- the agent process -------------------------------------------------------------
    def _reset_agent(self) -> None:
        self.config: ClusterConfig = self.w.boot_config
        self.config_revision = -1
        self.writer.lease_id = 0
        self.writer.results = None
        self.clock = LeaseClock(self.config.timings.lease_margin)
        self.joined = False
        self.in_session = False
        self.frozen = False
        self.is_dc = False
        self.coord = CoordinatorState()
        self.claimed: set[tuple[int, int]] = set()
        self.local: dict[str, RscState] = {}
        self.actions: dict[tuple[int, int], str] = {}
        self.monitors: dict[str, int] = {}
        self.mon_seq = 0
        self.fencing: dict[str, int] = {}
        self.snapshot: Snapshot | None = None
        self.processing = False
        self.dirty = False
        self.wake_seq = 0
        self.detector: FailureDetector | None = None
        self.published: tuple[tuple[str, ...], tuple[str, ...]] | None = None
        self.hb_next = 0.0
        self.join_started = 0.0
        self.join_wall = 0.0
        self.probes: dict[str, int] = {}

    def boot_agent(self) -> None:
        """Start (or restart) the agent process."""
        self.inc += 1
        self.sess += 1
        self.alive = True
        self.paused = False
        self.deferred = []
        self.hb_buffered = set()
        self._reset_agent()
        peers = {n: 1 for n in self.w.scenario.nodes if n != self.name}
        if self.w.scenario.heartbeats:
            self.detector = FailureDetector(peers, self.config.heartbeat.timeout)
            self.later(self.rng.uniform(0, 0.1), self._hb_tick, session=False)
        self.tr(f"agent started (incarnation {self.inc})")
        self.later(0.0, self._bootstrap, session=False)

    def crash_agent(self) -> None:
        if self.alive:
            self.tr("agent process crashed")
        self.alive = False
        self.paused = False
        self.deferred = []
        # The agent scripts it ran keep going; their outcome is never reported (the next
        # incarnation records those actions as interrupted).
        self.in_session = False

    def pause(self, duration: float) -> None:
        if not self.alive or self.paused:
            return
        self.paused = True
        self.tr(f"agent paused (SIGSTOP) for {duration:.2f}s")
        self.w.clock.call_later(duration, self.resume)

    def resume(self) -> None:
        if not self.paused:
            return
        self.paused = False
        self.tr("agent resumed (SIGCONT) with what it believed before")
        buffered, self.hb_buffered = sorted(self.hb_buffered), set()
        if buffered and self.detector is not None:
            for peer in buffered:
                self.detector.heard(peer, 0, self.mono())
            self._hb_changed()
        queued, self.deferred = self.deferred, []
        for fn in queued:
            self.w.clock.call_later(0.0, fn)

    def power_off(self, why: str) -> None:
        self.tr(f"power off: {why}")
        self.crash_agent()
        self.up = False
        killed = self.w.rsc.kill_all(self.name)
        if killed:
            self.tr(f"power off killed {', '.join(killed)}")
        self.wd = wdp.WatchdogState(self.w.boot_config.watchdog.timeout)
        if self.wd_timer is not None:
            self.wd_timer.cancel()

    def power_on(self) -> None:
        if self.up:
            return
        self.up = True
        self.tr("power on")
        self.boot_agent()

    # -- the watchdog process (survives the agent, not the machine) ----------------------
    def wd_event(self, ev: wdp.Event) -> None:
        if not self.up:
            return
        now = self.mono()
        self.wd, actions = wdp.step(self.wd, ev, now)
        for a in actions:
            if isinstance(a, wdp.Fire):
                killed = self.w.rsc.kill_all(self.name)
                self.wd_fired_at = self.wall()
                self.w.self_fenced(self.name)
                self.tr(f"watchdog fired ({a.reason}); killed "
                        f"{', '.join(killed) or 'nothing'}")
                self.wd, _ = wdp.step(self.wd, wdp.Fired(0), now)
        if self.wd_timer is not None:
            self.wd_timer.cancel()
        fire_at = self.wd.fire_at()
        if fire_at is not None:
            self.wd_timer = self.w.clock.call_later(
                max(0.0, fire_at - now) / self.rate + 1e-9, lambda: self.wd_event(wdp.Tick()))

    def feed_watchdog(self) -> None:
        deadline = lifecycle.watchdog_deadline(self.clock, self.frozen, self.mono(),
                                               self.config.watchdog.timeout)
        if deadline is not None:
            self.wd_event(wdp.Feed(deadline))

    # -- config ----------------------------------------------------------------------------
    def _bootstrap(self) -> None:
        try:
            record = rec.ConfigRecord(1, self.w.scenario.yaml, "sim.yaml", self.wall(),
                                      f"{self.name} (bootstrap)")
            run_sync(self.store.create(self.w.keys.config, record.to_json()))
        except StoreError:
            self.later(0.5, self._bootstrap, session=False)
            return
        self._join()

    def load_stored_config(self, record: rec.ConfigRecord, revision: int) -> None:
        if revision == self.config_revision:
            return
        self.config_revision = revision
        stored = lifecycle.read_stored_config(record, self.name)
        if stored.config is None:
            self.tr(stored.problem.splitlines()[0])
            return
        self.config = stored.config
        self.clock.margin = stored.config.timings.lease_margin

    # -- joining -----------------------------------------------------------------------------
    def _join(self) -> None:
        self.joined = False
        self.join_started = self.mono()
        self._join_attempt()

    def _join_failed(self, e: Exception) -> None:
        if self.frozen:
            self.feed_watchdog()
            self.later(0.5, self._join_attempt, session=False)
        elif lifecycle.join_must_stop(bool(self._active()), self.mono() - self.join_started,
                                      self.config):
            self._stop_everything("no lease could be taken: the store is unreachable",
                                  then=lambda: self.later(0.5, self._join_attempt, False))
        else:
            self.later(0.5, self._join_attempt, session=False)
        self.tr(f"join failed, retrying: {e}")

    def _join_attempt(self) -> None:
        try:
            kv = run_sync(self.store.get(self.w.keys.config))
            if kv is not None:
                self.load_stored_config(rec.ConfigRecord.from_json(kv.value), kv.mod_revision)
        except StoreError as e:
            self._join_failed(e)
            return
        # Probe every resource (agent scripts take a moment), then report and take a lease.
        self.join_wall = self.wall()
        self.later(self.rng.uniform(0.01, 0.1), self._join_probed, session=False)

    def _join_probed(self) -> None:
        self.probes = {r.id: self.w.rsc.check(self.name, r.id) for r in self.config.resources}
        for rid, rc in self.probes.items():
            self.local[rid] = outcome("probe", rc).state
        try:
            old_kv = run_sync(self.store.get(self.w.keys.results(self.name)))
            old = rec.ResultsRecord.from_json(old_kv.value) if old_kv else None
            snap_t = self.snapshot.transition if self.snapshot is not None else None
            for rid in lifecycle.interrupted_resources(snap_t, old):
                self.local[rid] = RscState.FAILED
            run_sync(self.writer.write_unguarded_statuses(
                {r.id: self.local[r.id] for r in self.config.resources}, "probe"))
            fixed = interrupted(old)
            if fixed is not None:
                run_sync(self.store.put(self.w.keys.results(self.name), fixed.to_json()))
            self.writer.results = fixed or old
            run_sync(self.store.delete(self.w.keys.fencing(self.name)))
            if not self._take_lease():
                self.later(0.2, self._join_attempt, session=False)
                return
        except StoreError as e:
            self._join_failed(e)
            return
        self.joined = True
        self.frozen = False
        self._session()

    def _take_lease(self) -> bool:
        keys, ttl = self.w.keys, int(self.config.timings.lease_ttl)
        member_key = keys.member(self.name)
        kv = run_sync(self.store.get(member_key))

        def record(lease: int) -> rec.MemberRecord:
            return rec.MemberRecord(self.name, lease, self.config.node(self.name).api_url,
                                    1000 + self.inc, 0.0)

        if kv is not None:
            old = rec.MemberRecord.from_json(kv.value)
            sent = self.mono()
            try:
                granted = run_sync(self.store.lease_keepalive(old.lease))
                self.clock = LeaseClock(self.config.timings.lease_margin)
                self.clock.acked(sent, granted)
                self.feed_watchdog()
                self.writer.lease_id = old.lease
                run_sync(self.store.put(member_key, record(old.lease).to_json(),
                                        lease=old.lease))
                self.tr(f"adopted the lease {old.lease:x} of the previous incarnation")
                return True
            except LeaseLost:
                pass
        sent = self.mono()
        lease, granted = run_sync(self.store.lease_grant(ttl))
        self.w.lease_owner[lease] = self.name
        if run_sync(self.store.create(member_key, record(lease).to_json(), lease=lease)):
            self.clock = LeaseClock(self.config.timings.lease_margin)
            self.clock.acked(sent, granted)
            self.feed_watchdog()
            self.writer.lease_id = lease
            self.tr(f"joined with lease {lease:x}")
            return True
        run_sync(self.store.lease_revoke(lease))
        return False

    # -- a session ---------------------------------------------------------------------------
    def _session(self) -> None:
        self.sess += 1
        self.in_session = True
        self.processing = False
        self.published = None
        self.later(0.0, self._keepalive)
        self.later(0.0, self._guard)
        self.later(RESYNC_INTERVAL, self._resync)
        self.mark_dirty()
        for rid, rc in self.probes.items():
            if outcome("probe", rc).failed:
                self._report_probe(rid, rc)
        self._publish_suspects()

    def _report_probe(self, rid: str, rc: int) -> None:
        out = outcome("probe", rc)
        self._write(lambda: self.writer.record(rid, "probe", rc, out, f"probe of {rid}: rc {rc}"))

    def end_session(self, reason: str) -> None:
        if not self.in_session:
            return
        self.in_session = False
        self.sess += 1
        self.joined = False
        self.is_dc = False
        self.coord = CoordinatorState()
        self.fencing.clear()
        self.tr(f"session ended: {reason}")
        if self.frozen:
            self.tr("frozen: keeping resources running until quorum returns")
            self.later(0.0, self._join, session=False)
        else:
            self._stop_everything(reason, then=self._join)

    def _keepalive(self) -> None:
        sent = self.mono()
        lease = self.writer.lease_id
        sess = self.sess

        def at_store() -> None:
            if not self.alive or self.sess != sess:
                return
            try:
                granted = self.w.model.lease_keepalive(lease, client=self.name)
            except LeaseLost:
                self.later(self.w.net_delay(), lambda: self.end_session(
                    "lease expired in the store"))
                return
            except StoreUnavailable:
                return
            self.later(self.w.net_delay(), lambda: self.clock.acked(sent, granted))

        self.w.clock.call_later(self.w.net_delay(), at_store)
        self.later(self.config.timings.keepalive_interval, self._keepalive)

    def _guard(self) -> None:
        now = self.mono()
        verdict = (lifecycle.lease_guard(self.clock, now, self.config, self.name)
                   or lifecycle.self_fenced(self.wd_fired_at, self.join_wall,
                                            bool(self._active())))
        if verdict is not None:
            if verdict.action == "freeze":
                self.frozen = True
            self.end_session(verdict.reason)
            return
        self.feed_watchdog()
        stop_at = self.clock.stop_at() or now
        self.later(min(0.1, max(0.005, stop_at - now)), self._guard)

    def _resync(self) -> None:
        self.mark_dirty()
        self.later(RESYNC_INTERVAL, self._resync)

    def mark_dirty(self) -> None:
        """As the agent's process loop: one snapshot at a time, in order; changes seen
        while one is processed make it read again afterwards."""
        self.dirty = True
        if self.in_session and not self.processing:
            self.processing = True
            self.later(self.rng.uniform(0.002, 0.02), self._process)

    def _process(self) -> None:
        self.dirty = False
        try:
            self.w.model.check(self.name)
        except StoreError:
            self.later(2 * QUICK_WRITE + 0.02, self._process)
            return
        snap = self.w.snapshot()
        if self.pause_after_read:
            duration, self.pause_after_read = self.pause_after_read, 0.0
            self.pause(duration)
        self.later(self.rng.uniform(0.001, 0.01), lambda: self._processed(snap))

    def _processed(self, snap: Snapshot) -> None:
        self._on_snapshot(snap)
        self.processing = False
        if self.dirty:
            self.mark_dirty()

    def _on_snapshot(self, snap: Snapshot) -> None:
        self.snapshot = snap
        if snap.config is not None:
            self.load_stored_config(snap.config, snap.config_revision)
        if not lifecycle.member_is_ours(snap, self.name, self.writer.lease_id):
            self.end_session("our member key is gone (lease expired or revoked)")
            return
        self._run_actions(snap)
        self._coordinate(snap)

    # -- the executor ------------------------------------------------------------------------
    def _write(self, make: Callable[[], Coroutine[Any, Any, None]], delay: float = 0.05,
               then: Callable[[], None] | None = None) -> None:
        """A result write, retried until the store takes it (as `executor.retrying`)."""
        try:
            run_sync(make())
        except NotMember as e:
            self.end_session(f"lost membership: {e}")
            return
        except StoreError:
            self.later(delay, lambda: self._write(make, min(1.0, delay * 2), then))
            return
        if then is not None:
            then()

    def _run_actions(self, snap: Snapshot) -> None:
        t = snap.transition
        if t is None:
            return
        for a in runnable_actions(snap, self.name, self.claimed,
                                    self.config.batch_limit):
            self.claimed.add((t.id, a.id))
            self._claim(t.id, a, snap.transition_revision)
        self.sync_monitors()

    def _claim(self, tid: int, a: Action, trev: int) -> None:
        try:
            rsc = self.config.resource(a.resource)
        except KeyError:
            return
        try:
            claimed = run_sync(self.writer.claim(tid, a.id, trev))
        except StoreError as e:
            why = f"not run: the store did not confirm the claim ({e})"
            self._write(lambda: self.writer.abandon(tid, a.id, why))
            return
        if not claimed:
            return
        self.actions[(tid, a.id)] = a.resource

        def run() -> None:
            if not lifecycle.may_run_actions(self.joined, self.clock, self.mono()):
                self.end_session("lost membership: lease view ended before the action "
                                 "could start")
                return
            self.cancel_monitor(a.resource)
            self.local[a.resource] = RscState.FAILED
            self.tr(f"{a.op} {a.resource} (transition {tid} action {a.id}): {a.reason}")
            timeout = rsc.ops.start_timeout if a.op == "start" else rsc.ops.stop_timeout
            self.w.rsc.begin(self.name, a.resource, a.op, timeout, self._answer(finish))

        def finish(rc: int) -> None:
            out = outcome(a.op, rc)
            self.local[a.resource] = out.state
            self.tr(f"{a.op} {a.resource} returned rc {rc}: {out.state.value}")
            reason = f"{a.op} of {a.resource}: rc {rc}"

            def done() -> None:
                self.actions.pop((tid, a.id), None)
                self.sync_monitors()

            self._write(lambda: self.writer.complete(tid, a.id, a.resource, a.op, rc, out,
                                                     reason), then=done)

        self.later(self.rng.uniform(0.0005, 0.005), run)

    def _answer(self, fn: Callable[[int], None]) -> Callable[[int], None]:
        """A machine operation's return, for this agent incarnation and session only (a
        crashed or restarted agent never hears what its predecessor's scripts did)."""
        inc, sess = self.inc, self.sess

        def answer(rc: int) -> None:
            if self.inc == inc and self.sess == sess:
                self.later(0.0, lambda: fn(rc))

        return answer

    def sync_monitors(self) -> None:
        busy = set(self.actions.values())
        for rsc in self.config.resources:
            want = (self.local.get(rsc.id) is RscState.STARTED
                    and rsc.ops.monitor_interval > 0 and rsc.id not in busy)
            if want and rsc.id not in self.monitors:
                self.mon_seq += 1
                self.monitors[rsc.id] = self.mon_seq
                self._schedule_monitor(rsc.id, rsc.ops.monitor_interval, self.mon_seq)
            elif not want and rsc.id in self.monitors:
                self.cancel_monitor(rsc.id)

    def cancel_monitor(self, rid: str) -> None:
        self.monitors.pop(rid, None)

    def _schedule_monitor(self, rid: str, interval: float, token: int) -> None:
        def tick() -> None:
            if self.monitors.get(rid) != token:
                return
            rc = self.w.rsc.check(self.name, rid)
            if rc == 0:
                self._schedule_monitor(rid, interval, token)
                return
            out = outcome("monitor", rc)
            self.local[rid] = out.state
            self.monitors.pop(rid, None)
            self.tr(f"monitor of {rid} failed (rc {rc})")
            self._write(lambda: self.writer.record(rid, "monitor", rc, out,
                                                   f"monitor of {rid} failed"))

        self.later(interval, tick)

    def _active(self) -> list[str]:
        return sorted(rid for rid, st in self.local.items() if st is not RscState.STOPPED)

    def _stop_everything(self, why: str, then: Callable[[], None]) -> None:
        """As `Executor.stop_everything`: cancel actions and monitors, stop whatever may
        be active, in parallel; `then` once every stop returned."""
        for (_, _), rid in sorted(self.actions.items()):
            self.w.rsc.abort(self.name, rid)
        self.actions.clear()
        self.monitors.clear()
        self.claimed.clear()
        targets = lifecycle.stop_targets(self.config, self.local)
        if not targets:
            self.later(0.0, then, session=False)
            return
        self.tr(f"stopping {len(targets)} resource(s): {why}")
        left = {r.id for r in targets}
        inc = self.inc

        def stopped(rid: str, rc: int) -> None:
            if self.inc != inc:
                return
            self.local[rid] = outcome("stop", rc).state
            left.discard(rid)
            if not left:
                then()

        def on_stop(rid: str) -> Callable[[int], None]:
            return lambda rc: self.later(0.0, lambda: stopped(rid, rc), session=False)

        for r in targets:
            self.w.rsc.begin(self.name, r.id, "stop", r.ops.stop_timeout, on_stop(r.id))

    # -- coordination --------------------------------------------------------------------
    def _coordinate(self, snap: Snapshot) -> None:
        cfg = self.config
        dc = snap.dc
        part = lifecycle.role(snap, self.name, self.writer.lease_id, False)
        if dc is None:
            if part == "elect":
                record = rec.DcRecord(self.name, self.writer.lease_id, self.wall())
                try:
                    if run_sync(self.store.create(self.w.keys.dc, record.to_json(),
                                                  lease=self.writer.lease_id)):
                        self.tr("elected coordinator (DC)")
                except StoreError:
                    pass
            return
        if part == "follower":
            if self.is_dc:
                self.tr("no longer the DC")
            self.is_dc = False
            self.coord = CoordinatorState()
            deputy = deputy_request(cfg, snap, self.name)
            if deputy is not None:
                self._start_deputy(cfg, snap, deputy, lifecycle.deputy_delay(cfg))
            return
        self.is_dc = True
        d = decide(self.coord, snap, cfg, self.name, dc.token, self.mono(), self.wall())
        if d.write is not None:
            guard = lifecycle.dc_guard(self.w.keys, dc.token, self.writer.lease_id)
            try:
                res = run_sync(self.store.txn(guard, [Put(self.w.keys.transition,
                                                          d.write.to_json())]))
            except StoreError as e:
                self.tr(f"could not write transition ({e}); deciding again")
                self.mark_dirty()
                return
            if not res.succeeded:
                self.tr(f"lost the DC key before writing transition {d.write.id}")
                self.is_dc = False
                return
        if self.w.tracing and (d.write is not None or d.events):
            self.tr(f"DC decided: {d.reason}")
            for ev in d.events:
                self.tr(f"  {ev.kind}: {ev.message}")
        self.coord = d.state
        if d.fence:
            self._start_fencing(cfg, snap, d.fence, dc.token)
        if d.wake_in is not None:
            self.wake_seq += 1
            seq = self.wake_seq
            self.later(d.wake_in + 0.005,
                       lambda: self.mark_dirty() if self.wake_seq == seq else None)

    # -- fencing (the DC's hands, as `runtime.fencing_shell`) ------------------------------
    def _start_fencing(self, cfg: ClusterConfig, snap: Snapshot,
                       requests: tuple[FenceRequest, ...], token: int) -> None:
        for r in requests:
            if r.node in self.fencing:
                continue
            guard = lifecycle.dc_guard(self.w.keys, token, self.writer.lease_id)
            self.fencing[r.node] = self.sess
            self._fence(cfg, snap, r, guard, 0)

    def _start_deputy(self, cfg: ClusterConfig, snap: Snapshot, req: FenceRequest,
                      delay: float) -> None:
        if req.node in self.fencing or snap.dc is None:
            return
        guard = [Compare(self.w.keys.member(self.name), "lease", "=", self.writer.lease_id),
                 Compare(self.w.keys.dc, "create", "=", snap.dc.token)]
        self.fencing[req.node] = self.sess
        self.later(delay, lambda: self._fence(cfg, snap, req, guard, 0))

    def _fence_over(self, node: str) -> None:
        self.fencing.pop(node, None)
        self.mark_dirty()

    def _fence(self, cfg: ClusterConfig, snap: Snapshot, req: FenceRequest,
               guard: list[Compare], attempt: int) -> None:
        keys = self.w.keys
        running = rec.FenceRecord(req.node, "running", cfg.fencing.action, req.reason,
                                  self.name, self.wall())
        key = keys.fencing(req.node)
        rev = snap.fencing_revision.get(req.node)
        full = [*guard, Compare(key, "mod", "=", rev) if rev else Compare(key, "create", "=", 0)]
        try:
            res = run_sync(self.store.txn(full, [Put(key, running.to_json())]))
        except StoreError:
            if attempt < 20:
                self.later(0.5, lambda: self._fence(cfg, snap, req, guard, attempt + 1))
            else:
                self._fence_over(req.node)
            return
        if not res.succeeded:
            self._fence_over(req.node)
            return
        self.tr(f"fencing {req.node}: {req.reason}")
        self.w.fence_device(self, cfg, req.node,
                            lambda ok, why: self._fence_done(running, res.revision, ok, why,
                                                             snap))

    def _fence_done(self, running: rec.FenceRecord, running_rev: int, ok: bool, why: str,
                    snap: Snapshot) -> None:
        done = rec.FenceRecord(running.node, "done" if ok else "failed", running.action,
                               running.reason, running.requested_by, running.requested_at,
                               self.wall(), why)
        hist = f"{self.w.keys.fencing_history}{int(self.wall() * 1000):013d}-{running.node}"

        def write() -> None:
            compares, success, failure = outcome_txn(self.w.keys, done, running_rev, hist)
            try:
                res = run_sync(self.store.txn(compares, success, failure))
            except StoreError:
                self.later(0.1, write)
                return
            if not res.succeeded:
                self.tr(f"fencing of {running.node} finished ({why}) after it joined again: "
                        "kept as history only")
                self._fence_over(running.node)
                return
            self.tr(f"fencing of {running.node} {'confirmed' if ok else 'FAILED'}: {why}")
            member = snap.members.get(running.node)
            if ok and member is not None:
                with contextlib.suppress(StoreError):
                    run_sync(self.store.lease_revoke(member.record.lease))
            self._fence_over(running.node)

        write()

    # -- direct heartbeats -----------------------------------------------------------------
    def _hb_tick(self) -> None:
        det = self.detector
        assert det is not None
        now = self.mono()
        delay = self.w.net.delay
        for peer in self.w.scenario.nodes:
            if peer != self.name and self.w.net.delivers(self.name, peer):
                if delay:
                    self.w.clock.call_later(delay, functools.partial(
                        self.w.nodes[peer].heard, self.name))
                else:
                    self.w.nodes[peer].heard(self.name)
        if now >= self.hb_next:
            self._hb_changed()
        self.later(self.config.heartbeat.interval, self._hb_tick, session=False)

    def heard(self, peer: str) -> None:
        if not self.alive or self.detector is None:
            return
        if self.paused:
            # The kernel buffers the packets; the agent reads them when it resumes.
            self.hb_buffered.add(peer)
            return
        if self.detector.heard(peer, 0, self.mono()):
            self._hb_changed()

    def _hb_changed(self) -> None:
        det = self.detector
        assert det is not None
        now = self.mono()
        nxt = det.next_change(now)
        self.hb_next = nxt if nxt is not None else float("inf")
        self._publish_suspects()

    def _publish_suspects(self) -> None:
        det = self.detector
        if det is None or not self.in_session:
            return
        view = det.view(self.mono())
        suspected = tuple(sorted(view.suspected))
        alerts = tuple(a.reason for a in view.alerts)
        if (suspected, tuple(sorted(alerts))) == self.published:
            return
        record = rec.SuspectRecord(self.name, suspected, alerts)
        try:
            run_sync(self.store.put(self.w.keys.suspects(self.name), record.to_json(),
                                    lease=self.writer.lease_id))
        except StoreError:
            self.later(QUICK_WRITE + 0.02, self._publish_suspects)
            return
        self.published = (suspected, tuple(sorted(alerts)))
        if suspected:
            self.tr(f"heartbeats: suspects {', '.join(suspected)}")
