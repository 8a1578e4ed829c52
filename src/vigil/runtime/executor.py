"""Runs this node's actions and recurring monitors through the resource agents.

The executor keeps what the node itself knows about its resources (`local`); the store
gets every result through the NodeWriter. At most one operation runs per resource at a
time: an action cancels that resource's monitor first.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable

from vigil.agents.base import NodeContext, OcfRc, OpResult, ResourceAgent
from vigil.agents.factory import make_agent
from vigil.core.node import runnable_actions
from vigil.core.outcomes import outcome
from vigil.core.snapshot import Snapshot
from vigil.model.config import ClusterConfig, Resource
from vigil.model.state import RscState
from vigil.model.transition import Action
from vigil.runtime.writer import NodeWriter, NotMember
from vigil.store.base import StoreError

log = logging.getLogger("vigil.executor")


async def retrying(write: Callable[[], Awaitable[None]]) -> None:
    """Retry a result write until the store takes it; losing the lease ends the session
    (and this task), and the next join records the action as interrupted."""
    delay = 0.05
    while True:
        try:
            await write()
            return
        except NotMember:
            raise
        except StoreError as e:
            log.warning("store did not take a result (%s); retrying", e)
            await asyncio.sleep(delay)
            delay = min(1.0, delay * 2)


class Executor:
    def __init__(self, ctx: NodeContext, writer: NodeWriter,
                 on_not_member: Callable[[str], None]) -> None:
        self.ctx = ctx
        self.writer = writer
        self.on_not_member = on_not_member
        self.local: dict[str, RscState] = {}
        self.actions: dict[tuple[int, int], asyncio.Task[None]] = {}
        self.action_rids: dict[tuple[int, int], str] = {}
        self.claimed: set[tuple[int, int]] = set()
        self.monitors: dict[str, tuple[asyncio.Task[None], float]] = {}
        self._agents: dict[str, tuple[Resource, ResourceAgent]] = {}
        self.config: ClusterConfig | None = None
        self.may_run: Callable[[], bool] | None = None
        """False once the node's lease view ended: no action may start (S2)."""

    # -- agents ---------------------------------------------------------------
    def agent(self, rsc: Resource) -> ResourceAgent:
        cached = self._agents.get(rsc.id)
        if cached is None or cached[0] != rsc:
            cached = (rsc, make_agent(rsc, self.ctx))
            self._agents[rsc.id] = cached
        return cached[1]

    async def run_op(self, rsc: Resource, op: str) -> OpResult:
        timeout = {"start": rsc.ops.start_timeout, "stop": rsc.ops.stop_timeout}.get(
            op, rsc.ops.monitor_timeout)
        interval = rsc.ops.monitor_interval if op == "monitor" else 0.0
        agent_op = "monitor" if op == "probe" else op
        try:
            return await self.agent(rsc).run(agent_op, timeout, interval)
        except ValueError as e:  # unknown agent class
            return OpResult(agent_op, OcfRc.ERR_CONFIGURED, str(e))

    # -- probing --------------------------------------------------------------
    async def probe_all(self, config: ClusterConfig) -> dict[str, OpResult]:
        results = await asyncio.gather(*(self.run_op(r, "probe") for r in config.resources))
        out = dict(zip((r.id for r in config.resources), results, strict=True))
        for rid, res in out.items():
            self.local[rid] = outcome("probe", res.rc).state
        return out

    # -- transitions ----------------------------------------------------------
    def on_snapshot(self, snap: Snapshot, config: ClusterConfig) -> None:
        self.config = config
        t = snap.transition
        if t is None:
            return
        for a in runnable_actions(snap, self.ctx.node, self.claimed):
            key = (t.id, a.id)
            self.claimed.add(key)
            self.action_rids[key] = a.resource
            self.actions[key] = asyncio.create_task(
                self._run_action(t.id, a, snap.transition_revision), name=f"action-{t.id}-{a.id}")
        self.sync_monitors(config)

    async def _run_action(self, tid: int, a: Action, trev: int) -> None:
        claimed = False
        try:
            assert self.config is not None
            try:
                rsc = self.config.resource(a.resource)
            except KeyError:
                return
            try:
                claimed = await self.writer.claim(tid, a.id, trev)
            except StoreError as e:
                why = f"not run: the store did not confirm the claim ({e})"
                await retrying(lambda: self.writer.abandon(tid, a.id, why))
                return
            if not claimed:
                return  # the transition changed under us: the DC decides again
            if self.may_run is not None and not self.may_run():
                # Paused or slow since the claim: our lease view ended meanwhile (S2).
                self.on_not_member("lease view ended before the action could start")
                return
            self.cancel_monitor(a.resource)
            # Unknown until the action returns: a lease loss meanwhile must stop it.
            self.local[a.resource] = RscState.FAILED
            res = await self.run_op(rsc, a.op)
            out = outcome(a.op, res.rc)
            self.local[a.resource] = out.state
            reason = res.describe(a.resource)
            await retrying(lambda: self.writer.complete(
                tid, a.id, a.resource, a.op, res.rc, out, reason))
            claimed = False
            if out.failed:
                await self.writer.event("failure", f"{reason} on {self.ctx.node}", a.resource)
            else:
                await self.writer.event(
                    "action", f"{a.op} {a.resource} on {self.ctx.node}: ok "
                    f"({res.duration:.2f}s)", a.resource)
        except NotMember as e:
            self.on_not_member(str(e))
        except asyncio.CancelledError:
            raise
        except Exception as e:
            # Never leave a claimed action unreported: the DC would wait for it forever.
            log.exception("action %s/%s (%s %s) crashed", tid, a.id, a.op, a.resource)
            if claimed:
                why = f"vigil error while running the action: {e!r}"
                with contextlib.suppress(Exception):
                    await retrying(lambda: self.writer.abandon(tid, a.id, why))
        finally:
            self.actions.pop((tid, a.id), None)
            self.action_rids.pop((tid, a.id), None)
            if self.config is not None:
                self.sync_monitors(self.config)

    # -- monitors -------------------------------------------------------------
    def sync_monitors(self, config: ClusterConfig) -> None:
        busy = set(self.action_rids.values())
        for rsc in config.resources:
            want = (self.local.get(rsc.id) is RscState.STARTED
                    and rsc.ops.monitor_interval > 0 and rsc.id not in busy)
            cur = self.monitors.get(rsc.id)
            if cur is not None and (not want or cur[1] != rsc.ops.monitor_interval
                                    or cur[0].done()):
                self.cancel_monitor(rsc.id)
                cur = None
            if want and cur is None:
                task = asyncio.create_task(self._monitor_loop(rsc), name=f"monitor-{rsc.id}")
                self.monitors[rsc.id] = (task, rsc.ops.monitor_interval)
        for rid in list(self.monitors):
            if all(r.id != rid for r in config.resources):
                self.cancel_monitor(rid)

    def cancel_monitor(self, rid: str) -> None:
        cur = self.monitors.pop(rid, None)
        if cur is not None:
            cur[0].cancel()

    async def _monitor_loop(self, rsc: Resource) -> None:
        while True:
            await asyncio.sleep(rsc.ops.monitor_interval)
            res = await self.run_op(rsc, "monitor")
            if res.rc == OcfRc.SUCCESS:
                continue
            out = outcome("monitor", res.rc)
            self.local[rsc.id] = out.state
            reason = res.describe(rsc.id)
            if res.rc == OcfRc.NOT_RUNNING:
                reason = f"monitor of {rsc.id} found it not running"
            try:
                await retrying(functools.partial(self.writer.record, rsc.id, "monitor",
                                                 res.rc, out, reason))
                await self.writer.event("failure", f"{reason} on {self.ctx.node}", rsc.id)
            except NotMember as e:
                self.on_not_member(str(e))
            self.monitors.pop(rsc.id, None)
            return

    # -- stopping everything (lease loss, shutdown timeout) --------------------
    async def stop_everything(self, config: ClusterConfig, why: str) -> dict[str, OpResult]:
        """Cancel every action and monitor, then stop every resource that may be active."""
        for t in list(self.actions.values()):
            t.cancel()
        for rid in list(self.monitors):
            self.cancel_monitor(rid)
        for t in list(self.actions.values()):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self.actions.clear()
        self.action_rids.clear()
        self.claimed.clear()  # a rejoined node may be asked to run them again
        targets = [r for r in config.resources
                   if self.local.get(r.id, RscState.FAILED) is not RscState.STOPPED]
        log.warning("stopping %d resource(s): %s", len(targets), why)
        results = await asyncio.gather(*(self.run_op(r, "stop") for r in targets))
        out = {}
        for r, res in zip(targets, results, strict=True):
            self.local[r.id] = outcome("stop", res.rc).state
            out[r.id] = res
            if res.rc != OcfRc.SUCCESS:
                log.error("could not stop %s: %s", r.id, res.describe(r.id))
        return out

    def active(self) -> list[str]:
        return sorted(rid for rid, st in self.local.items() if st is not RscState.STOPPED)
