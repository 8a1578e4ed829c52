"""Everything a node writes to the store about itself, guarded by its membership.

Writes carry a compare on the node's member key lease, so an agent that lost its lease
(or a stale incarnation) cannot overwrite what the cluster already decided about it.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time

from vigil.agents.base import OcfRc
from vigil.core import records as rec
from vigil.core.node import claim, complete
from vigil.core.outcomes import Outcome, add_failures
from vigil.model.state import FailCount, ResourceStatus, RscState
from vigil.store.base import Compare, OutcomeUnknown, Put, Store, StoreError, TxnOp
from vigil.store.keys import Keys

log = logging.getLogger("vigil.node")


class NotMember(Exception):
    """The node's lease no longer backs its member key: it must stop and rejoin."""


class NodeWriter:
    def __init__(self, store: Store, keys: Keys, node: str) -> None:
        self.store = store
        self.keys = keys
        self.node = node
        self.lease_id = 0
        self.results: rec.ResultsRecord | None = None
        self._lock = asyncio.Lock()
        self._seq = itertools.count()

    def _guard(self) -> list[Compare]:
        return [Compare(self.keys.member(self.node), "lease", "=", self.lease_id)]

    async def claim(self, tid: int, aid: int, transition_revision: int) -> bool:
        """Record the action as running, only if the transition is still the one we read."""
        async with self._lock:
            new = claim(self.results or rec.ResultsRecord(tid), tid, aid)
            res = await self.store.txn(
                [Compare(self.keys.transition, "mod", "=", transition_revision), *self._guard()],
                [Put(self.keys.results(self.node), new.to_json())],
            )
            if res.succeeded:
                self.results = new
            return res.succeeded

    async def complete(self, tid: int, aid: int, rid: str, op: str, rc: int, out: Outcome,
                       reason: str) -> None:
        async with self._lock:
            if self.results is not None and self.results.transition > tid:
                ops: list[TxnOp] = []  # a newer transition's record: keep it, report state
                await self._write_state(rid, op, rc, out, reason, ops)
                return
            new = complete(self.results or rec.ResultsRecord(tid), tid, aid,
                           rec.ActionOutcome(rc, reason))
            ops = [Put(self.keys.results(self.node), new.to_json())]
            await self._write_state(rid, op, rc, out, reason, ops)
            self.results = new

    async def abandon(self, tid: int, aid: int, reason: str) -> None:
        """The action will not run (its claim's outcome is unknown): say so, so the DC
        does not wait for it."""
        async with self._lock:
            if self.results is not None and self.results.transition > tid:
                return  # never overwrite a newer transition's record
            new = complete(self.results or rec.ResultsRecord(tid), tid, aid,
                           rec.ActionOutcome(OcfRc.EXEC_ERROR, reason))
            res = await self.store.txn(self._guard(),
                                       [Put(self.keys.results(self.node), new.to_json())])
            if not res.succeeded:
                raise NotMember(f"member key of {self.node} is not ours any more")
            self.results = new

    async def record(self, rid: str, op: str, rc: int, out: Outcome, reason: str) -> None:
        """A monitor or probe result outside any transition."""
        async with self._lock:
            await self._write_state(rid, op, rc, out, reason, [])

    async def _write_state(self, rid: str, op: str, rc: int, out: Outcome, reason: str,
                           extra: list[TxnOp]) -> None:
        status = ResourceStatus(self.node, rid, out.state, op, rc, time.time())
        skey = self.keys.status(self.node, rid)
        ours = rec.status_to_json(status)  # its timestamp makes it this write's fingerprint
        ops: list[TxnOp] = [Put(skey, ours), *extra]
        while True:
            compares = self._guard()
            if out.failure:
                fkey = self.keys.failure(self.node, rid)
                kv = await self.store.get(fkey)
                try:
                    old = rec.failure_from_json(self.node, rid, kv.value) if kv else None
                except (ValueError, KeyError, TypeError):
                    old = None  # unreadable: start counting again rather than stall
                count = add_failures(old.count if old else 0, out.failure)
                fc = FailCount(self.node, rid, count, time.time(), op, rc, reason)
                ops_f = [*ops, Put(fkey, rec.failure_to_json(fc))]
                compares.append(Compare(fkey, "mod", "=", kv.mod_revision) if kv
                                else Compare(fkey, "create", "=", 0))
            else:
                ops_f = ops
            try:
                res = await self.store.txn(compares, ops_f)
            except OutcomeUnknown:
                # It may have applied (or still apply: its compares then fail). Counting
                # the failure again would add it twice: look before writing again.
                if await self._applied(skey, ours):
                    return
                raise
            if res.succeeded or (out.failure and await self._applied(skey, ours)):
                return
            member = await self.store.get(self.keys.member(self.node))
            if member is None or member.lease != self.lease_id:
                raise NotMember(f"member key of {self.node} is not ours any more")
            # Only the fail-count compare can have failed (a concurrent cleanup): retry.

    async def _applied(self, skey: str, ours: bytes) -> bool:
        kv = await self.store.get(skey)
        return kv is not None and kv.value == ours

    async def write_unguarded_statuses(self, statuses: dict[str, RscState], op: str) -> None:
        """Before joining (no lease yet): what the probe found, so the DC never sees
        this node online with stale statuses."""
        now = time.time()
        puts = [Put(self.keys.status(self.node, rid),
                    rec.status_to_json(ResourceStatus(self.node, rid, st, op, 0, now)))
                for rid, st in sorted(statuses.items())]
        for i in range(0, len(puts), 100):
            await self.store.txn([], puts[i:i + 100])

    async def event(self, kind: str, message: str, resource: str = "") -> None:
        log.info("%s: %s", kind, message)
        ev = rec.EventRecord(time.time(), self.node, kind, message, resource)
        key = f"{self.keys.events}{int(ev.time * 1000):013d}-{self.node}-{next(self._seq):06d}"
        try:
            await self.store.put(key, ev.to_json())
        except StoreError as e:
            log.warning("could not record event (%s): %s", e, message)
