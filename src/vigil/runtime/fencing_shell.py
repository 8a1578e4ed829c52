"""The DC's hands for fencing: run the topology, record the outcome, revoke the lease.

Only the DC starts a fencing (the `running` record is written guarded by its election
key, S3); the outcome is recorded whatever happens to the DC meanwhile, because it is a
fact about the node. A confirmed fencing also revokes the node's lease, so its member
and any election key it held vanish at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from vigil.core import records as rec
from vigil.core.fencing_policy import FenceRequest, outcome_txn
from vigil.core.snapshot import Snapshot
from vigil.fencing.runner import FenceOutcome, fence_node
from vigil.model.config import ClusterConfig
from vigil.runtime.writer import NodeWriter
from vigil.store.base import Compare, Put, Store, StoreError
from vigil.store.keys import Keys

log = logging.getLogger("vigil.fencing")


class FencingShell:
    def __init__(self, store: Store, keys: Keys, writer: NodeWriter,
                 on_done: Callable[[], None]) -> None:
        self.store = store
        self.keys = keys
        self.writer = writer
        self.on_done = on_done
        self.in_flight: dict[str, asyncio.Task[None]] = {}

    def start(self, config: ClusterConfig, snap: Snapshot, requests: tuple[FenceRequest, ...],
              token: int) -> None:
        for r in requests:
            if r.node in self.in_flight:
                continue
            guard = [Compare(self.keys.dc, "create", "=", token),
                     Compare(self.keys.dc, "lease", "=", self.writer.lease_id)]
            self.in_flight[r.node] = asyncio.create_task(
                self._fence(config, snap, r, guard), name=f"fence-{r.node}")

    def start_deputy(self, config: ClusterConfig, snap: Snapshot, req: FenceRequest,
                     delay: float) -> None:
        """Fence a silent DC (see `deputy_request`); guarded by our own membership and by
        the DC key being unchanged, after `delay` (the two-node fence race)."""
        if req.node in self.in_flight or snap.dc is None:
            return
        guard = [Compare(self.keys.member(self.writer.node), "lease", "=",
                         self.writer.lease_id),
                 Compare(self.keys.dc, "create", "=", snap.dc.token)]

        async def later() -> None:
            await asyncio.sleep(delay)
            await self._fence(config, snap, req, guard)

        self.in_flight[req.node] = asyncio.create_task(later(), name=f"deputy-fence-{req.node}")

    def cancel(self) -> None:
        for t in self.in_flight.values():
            t.cancel()
        self.in_flight.clear()

    async def _fence(self, config: ClusterConfig, snap: Snapshot, req: FenceRequest,
                     guard: list[Compare]) -> None:
        try:
            action = config.fencing.action
            running = rec.FenceRecord(req.node, "running", action, req.reason,
                                      self.writer.node, time.time())
            key = self.keys.fencing(req.node)
            rev = snap.fencing_revision.get(req.node)
            guard = [*guard,
                     Compare(key, "mod", "=", rev) if rev else Compare(key, "create", "=", 0)]
            claimed = await self._claim(key, guard, running)
            if not claimed:
                return  # no longer the DC, or someone else's record: decide again
            await self.writer.event("fencing", f"fencing {req.node} ({action}): {req.reason}")
            outcome = await fence_node(config.fencing, req.node, action)
            await self.record(running, claimed, outcome, snap)
        except StoreError as e:
            log.error("fencing %s: store error (%s); the DC will decide again", req.node, e)
        finally:
            self.in_flight.pop(req.node, None)
            self.on_done()

    async def _claim(self, key: str, guard: list[Compare], running: rec.FenceRecord) -> int:
        """Write our `running` record; returns its revision (0: not ours). Attempts are
        short (a dead etcd leader would hold a request for a whole request_timeout);
        after an unknown outcome the record itself says whether it was ours."""
        for _ in range(20):
            try:
                async with asyncio.timeout(0.5):
                    res = await self.store.txn(guard, [Put(key, running.to_json())])
                return res.revision if res.succeeded else 0
            except (StoreError, TimeoutError):
                try:
                    async with asyncio.timeout(0.5):
                        kv = await self.store.get(key)
                except (StoreError, TimeoutError):
                    continue
                if kv is not None and rec.FenceRecord.from_json(kv.value) == running:
                    return kv.mod_revision
        return 0

    async def record(self, running: rec.FenceRecord, running_revision: int,
                     outcome: FenceOutcome, snap: Snapshot | None) -> None:
        """Store the outcome (retrying until the store takes it: it is a fact the
        cluster must learn), then revoke a fenced node's lease — unless the node joined
        again meanwhile (it deleted our `running` record): then it is history only."""
        now = time.time()
        done = rec.FenceRecord(running.node, "done" if outcome.ok else "failed",
                               running.action, running.reason, running.requested_by,
                               running.requested_at, now, outcome.reason)
        hist = f"{self.keys.fencing_history}{int(now * 1000):013d}-{running.node}"
        compares, ok_ops, else_ops = outcome_txn(self.keys, done, running_revision, hist)
        key = self.keys.fencing(running.node)
        delay = 0.05
        while True:
            try:
                async with asyncio.timeout(0.5):
                    res = await self.store.txn(compares, ok_ops, else_ops)
                    # A compare that failed after an unknown first attempt: ours landed.
                    recorded = res.succeeded or await self._holds(key, done)
                break
            except (StoreError, TimeoutError) as e:
                log.warning("could not record the fencing of %s yet (%s)", running.node, e)
                await asyncio.sleep(delay)
                delay = min(0.2, delay * 2)
        if not recorded:
            log.warning("fencing of %s finished after it joined again: kept as history only",
                        running.node)
            return
        if outcome.ok:
            await self.writer.event("fencing", f"{outcome.reason}; its resources may now be "
                                    "recovered")
            member = snap.members.get(running.node) if snap is not None else None
            if member is not None:
                try:
                    await self.store.lease_revoke(member.record.lease)
                except StoreError as e:
                    log.warning("could not revoke the lease of fenced %s: %s", running.node, e)
        else:
            log.error("FENCING FAILED: %s", outcome.reason)
            await self.writer.event("fencing-failed", f"{outcome.reason}; its resources stay "
                                    "blocked until fencing succeeds or the lease rule allows "
                                    "recovery")

    async def _holds(self, key: str, record: rec.FenceRecord) -> bool:
        kv = await self.store.get(key)
        return kv is not None and kv.value == record.to_json()
