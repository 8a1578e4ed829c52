"""A model of etcd for the simulator: `StoreModel` (synchronous) and `SimStore` (a `Store`).

What it keeps of etcd:
  - one global revision, bumped once per write request that changes something (a txn, put
    or delete); every key carries create/mod revision, version and lease;
  - txn compares as etcd evaluates them (a missing key has revisions, version and lease 0,
    and any compare on its value fails); all ops of the chosen branch share one revision;
  - leases granted with ids from a seeded counter and TTL at least `min_ttl`; expiry is
    checked every `expiry_granularity` seconds of virtual time (etcd: 500 ms); an expired or
    revoked lease deletes its keys in one revision; a lease past its expiry but not yet
    collected can no longer be kept alive (LeaseLost), as in etcd;
  - a change log for watches, trimmed by `compact(revision)`: reading below it raises
    Compacted;
  - partitions: a call from a named client not in `reachable` raises StoreUnavailable
    (it is cut off from the majority). Calls with `client=None` are the simulator's own.
What it leaves out (for now): request timeouts that take virtual time, and writes whose
outcome is unknown to the client (applied, but the answer lost).
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import AsyncGenerator, Callable, Iterable, Sequence
from dataclasses import dataclass, field

from vigil.sim.clock import VirtualClock
from vigil.store.base import (
    Compacted,
    Compare,
    Delete,
    KeyValue,
    LeaseLost,
    Put,
    Store,
    StoreHealth,
    StoreUnavailable,
    TxnOp,
    TxnResult,
    WatchEvent,
)


@dataclass
class Lease:
    id: int
    ttl: int
    expiry: float
    keys: set[str] = field(default_factory=set)


def _check_compare_type(c: Compare) -> None:
    if c.target == "value" and not isinstance(c.value, bytes):
        raise TypeError(f"compare on value of {c.key!r} needs bytes, got {c.value!r}")
    if c.target != "value" and not isinstance(c.value, int):
        raise TypeError(f"compare on {c.target} of {c.key!r} needs an int, got {c.value!r}")


def _holds(kv: KeyValue | None, c: Compare) -> bool:
    """One compare, as etcd's applyCompare evaluates it."""
    _check_compare_type(c)
    if kv is None:
        if c.target == "value":
            return False  # etcd: comparing the value of a missing key always fails
        kv = KeyValue(c.key, b"")
    fields: dict[str, int | bytes] = {
        "create": kv.create_revision,
        "mod": kv.mod_revision,
        "version": kv.version,
        "value": kv.value,
        "lease": kv.lease,
    }
    actual = fields[c.target]
    expected = c.value
    if c.op == "=":
        return actual == expected
    if c.op == "!=":
        return actual != expected
    if isinstance(actual, bytes) and isinstance(expected, bytes):
        return actual < expected if c.op == "<" else actual > expected
    if isinstance(actual, int) and isinstance(expected, int):
        return actual < expected if c.op == "<" else actual > expected
    raise TypeError(f"cannot compare {actual!r} with {expected!r}")


class StoreModel:
    """An in-memory etcd with virtual time; single-threaded and fully deterministic."""

    def __init__(
        self,
        clock: VirtualClock,
        *,
        seed: int = 0,
        clients: Iterable[str] = (),
        expiry_granularity: float = 0.5,
        min_ttl: int = 1,
    ) -> None:
        if expiry_granularity <= 0:
            raise ValueError("expiry_granularity must be positive")
        self.clock = clock
        self.expiry_granularity = expiry_granularity
        self.min_ttl = min_ttl
        self.revision = 1  # etcd starts at 1 with an empty keyspace
        self.compact_revision = 0
        self.clients: set[str] = set(clients)
        self.reachable: set[str] = set(self.clients)
        self.log: list[WatchEvent] = []
        self.leases: dict[int, Lease] = {}
        self._kvs: dict[str, KeyValue] = {}
        self._next_lease = random.Random(seed).randrange(1 << 40, 1 << 48)
        self._listeners: list[Callable[[], None]] = []
        self._check_pending = False

    # --- clients, partitions, listeners ---

    def register(self, client: str) -> None:
        """Make a client known; a new one starts reachable."""
        if client not in self.clients:
            self.clients.add(client)
            self.reachable.add(client)

    def cut(self, *clients: str) -> None:
        """Cut clients off from the majority: their calls raise StoreUnavailable."""
        self.reachable.difference_update(clients)
        self.notify()

    def heal(self, *clients: str) -> None:
        """Reconnect the given clients (every known client when none is named)."""
        self.reachable.update(clients or self.clients)
        self.notify()

    def check(self, client: str | None) -> None:
        if client is not None and client not in self.reachable:
            raise StoreUnavailable(f"{client} is cut off from the store")

    def subscribe(self, fn: Callable[[], None]) -> Callable[[], None]:
        """Call fn after every change (writes and partitions); returns the unsubscriber."""
        self._listeners.append(fn)
        return lambda: self._listeners.remove(fn)

    def notify(self) -> None:
        """Wake every listener (watches re-read the log and the partition state)."""
        for fn in list(self._listeners):
            fn()

    # --- reads ---

    def get(self, key: str, *, client: str | None = None) -> KeyValue | None:
        self.check(client)
        return self._kvs.get(key)

    def get_prefix(self, prefix: str, *, client: str | None = None) -> tuple[int, list[KeyValue]]:
        self.check(client)
        return self.revision, [self._kvs[k] for k in sorted(self._kvs) if k.startswith(prefix)]

    # --- writes ---

    def put(self, key: str, value: bytes, lease: int = 0, *, client: str | None = None) -> int:
        return self.txn([], [Put(key, value, lease)], client=client).revision

    def delete(self, key: str, prefix: bool = False, *, client: str | None = None) -> int:
        return self.txn([], [Delete(key, prefix)], client=client).revision

    def txn(
        self,
        compares: Sequence[Compare],
        success: Sequence[TxnOp],
        failure: Sequence[TxnOp] = (),
        *,
        client: str | None = None,
    ) -> TxnResult:
        self.check(client)
        succeeded = all([_holds(self._kvs.get(c.key), c) for c in compares])
        ops = success if succeeded else failure
        for op in ops:
            if isinstance(op, Put) and op.lease and op.lease not in self.leases:
                raise LeaseLost(f"lease {op.lease:x} not found")
        self._apply(ops)
        return TxnResult(succeeded, self.revision)

    def _apply(self, ops: Sequence[TxnOp]) -> None:
        """Apply ops at revision + 1; the revision moves only if something changed."""
        rev = self.revision + 1
        events: list[WatchEvent] = []
        for op in ops:
            if isinstance(op, Put):
                events.append(self._put(op, rev))
            else:
                keys = sorted(k for k in self._kvs if k.startswith(op.key)) if op.prefix else (
                    [op.key] if op.key in self._kvs else []
                )
                events.extend(self._delete(k, rev) for k in keys)
        if events:
            self.revision = rev
            self.log.extend(events)
            self.notify()

    def _put(self, op: Put, rev: int) -> WatchEvent:
        old = self._kvs.get(op.key)
        if old is not None and old.lease in self.leases:
            self.leases[old.lease].keys.discard(op.key)
        if op.lease:
            self.leases[op.lease].keys.add(op.key)
        kv = KeyValue(
            op.key,
            op.value,
            create_revision=old.create_revision if old else rev,
            mod_revision=rev,
            version=old.version + 1 if old else 1,
            lease=op.lease,
        )
        self._kvs[op.key] = kv
        return WatchEvent("put", kv)

    def _delete(self, key: str, rev: int) -> WatchEvent:
        old = self._kvs.pop(key)
        if old.lease in self.leases:
            self.leases[old.lease].keys.discard(key)
        return WatchEvent("delete", KeyValue(key, b"", mod_revision=rev))

    # --- leases ---

    def lease_grant(self, ttl: int, *, client: str | None = None) -> tuple[int, int]:
        self.check(client)
        lease_id = self._next_lease
        self._next_lease += 1
        granted = max(ttl, self.min_ttl)
        self.leases[lease_id] = Lease(lease_id, granted, self.clock.now() + granted)
        self._schedule_expiry_check()
        return lease_id, granted

    def lease_keepalive(self, lease_id: int, *, client: str | None = None) -> int:
        self.check(client)
        lease = self.leases.get(lease_id)
        if lease is None or lease.expiry <= self.clock.now():
            raise LeaseLost(f"lease {lease_id:x} expired or was revoked")
        lease.expiry = self.clock.now() + lease.ttl
        return lease.ttl

    def lease_revoke(self, lease_id: int, *, client: str | None = None) -> None:
        """Revoke, deleting every attached key in one revision; a lease gone is a no-op."""
        self.check(client)
        lease = self.leases.pop(lease_id, None)
        if lease is not None:
            self._apply([Delete(k) for k in sorted(lease.keys)])

    def lease_remaining(self, lease_id: int) -> float | None:
        """Seconds until the lease expires (None when the store no longer has it)."""
        lease = self.leases.get(lease_id)
        return None if lease is None else max(0.0, lease.expiry - self.clock.now())

    def _schedule_expiry_check(self) -> None:
        """The next check on the granularity grid, only while some lease exists (so a
        simulator can tell that nothing is pending from `clock.next_deadline()`)."""
        if self._check_pending or not self.leases:
            return
        self._check_pending = True
        tick = math.floor(self.clock.now() / self.expiry_granularity) + 1
        self.clock.call_at(tick * self.expiry_granularity, self._expiry_check)

    def _expiry_check(self) -> None:
        self._check_pending = False
        now = self.clock.now()
        expired = sorted((le.expiry, le.id) for le in self.leases.values() if le.expiry <= now)
        for _, lease_id in expired:
            self.lease_revoke(lease_id)
        self._schedule_expiry_check()

    # --- history ---

    def compact(self, revision: int) -> None:
        """Forget the change log before `revision` (etcd: ErrFutureRev, ErrCompacted)."""
        if revision > self.revision:
            raise ValueError(f"cannot compact at {revision}: current revision {self.revision}")
        if revision <= self.compact_revision:
            raise Compacted(self.compact_revision)
        self.compact_revision = revision
        self.log = [e for e in self.log if e.kv.mod_revision >= revision]

    def watch_from(
        self, prefix: str, revision: int, *, client: str | None = None
    ) -> list[WatchEvent]:
        """Events under prefix with revision >= `revision`, in order."""
        self.check(client)
        if revision < self.compact_revision:
            raise Compacted(self.compact_revision)
        return [
            e for e in self.log if e.kv.mod_revision >= revision and e.kv.key.startswith(prefix)
        ]


class SimStore(Store):
    """A `Store` for one client of a `StoreModel`: every call runs on the model at once."""

    def __init__(self, model: StoreModel, client: str) -> None:
        self.model = model
        self.client = client
        self._closed = False
        model.register(client)

    def _check(self) -> None:
        if self._closed:
            raise StoreUnavailable(f"{self.client}: store closed")
        self.model.check(self.client)

    async def get(self, key: str) -> KeyValue | None:
        self._check()
        return self.model.get(key, client=self.client)

    async def get_prefix(self, prefix: str) -> tuple[int, list[KeyValue]]:
        self._check()
        return self.model.get_prefix(prefix, client=self.client)

    async def put(self, key: str, value: bytes, lease: int = 0) -> int:
        self._check()
        return self.model.put(key, value, lease, client=self.client)

    async def delete(self, key: str, prefix: bool = False) -> int:
        self._check()
        return self.model.delete(key, prefix, client=self.client)

    async def txn(
        self,
        compares: Sequence[Compare],
        success: Sequence[TxnOp],
        failure: Sequence[TxnOp] = (),
    ) -> TxnResult:
        self._check()
        return self.model.txn(compares, success, failure, client=self.client)

    async def compact(self, revision: int) -> None:
        self._check()
        self.model.compact(revision)

    async def lease_grant(self, ttl: int) -> tuple[int, int]:
        self._check()
        return self.model.lease_grant(ttl, client=self.client)

    async def lease_keepalive(self, lease_id: int) -> int:
        self._check()
        return self.model.lease_keepalive(lease_id, client=self.client)

    async def lease_revoke(self, lease_id: int) -> None:
        self._check()
        self.model.lease_revoke(lease_id, client=self.client)

    async def lease_ttl(self, lease_id: int) -> int:
        """Remaining whole seconds of a lease (-1 when it is gone), as etcd says it."""
        self._check()
        remaining = self.model.lease_remaining(lease_id)
        return -1 if remaining is None else int(remaining)

    async def watch(
        self, prefix: str, start_revision: int
    ) -> AsyncGenerator[list[WatchEvent], None]:
        """One batch per revision, in order; start_revision <= 0 means from the next one.

        Raises Compacted when the next revision wanted is gone, StoreUnavailable when the
        client is cut off or the store closed.
        """
        self._check()
        wanted = start_revision if start_revision > 0 else self.model.revision + 1
        changed = asyncio.Event()
        unsubscribe = self.model.subscribe(changed.set)
        try:
            while True:
                changed.clear()
                self._check()
                events = self.model.watch_from(prefix, wanted, client=self.client)
                wanted = max(wanted, self.model.revision + 1)
                for batch in _by_revision(events):
                    yield batch
                if not changed.is_set():
                    await changed.wait()
        finally:
            unsubscribe()

    async def health(self) -> StoreHealth:
        if self.client in self.model.reachable and not self._closed:
            return StoreHealth(("sim",), (), "sim", self.model.revision, ("sim",))
        return StoreHealth((), ("sim",), None, 0)

    async def close(self) -> None:
        self._closed = True
        self.model.notify()


def _by_revision(events: list[WatchEvent]) -> list[list[WatchEvent]]:
    batches: list[list[WatchEvent]] = []
    for e in events:
        if batches and batches[-1][0].kv.mod_revision == e.kv.mod_revision:
            batches[-1].append(e)
        else:
            batches.append([e])
    return batches


