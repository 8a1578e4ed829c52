"""Runs this node's actions and recurring monitors through the resource agents.

The executor keeps what the node itself knows about its resources (`local`, and the
role of promotable ones in `promoted`); the store gets every result through the
NodeWriter. At most one operation runs per resource at a time: an action cancels that
resource's monitor first.

Clones: an anonymous clone's instance on this node is its primitive (same id); a
unique clone's instance `p:<n>` runs the primitive as resource `p:<n>`. Agents of
clones get Pacemaker's clone meta (OCF_RESKEY_CRM_meta_clone_max, promotable, ...).
A promoted instance's monitor expects OCF_RUNNING_PROMOTED (8) and runs at the
`monitor_promoted` interval. Node attributes that agents set (crm_attribute,
crm_master, attrd_updater: see agents.attrd_shim) are published after each operation.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable

from vigil.agents.base import NodeContext, OcfRc, OpResult, ResourceAgent
from vigil.agents.clone_env import clone_meta, resolve_resource
from vigil.agents.factory import make_agent
from vigil.core.node import runnable_actions
from vigil.core.outcomes import Outcome, outcome
from vigil.core.snapshot import Snapshot
from vigil.model.config import ClusterConfig, Resource
from vigil.model.state import RscState
from vigil.model.transition import Action
from vigil.runtime.attributes import AttributePublisher
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
        self.promoted: dict[str, bool] = {}
        """Resource -> running in the Promoted role (promotable clones only)."""
        self._reporting: set[str] = set()
        self.config: ClusterConfig | None = None
        self.attributes = AttributePublisher(ctx, writer)
        self.may_run: Callable[[], bool] | None = None
        """False once the node's lease view ended: no action may start (S2)."""

    # -- agents ---------------------------------------------------------------
    def agent(self, rsc: Resource) -> ResourceAgent:
        cached = self._agents.get(rsc.id)
        if cached is None or cached[0] != rsc:
            meta = clone_meta(self.config, rsc.id) if self.config is not None else {}
            cached = (rsc, make_agent(rsc, self.ctx, meta))
            self._agents[rsc.id] = cached
        return cached[1]

    async def run_op(self, rsc: Resource, op: str) -> OpResult:
        timeout = self.op_timeout(rsc, op)
        interval = self.monitor_interval(rsc) if op == "monitor" else 0.0
        agent_op = "monitor" if op == "probe" else op
        try:
            return await self.agent(rsc).run(agent_op, timeout, interval)
        except ValueError as e:  # unknown agent class
            return OpResult(agent_op, OcfRc.ERR_CONFIGURED, str(e))
        finally:
            self.attributes.publish_soon()

    def op_timeout(self, rsc: Resource, op: str) -> float:
        ops = rsc.ops
        if op == "monitor" and self.promoted.get(rsc.id) and ops.monitor_promoted_timeout:
            return ops.monitor_promoted_timeout
        return {"start": ops.start_timeout, "stop": ops.stop_timeout,
                "promote": ops.promote_timeout, "demote": ops.demote_timeout,
                "notify": ops.notify_timeout}.get(op, ops.monitor_timeout)

    def monitor_interval(self, rsc: Resource) -> float:
        """The recurring monitor's interval in the resource's current role."""
        if not self.promoted.get(rsc.id):
            return rsc.ops.monitor_interval
        return rsc.ops.monitor_promoted_interval or (
            rsc.ops.monitor_interval + 1.0 if rsc.ops.monitor_interval > 0 else 0.0)

    def resources(self, config: ClusterConfig) -> list[Resource]:
        """What this node may run: every primitive, and the instances of unique clones
        it knows of (by their instance ids)."""
        out = list(config.resources)
        known = {r.id for r in out}
        for rid in sorted(self.local):
            if rid not in known:
                rsc = resolve_resource(config, rid)
                if rsc is not None:
                    out.append(rsc)
        return out

    # -- probing --------------------------------------------------------------
    async def probe_all(self, config: ClusterConfig) -> dict[str, OpResult]:
        # A new life: the attributes agents set for the last one (lifetime reboot) go.
        self.attributes.reset()
        self.config = config
        results = await asyncio.gather(*(self.run_op(r, "probe") for r in config.resources))
        out = dict(zip((r.id for r in config.resources), results, strict=True))
        for rid, res in out.items():
            self.promoted[rid] = res.rc in (OcfRc.RUNNING_PROMOTED, OcfRc.FAILED_PROMOTED)
            self.local[rid] = (RscState.STARTED if res.rc == OcfRc.RUNNING_PROMOTED
                               else outcome("probe", res.rc).state)
        return out

    # -- transitions ----------------------------------------------------------
    def on_snapshot(self, snap: Snapshot, config: ClusterConfig) -> None:
        self.config = config
        self.attributes.seen(snap)
        self._report_promoted(snap)
        t = snap.transition
        if t is None:
            return
        for a in runnable_actions(snap, self.ctx.node, self.claimed,
                                    config.batch_limit):
            key = (t.id, a.id)
            self.claimed.add(key)
            self.action_rids[key] = a.resource
            self.actions[key] = asyncio.create_task(
                self._run_action(t.id, a, snap.transition_revision), name=f"action-{t.id}-{a.id}")
        self.sync_monitors(config)

    def _report_promoted(self, snap: Snapshot) -> None:
        """A probe that found an instance running promoted (rc 8) is recorded as a plain
        start by the join; say it is promoted, or the DC could promote another one."""
        busy = set(self.action_rids.values())
        for rid, promoted in list(self.promoted.items()):
            status = snap.statuses.get((self.ctx.node, rid))
            if (not promoted or rid in busy or status is None or status.promoted
                    or status.state is not RscState.STARTED or rid in self._reporting):
                continue
            self._reporting.add(rid)

            async def report(rid: str = rid) -> None:
                try:
                    await retrying(functools.partial(
                        self.writer.record, rid, "monitor", OcfRc.RUNNING_PROMOTED,
                        Outcome(RscState.STARTED), f"{rid} runs promoted on {self.ctx.node}"))
                except NotMember as e:
                    self.on_not_member(str(e))
                finally:
                    self._reporting.discard(rid)

            asyncio.get_running_loop().create_task(report(), name=f"promoted-{rid}")

    async def _run_action(self, tid: int, a: Action, trev: int) -> None:
        claimed = False
        try:
            assert self.config is not None
            found = resolve_resource(self.config, a.resource)
            if found is None:
                return
            rsc = found
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
            if a.op in ("promote", "demote"):
                ok = res.rc == OcfRc.SUCCESS
                out = Outcome(RscState.STARTED) if ok else Outcome(RscState.FAILED, 1, True)
                # A failed demote leaves it promoted; a failed promote counts as not.
                self.promoted[a.resource] = ok if a.op == "promote" else not ok
            elif a.op == "start":
                self.promoted[a.resource] = False
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
        resources = self.resources(config)
        for rsc in resources:
            interval = self.monitor_interval(rsc)
            want = (self.local.get(rsc.id) is RscState.STARTED
                    and interval > 0 and rsc.id not in busy
                    and not rsc.meta.maintenance and not config.maintenance_mode)
            cur = self.monitors.get(rsc.id)
            if cur is not None and (not want or cur[1] != interval or cur[0].done()):
                self.cancel_monitor(rsc.id)
                cur = None
            if want and cur is None:
                task = asyncio.create_task(self._monitor_loop(rsc), name=f"monitor-{rsc.id}")
                self.monitors[rsc.id] = (task, interval)
        ids = {r.id for r in resources}
        for rid in list(self.monitors):
            if rid not in ids:
                self.cancel_monitor(rid)

    def cancel_monitor(self, rid: str) -> None:
        cur = self.monitors.pop(rid, None)
        if cur is not None:
            cur[0].cancel()

    async def _monitor_loop(self, rsc: Resource) -> None:
        while True:
            await asyncio.sleep(self.monitor_interval(rsc))
            res = await self.run_op(rsc, "monitor")
            expected = OcfRc.RUNNING_PROMOTED if self.promoted.get(rsc.id) else OcfRc.SUCCESS
            if res.rc == expected:
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
        targets = [r for r in self.resources(config)
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
