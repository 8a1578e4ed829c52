"""`vigil agent`: one node's agent — membership, DC duties, executor, API.

Life of an agent: start (or adopt) the local etcd member, reach the store, then loop:
join (probe every resource, report, take or adopt a lease, register) and run a session
(keepalives, the S2 guard, the snapshot loop) until the lease is lost — then stop every
resource and join again — or until a planned shutdown drained the node.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import time
from pathlib import Path

from vigil.agents.base import NodeContext, OpResult
from vigil.core import lifecycle
from vigil.core import records as rec
from vigil.core.coordinator import CoordinatorState, Decision, decide
from vigil.core.detector import DetectorView
from vigil.core.fencing_policy import deputy_request, fenced_nodes
from vigil.core.heartbeat_packet import load_key
from vigil.core.lease import LeaseClock
from vigil.core.membership import MembershipView, node_states
from vigil.core.node import interrupted
from vigil.core.outcomes import outcome
from vigil.core.snapshot import Snapshot, parse_snapshot
from vigil.fencing.watchdog import WatchdogClient
from vigil.model.config import ClusterConfig, Resource
from vigil.model.state import RscState
from vigil.runtime.executor import Executor
from vigil.runtime.fencing_shell import FencingShell
from vigil.runtime.heartbeat import HeartbeatService
from vigil.runtime.writer import NodeWriter, NotMember
from vigil.store.base import Delete, LeaseLost, Put, StoreError, StoreUnavailable
from vigil.store.etcd import EtcdStore
from vigil.store.keys import Keys

log = logging.getLogger("vigil.agent")

QUICK_WRITE = 0.3
"""Seconds one attempt of a failover-critical write may take before it is sent again."""

RESYNC_INTERVAL = 5.0
"""A full re-read even without watch events: catches whatever a watch missed."""


class SessionEnd(Exception):
    pass


class NodeAgent:
    def __init__(self, config: ClusterConfig, config_source: str, config_file: str,
                 node: str, state_dir: Path, store_endpoints: list[str] | None = None) -> None:
        self.boot_config = config
        self.config = config
        self.config_source = config_source
        self.config_file = config_file
        self.config_revision = -1
        self.node = node
        self.me = config.node(node)
        self.state_dir = state_dir
        self.keys = Keys(config.store.prefix, config.name)
        endpoints = store_endpoints or self._endpoints(config)
        # Local member first: reads stay on this node while its member is healthy.
        own = self.me.etcd_client_url
        if own in endpoints:
            endpoints = [own, *(e for e in endpoints if e != own)]
        self.store = EtcdStore(endpoints, request_timeout=config.store.request_timeout)
        self.writer = NodeWriter(self.store, self.keys, node)
        self.ctx = NodeContext(node, state_dir)
        self.executor = Executor(self.ctx, self.writer, self._not_member)
        self.fencing = FencingShell(self.store, self.keys, self.writer,
                                    lambda: self._dirty.set())
        self.clock = LeaseClock(config.timings.lease_margin)
        self.snapshot: Snapshot | None = None
        self.view: MembershipView | None = None
        self._view_lost: dict[str, float] = {}
        self._view_down: frozenset[str] = frozenset()
        self.coord = CoordinatorState()
        self.last_decision: Decision | None = None
        self.is_dc = False
        self.joined = False
        self.shutting_down = False
        self.exiting = False
        self.started_at = time.time()
        self._dirty = asyncio.Event()
        self._session_end: asyncio.Future[str] | None = None
        self._wake: asyncio.TimerHandle | None = None
        self.etcd: object | None = None
        self.api_runner: object | None = None
        self.store_ok = False
        self.transitions_written = 0
        self._reprobed: dict[str, int] = {}
        self._background: set[asyncio.Task[None]] = set()
        self.watchdog = WatchdogClient(state_dir, config.watchdog.timeout, config.watchdog.device)
        self.frozen = False
        """no_quorum_policy freeze: lease lost, resources kept, nothing started."""
        self._join_wall = time.time()
        """When the current join's probe began (a watchdog firing after it matters)."""
        self.heartbeats: HeartbeatService | None = None
        self._hb_view: DetectorView | None = None
        self._hb_changed = asyncio.Event()
        self._probes: dict[str, OpResult] = {}
        self.executor.may_run = lambda: lifecycle.may_run_actions(
            self.joined, self.clock, time.monotonic())

    @staticmethod
    def _endpoints(config: ClusterConfig) -> list[str]:
        if config.store.mode == "external":
            return list(config.store.endpoints)
        return [n.etcd_client_url for n in config.nodes]

    # -- top level --------------------------------------------------------------
    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_shutdown)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._forget_state_of_previous_boot()
        # First thing: a watchdog left by our previous life keeps guarding what it
        # started; we take over feeding it once we hold the lease again.
        await self.watchdog.ensure_running()
        if self.config.store.mode == "embedded":
            await self._start_etcd()
        from vigil.api.server import start_api
        self.api_runner = await start_api(self)
        await self._start_heartbeats()
        try:
            await self._wait_store()
            await self._bootstrap_config()
            while not self.exiting:
                await self._join()
                reason = await self._session()
                log.warning("session ended: %s", reason)
        except SessionEnd as e:
            log.warning("exiting: %s", e)
        finally:
            await self._cleanup()
        return 0

    def request_shutdown(self) -> None:
        if self.shutting_down:
            log.warning("second shutdown request: stopping resources in place now")
            self._end_session("shutdown forced")
            self.exiting = True
            return
        log.info("shutdown requested: moving resources away first")
        self.shutting_down = True
        task = asyncio.get_running_loop().create_task(self._drain())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _start_heartbeats(self) -> None:
        hb = self.config.heartbeat
        if not hb.enabled or not hb.key_file:
            log.info("direct heartbeats are off (no heartbeat.key_file): failures are "
                     "detected by lease expiry only")
            return
        try:
            key = load_key(hb.key_file)
        except (OSError, ValueError) as e:
            log.error("direct heartbeats are off: %s", e)
            return
        service = HeartbeatService(self.config, self.node, key, self._on_heartbeats,
                                   incarnation=self._next_incarnation())
        try:
            await service.start()
        except OSError as e:
            log.error("direct heartbeats are off: no link address could be bound (%s); check "
                      "nodes[%s].links", e, self.node)
            return
        self.heartbeats = service

    def _next_incarnation(self) -> int:
        """Heartbeat incarnations must grow across restarts (peers drop older ones as
        replays) even if the wall clock stepped back: persist the last one."""
        path = self.state_dir / "heartbeat.incarnation"
        try:
            last = int(path.read_text().strip())
        except (OSError, ValueError):
            last = 0
        value = max(time.time_ns(), last + 1)
        path.write_text(f"{value}\n")
        return value

    def _on_heartbeats(self, view: DetectorView) -> None:
        self._hb_view = view
        self._hb_changed.set()

    async def _suspects_loop(self) -> None:
        """Publish what our heartbeats say (on our lease): the DC fences a node only when
        every other online node suspects it."""
        published: tuple[tuple[str, ...], tuple[str, ...]] | None = None
        alerts_seen: set[str] = set()
        while True:
            await self._hb_changed.wait()
            self._hb_changed.clear()
            view = self._hb_view
            if view is None:
                continue
            suspected = tuple(sorted(view.suspected))
            alerts = tuple(a.reason for a in view.alerts)
            if (suspected, alerts) == published:
                continue
            record = rec.SuspectRecord(self.node, suspected, alerts)
            try:
                # Short attempts: when the dead node was the etcd leader, a write waits for
                # the new leader; a request stuck on the old one would cost a whole
                # request_timeout.
                async with asyncio.timeout(QUICK_WRITE):
                    await self.store.put(self.keys.suspects(self.node), record.to_json(),
                                         lease=self.writer.lease_id)
                published = (suspected, alerts)
            except (StoreError, TimeoutError) as e:
                log.info("publishing heartbeat suspicions again (%s)", e or "timeout")
                await asyncio.sleep(0.02)
                self._hb_changed.set()
                continue
            for s_node in suspected:
                log.warning("heartbeats: %s is silent on every link", s_node)
            new_alerts = set(alerts) - alerts_seen
            for a in sorted(new_alerts):
                await self.writer.event("link", f"{a} (an alert: no failover while another "
                                        "link works)")
            alerts_seen = set(alerts)

    def _forget_state_of_previous_boot(self) -> None:
        """OCF agents keep state in HA_RSCTMP, a tmpfs on a real host: emptied by a reboot.
        Ours lives in the state dir, so empty it when the boot id changed."""
        try:
            boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        except OSError:
            return
        marker = self.state_dir / "boot_id"
        if marker.exists() and marker.read_text().strip() != boot_id:
            shutil.rmtree(self.ctx.state_dir / "rsctmp", ignore_errors=True)
        marker.write_text(boot_id + "\n")

    async def _start_etcd(self) -> None:
        from vigil.store.embedded import EmbeddedEtcd
        etcd = EmbeddedEtcd(self.config, self.node, self.state_dir)
        self.etcd = etcd
        await etcd.start()

    async def _wait_store(self) -> None:
        delay = 0.1
        while True:
            try:
                await self.store.get(self.keys.config)
                self.store_ok = True
                return
            except StoreError as e:
                if self.exiting:
                    raise SessionEnd("shutdown before the store answered") from e
                log.info("waiting for the store: %s", e)
                await asyncio.sleep(delay)
                delay = min(2.0, delay * 1.5)

    async def _bootstrap_config(self) -> None:
        """The store holds the truth; the local file only seeds an empty cluster."""
        record = rec.ConfigRecord(1, self.config_source, self.config_file, time.time(),
                                  f"{self.node} (bootstrap)")
        if await self.store.create(self.keys.config, record.to_json()):
            await self.writer.event("config", f"stored initial config from {self.config_file} "
                                    "(version 1)")
        kv = await self.store.get(self.keys.config)
        if kv is not None:
            self._load_stored_config(rec.ConfigRecord.from_json(kv.value), kv.mod_revision)

    def _load_stored_config(self, record: rec.ConfigRecord, revision: int) -> None:
        if revision == self.config_revision:
            return
        self.config_revision = revision
        stored = lifecycle.read_stored_config(record, self.node)
        cfg = stored.config
        if cfg is None:
            log.error("%s", stored.problem)
            return
        old = self.config
        self.config = cfg
        self.clock.margin = cfg.timings.lease_margin
        removed = lifecycle.removed_resources(old, cfg)
        if removed and self.joined:
            task = asyncio.get_running_loop().create_task(self._stop_orphans(old, removed))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _stop_orphans(self, old: ClusterConfig, removed: list[Resource]) -> None:
        """Resources removed from the config are stopped where they run (Pacemaker stops
        orphans too); their keys go only once the stop succeeded."""
        for r in removed:
            for key, task in list(self.executor.actions.items()):
                if self.executor.action_rids.get(key) == r.id:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
            self.executor.cancel_monitor(r.id)
            if self.executor.local.get(r.id) is not RscState.STOPPED:
                res = await self.executor.run_op(r, "stop")
                self.executor.local[r.id] = outcome("stop", res.rc).state
                await self.writer.event("action", f"stop {r.id} on {self.node}: removed from "
                                        f"the config ({res.rc_name})", r.id)
                if res.rc != 0:
                    log.error("could not stop removed resource %s: %s", r.id,
                              res.describe(r.id))
                    continue  # its status stays: the cluster still sees it possibly active
            self.executor.local.pop(r.id, None)
            with contextlib.suppress(StoreError):
                await self.store.txn([], [Delete(self.keys.status(self.node, r.id)),
                                          Delete(self.keys.failure(self.node, r.id))])

    # -- joining ------------------------------------------------------------------
    async def _join(self) -> None:
        self.joined = False
        started = time.monotonic()
        while True:
            try:
                kv = await self.store.get(self.keys.config)
                if kv is not None:
                    self._load_stored_config(rec.ConfigRecord.from_json(kv.value),
                                             kv.mod_revision)
                self._join_wall = time.time()  # a watchdog firing after this matters
                self._probes = await self.executor.probe_all(self.config)
                old_kv = await self.store.get(self.keys.results(self.node))
                old = rec.ResultsRecord.from_json(old_kv.value) if old_kv else None
                for rid in self._interrupted_resources(old):
                    # An action script of our previous life may still run: treat the
                    # resource as possibly active, so the DC stops it before anything.
                    self.executor.local[rid] = RscState.FAILED
                await self.writer.write_unguarded_statuses(
                    {r.id: self.executor.local[r.id] for r in self.config.resources}, "probe")
                fixed = interrupted(old)
                if fixed is not None:
                    await self.store.put(self.keys.results(self.node), fixed.to_json())
                self.writer.results = fixed or old
                # Alive again: a fencing record of ours is history now.
                await self.store.delete(self.keys.fencing(self.node))
                await self._take_lease()
                self.joined = True
                self.frozen = False
                return
            except StoreError as e:
                if self.exiting:
                    raise SessionEnd("shutdown before joining") from e
                if self.frozen:
                    self._feed_watchdog()
                elif lifecycle.join_must_stop(bool(self.executor.active()),
                                              time.monotonic() - started, self.config):
                    # S2 before any lease: what the probe found may not keep running while
                    # the rest of the cluster can recover it elsewhere.
                    await self.executor.stop_everything(
                        self.config, "no lease could be taken: the store is unreachable")
                log.warning("join failed, retrying: %s", e)
                await asyncio.sleep(0.5)

    def _interrupted_resources(self, old: rec.ResultsRecord | None) -> set[str]:
        snap_t = self.snapshot.transition if self.snapshot is not None else None
        return lifecycle.interrupted_resources(snap_t, old)

    async def _after_join(self) -> None:
        """Reports that need a lease, done inside the session (keepalives run)."""
        try:
            for rid, res in self._probes.items():
                out = outcome("probe", res.rc)
                if out.failed:
                    await self.writer.record(rid, "probe", res.rc, out, res.describe(rid))
            if not self.shutting_down:
                await self._clear_shutdown_attr()
            running = sorted(r for r, st in self.executor.local.items()
                             if st is RscState.STARTED)
            await self.writer.event(
                "node", f"{self.node} joined (lease {self.writer.lease_id:x}); probe found "
                + (f"running: {', '.join(running)}" if running else "nothing running"))
        except NotMember as e:
            self._not_member(str(e))
        except StoreError as e:
            log.warning("could not report after joining: %s", e)

    async def _take_lease(self) -> None:
        ttl = int(self.config.timings.lease_ttl)
        member_key = self.keys.member(self.node)
        kv = await self.store.get(member_key)
        if kv is not None:
            old = rec.MemberRecord.from_json(kv.value)
            sent = time.monotonic()
            try:
                granted = await self.store.lease_keepalive(old.lease)
                self.clock = LeaseClock(self.config.timings.lease_margin)
                self.clock.acked(sent, granted)
                self._feed_watchdog()
                self.writer.lease_id = old.lease
                record = rec.MemberRecord(self.node, old.lease, self.me.api_url, os.getpid(),
                                          self.started_at)
                await self.store.put(member_key, record.to_json(), lease=old.lease)
                log.info("adopted the lease of the previous incarnation (pid %d)", old.pid)
                return
            except LeaseLost:
                pass
        while True:
            sent = time.monotonic()
            lease, granted = await self.store.lease_grant(ttl)
            record = rec.MemberRecord(self.node, lease, self.me.api_url, os.getpid(),
                                      self.started_at)
            if await self.store.create(member_key, record.to_json(), lease=lease):
                self.clock = LeaseClock(self.config.timings.lease_margin)
                self.clock.acked(sent, granted)
                self._feed_watchdog()
                self.writer.lease_id = lease
                return
            await self.store.lease_revoke(lease)
            await asyncio.sleep(0.2)

    async def _clear_shutdown_attr(self) -> None:
        kv = await self.store.get(self.keys.runtime_node(self.node))
        if kv is not None:
            attrs = rec.NodeAttrs.from_json(kv.value)
            if attrs.shutting_down:
                await self.store.put(self.keys.runtime_node(self.node),
                                     rec.NodeAttrs(attrs.standby, False).to_json())

    # -- a session ----------------------------------------------------------------
    async def _session(self) -> str:
        loop = asyncio.get_running_loop()
        self._session_end = loop.create_future()
        if self.exiting:  # a shutdown arrived while joining
            self._end_session("shutdown requested while joining")
        self._dirty.set()
        tasks = [
            asyncio.create_task(self._keepalive_loop(), name="keepalive"),
            asyncio.create_task(self._guard_loop(), name="lease-guard"),
            asyncio.create_task(self._watch_loop(), name="watch"),
            asyncio.create_task(self._process_loop(), name="process"),
            asyncio.create_task(self._suspects_loop(), name="suspects"),
        ]
        self._hb_changed.set()  # publish our current view under the new lease
        after = asyncio.create_task(self._after_join(), name="after-join")
        try:
            # A session task that dies (a bug) must end the session, not leave a node
            # that keeps its lease but decides nothing.
            end = self._session_end
            waiters: set[asyncio.Future[object]] = {end, *tasks}  # type: ignore[arg-type]
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            if end.done():
                reason = end.result()
            else:
                dead = next(t for t in tasks if t.done())
                exc = dead.exception()
                log.error("%s task ended unexpectedly: %r", dead.get_name(), exc)
                reason = f"internal error in {dead.get_name()}: {exc!r}"
        finally:
            after.cancel()
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
            self.joined = False
            self.is_dc = False
            self.coord = CoordinatorState()
            self.fencing.cancel()
        if self.frozen and not self.exiting:
            log.warning("frozen: keeping %s running until quorum returns",
                        ", ".join(self.executor.active()) or "nothing")
        elif not self.exiting or self.executor.active():
            await self.executor.stop_everything(self.config, reason)
        if self.exiting:
            with contextlib.suppress(StoreError):
                await self.writer.write_unguarded_statuses(
                    {r.id: self.executor.local.get(r.id, RscState.STOPPED)
                     for r in self.config.resources}, "stop")
        return reason

    def _end_session(self, reason: str) -> None:
        if self._session_end is not None and not self._session_end.done():
            self._session_end.set_result(reason)

    def _not_member(self, why: str) -> None:
        self._end_session(f"lost membership: {why}")

    async def _keepalive_loop(self) -> None:
        interval = self.config.timings.keepalive_interval
        warned = False
        while True:
            sent = time.monotonic()
            try:
                left = max(0.05, min(interval * 2, self.clock.remaining(sent)))
                async with asyncio.timeout(left):
                    granted = await self.store.lease_keepalive(self.writer.lease_id)
                self.clock.acked(sent, granted)
                self.store_ok = True
                if warned:
                    log.info("store reachable again; lease renewed")
                    warned = False
            except LeaseLost:
                self._end_session("lease expired in the store")
                return
            except (StoreError, TimeoutError) as e:
                self.store_ok = False
                if not warned:
                    log.warning("lease keepalive failed (%s); %.2fs of lease left", e or
                                "timeout", self.clock.remaining(time.monotonic()))
                    warned = True
            await asyncio.sleep(max(0.0, sent + interval - time.monotonic()))

    async def _guard_loop(self) -> None:
        """S2: stop everything once the node's own lease view is about to end; and feed
        the watchdog, which kills what still runs when the view ends (agent dead, hung,
        or its stops failing)."""
        while True:
            now = time.monotonic()
            verdict = (lifecycle.lease_guard(self.clock, now, self.config, self.node)
                       or lifecycle.self_fenced(self._watchdog_fired_at(), self._join_wall,
                                                bool(self.executor.active())))
            if verdict is not None:
                if verdict.action == "freeze":
                    self.frozen = True
                self._end_session(verdict.reason)
                return
            self._feed_watchdog()
            stop_at = self.clock.stop_at() or now
            await asyncio.sleep(min(0.1, max(0.005, stop_at - now)))

    def _watchdog_fired_at(self) -> float | None:
        """Wall time of the watchdog's last firing (its record's mtime, then content)."""
        try:
            mtime = self.watchdog.paths.record.stat().st_mtime
        except OSError:
            return None
        if mtime <= self._join_wall:
            return None
        record = self.watchdog.fired() or {}
        value = record.get("unix_time", mtime)
        return float(value) if isinstance(value, (int, float)) else mtime

    def _feed_watchdog(self) -> None:
        # Frozen resources stay while this agent lives; the quorate side fences us.
        deadline = lifecycle.watchdog_deadline(self.clock, self.frozen, time.monotonic(),
                                               self.config.watchdog.timeout)
        if deadline is not None:
            self.watchdog.feed(deadline)

    async def _watch_loop(self) -> None:
        revision = 0
        while True:
            try:
                if revision == 0:
                    revision, _ = await self.store.get_prefix(self.keys.config)
                async for batch in self.store.watch(self.keys.root, revision + 1):
                    for ev in batch:
                        revision = max(revision, ev.kv.mod_revision)
                    if any(not self.keys.rel(ev.kv.key).startswith("events/") for ev in batch):
                        self._dirty.set()
            except StoreError as e:
                log.debug("watch broke (%s); re-reading", e)
                revision = 0
                self._dirty.set()
                await asyncio.sleep(0.1)

    async def _process_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(RESYNC_INTERVAL):
                    await self._dirty.wait()
            self._dirty.clear()
            try:
                async with asyncio.timeout(2 * QUICK_WRITE):
                    rev, kvs = await self.store.get_prefix(self.keys.root)
            except (StoreError, TimeoutError):
                await asyncio.sleep(0.02)
                self._dirty.set()
                continue
            try:
                await self._on_snapshot(parse_snapshot(self.keys, rev, kvs))
            except NotMember as e:
                self._not_member(str(e))
            except StoreError as e:
                log.warning("store error while processing a snapshot: %s", e)
                self._dirty.set()

    def _wake_in(self, delay: float) -> None:
        if self._wake is not None:
            self._wake.cancel()
        self._wake = asyncio.get_running_loop().call_later(delay + 0.005, self._dirty.set)

    async def _on_snapshot(self, snap: Snapshot) -> None:
        self.snapshot = snap
        if snap.config is not None:
            self._load_stored_config(snap.config, snap.config_revision)
        cfg = self.config
        self.view = node_states(cfg, snap, self._view_lost, self._view_down, time.monotonic(),
                                fenced_nodes(snap))
        self._view_lost, self._view_down = self.view.lost_since, self.view.down
        if not lifecycle.member_is_ours(snap, self.node, self.writer.lease_id):
            self._end_session("our member key is gone (lease expired or revoked)")
            return
        if not self.exiting:
            self.executor.on_snapshot(snap, cfg)
            await self._reprobe(snap, cfg)
        await self._coordinate(snap, cfg)
        drained = getattr(self, "_drained", None)
        if drained is not None and not self.executor.active() and not self.executor.actions:
            drained.set()

    async def _reprobe(self, snap: Snapshot, cfg: ClusterConfig) -> None:
        """`vigil resource cleanup`: probe again and report what really runs here."""
        for rid, revision in snap.reprobe.items():
            if self._reprobed.get(rid, 0) >= revision:
                continue
            if rid in self.executor.action_rids.values():
                continue  # the action reports the state; probe on the next snapshot
            try:
                rsc = cfg.resource(rid)
            except KeyError:
                self._reprobed[rid] = revision
                continue
            self.executor.cancel_monitor(rid)
            res = await self.executor.run_op(rsc, "probe")
            out = outcome("probe", res.rc)
            self.executor.local[rid] = out.state
            await self.writer.record(rid, "probe", res.rc, out, res.describe(rid))
            self._reprobed[rid] = revision  # only once reported
            self.executor.sync_monitors(cfg)

    async def _coordinate(self, snap: Snapshot, cfg: ClusterConfig) -> None:
        dc = snap.dc
        part = lifecycle.role(snap, self.node, self.writer.lease_id, self.shutting_down)
        if dc is None:
            if part == "elect":
                record = rec.DcRecord(self.node, self.writer.lease_id, time.time())
                with contextlib.suppress(StoreError):
                    if await self.store.create(self.keys.dc, record.to_json(),
                                               lease=self.writer.lease_id):
                        await self.writer.event("dc", f"{self.node} elected coordinator (DC)")
            return
        if part == "follower":
            if self.is_dc:
                log.warning("no longer the DC")
            self.is_dc = False
            self.coord = CoordinatorState()
            deputy = deputy_request(cfg, snap, self.node)
            if deputy is not None:
                self.fencing.start_deputy(cfg, snap, deputy, lifecycle.deputy_delay(cfg))
            return
        self.is_dc = True
        d = decide(self.coord, snap, cfg, self.node, dc.token, time.monotonic(), time.time())
        self.last_decision = d
        if d.write is not None:
            guard = lifecycle.dc_guard(self.keys, dc.token, self.writer.lease_id)
            try:
                async with asyncio.timeout(2 * QUICK_WRITE):
                    res = await self.store.txn(guard,
                                               [Put(self.keys.transition, d.write.to_json())])
            except (StoreUnavailable, TimeoutError) as e:
                log.warning("could not write transition (%s); deciding again", e or "timeout")
                self._dirty.set()
                return
            if not res.succeeded:
                log.warning("lost the DC key before writing transition %d", d.write.id)
                self.is_dc = False
                return
            if not d.write.aborted:
                self.transitions_written += 1
        self.coord = d.state
        if d.fence:
            self.fencing.start(cfg, snap, d.fence, dc.token)
        for ev in d.events:
            await self.writer.event(ev.kind, ev.message, ev.resource)
        if d.wake_in is not None:
            self._wake_in(d.wake_in)
        await self._trim_events(snap)

    async def _trim_events(self, snap: Snapshot) -> None:
        excess = len(snap.event_keys) - 1000
        if excess < 200:
            return
        old = snap.event_keys[:excess]
        with contextlib.suppress(StoreError):
            for i in range(0, len(old), 100):
                await self.store.txn([], [Delete(k) for k in old[i:i + 100]])

    # -- planned shutdown ------------------------------------------------------------
    async def _drain(self) -> None:
        self._drained: asyncio.Event = asyncio.Event()
        deadline = self.config.timings.shutdown_timeout
        if not self.joined:
            self.exiting = True
            self._end_session("shutdown before joining")
            return
        try:
            kv = await self.store.get(self.keys.runtime_node(self.node))
            attrs = rec.NodeAttrs.from_json(kv.value) if kv else rec.NodeAttrs()
            await self.store.put(self.keys.runtime_node(self.node),
                                 rec.NodeAttrs(attrs.standby, True).to_json())
            await self.writer.event("node", f"{self.node} shutting down: moving its resources "
                                    "away first")
            self._dirty.set()
            async with asyncio.timeout(deadline):
                await self._drained.wait()
        except (StoreError, TimeoutError) as e:
            log.warning("could not drain in time (%s): stopping resources in place", e)
        self.exiting = True
        if self.executor.active():
            await self.executor.stop_everything(self.config, "shutdown")
        with contextlib.suppress(StoreError):
            await self.writer.write_unguarded_statuses(
                {r.id: self.executor.local.get(r.id, RscState.STOPPED)
                 for r in self.config.resources}, "stop")
            await self.writer.event("node", f"{self.node} left the cluster")
            await self.store.lease_revoke(self.writer.lease_id)
        self._end_session("planned shutdown")

    async def _cleanup(self) -> None:
        if self._wake is not None:
            self._wake.cancel()
        if self.heartbeats is not None:
            await self.heartbeats.stop()
        if self.exiting and not self.executor.active():
            self.watchdog.disarm()  # a planned exit with nothing left running
            await self.watchdog.stop()
        if self.api_runner is not None:
            from vigil.api.server import stop_api
            await stop_api(self.api_runner)
        await self.store.close()
        if self.etcd is not None:
            from vigil.store.embedded import EmbeddedEtcd
            assert isinstance(self.etcd, EmbeddedEtcd)
            await self.etcd.stop()
