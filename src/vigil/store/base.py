"""The store interface every backend implements (etcd today; the simulator's model).

Semantics, by how critical they are:

Atomic, never retried blindly (the caller decides; a timeout means "unknown outcome"):
  - `txn`: compares on one revision, then success or failure ops, all or nothing.
  - `create`: put only if the key does not exist (create_revision == 0).
  - `cas`: put only if the key's mod_revision is unchanged.
Idempotent reads, safe to retry on another endpoint:
  - `get`, `get_prefix` (one consistent revision for the whole prefix).
Leases: `lease_grant`, `lease_keepalive` (returns remaining TTL; raises LeaseLost when
  the store no longer knows the lease), `lease_revoke` (deleting every key attached).
Watches: `watch(prefix, start_revision)` yields batches in revision order; it raises
  `Compacted` when start_revision is gone and `StoreUnavailable` on any break: the caller
  then re-reads with `get_prefix` and watches again from that revision + 1.
Every call has a deadline (the backend's request timeout) and raises `StoreUnavailable`
when no endpoint answered within it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Literal


class StoreError(Exception):
    """Base of every store failure."""


class StoreUnavailable(StoreError):
    """No endpoint answered in time (no quorum, network cut, store down)."""


class OutcomeUnknown(StoreUnavailable):
    """A write may have reached the store: it may or may not have been applied (even
    later, e.g. from a hung member's socket buffer)."""


class LeaseLost(StoreError):
    """The lease expired or was revoked: keys attached to it are gone."""


class Compacted(StoreError):
    """A watch asked for a revision the store has compacted away."""

    def __init__(self, compact_revision: int) -> None:
        super().__init__(f"revision compacted (oldest available {compact_revision})")
        self.compact_revision = compact_revision


@dataclass(frozen=True)
class KeyValue:
    key: str
    value: bytes
    create_revision: int = 0
    mod_revision: int = 0
    version: int = 0
    lease: int = 0


@dataclass(frozen=True)
class WatchEvent:
    type: Literal["put", "delete"]
    kv: KeyValue
    """For a delete, `value` is empty and `mod_revision` is the deletion's revision."""


@dataclass(frozen=True)
class Compare:
    key: str
    target: Literal["create", "mod", "version", "value", "lease"]
    op: Literal["=", "!=", "<", ">"]
    value: int | bytes


@dataclass(frozen=True)
class Put:
    key: str
    value: bytes
    lease: int = 0


@dataclass(frozen=True)
class Delete:
    key: str
    prefix: bool = False


TxnOp = Put | Delete


@dataclass(frozen=True)
class TxnResult:
    succeeded: bool
    revision: int


@dataclass(frozen=True)
class StoreHealth:
    reachable_endpoints: tuple[str, ...]
    unreachable_endpoints: tuple[str, ...]
    leader: str | None
    """Name of the etcd leader member, when known."""
    revision: int
    members: tuple[str, ...] = ()


class Store(ABC):
    @abstractmethod
    async def get(self, key: str) -> KeyValue | None: ...

    @abstractmethod
    async def get_prefix(self, prefix: str) -> tuple[int, list[KeyValue]]:
        """All keys under prefix, read at one revision (returned with them)."""

    @abstractmethod
    async def put(self, key: str, value: bytes, lease: int = 0) -> int:
        """Unconditional put; returns the new revision."""

    @abstractmethod
    async def delete(self, key: str, prefix: bool = False) -> int: ...

    @abstractmethod
    async def txn(
        self,
        compares: Sequence[Compare],
        success: Sequence[TxnOp],
        failure: Sequence[TxnOp] = (),
    ) -> TxnResult: ...

    async def create(self, key: str, value: bytes, lease: int = 0) -> bool:
        res = await self.txn([Compare(key, "create", "=", 0)], [Put(key, value, lease)])
        return res.succeeded

    async def cas(self, key: str, value: bytes, mod_revision: int, lease: int = 0) -> bool:
        res = await self.txn([Compare(key, "mod", "=", mod_revision)], [Put(key, value, lease)])
        return res.succeeded

    @abstractmethod
    async def lease_grant(self, ttl: int) -> tuple[int, int]:
        """Returns (lease id, TTL the store granted)."""

    @abstractmethod
    async def lease_keepalive(self, lease_id: int) -> int:
        """Returns the remaining TTL; raises LeaseLost if the lease is gone."""

    @abstractmethod
    async def lease_revoke(self, lease_id: int) -> None: ...

    @abstractmethod
    def watch(self, prefix: str, start_revision: int) -> AsyncIterator[list[WatchEvent]]: ...

    @abstractmethod
    async def health(self) -> StoreHealth: ...

    @abstractmethod
    async def close(self) -> None: ...
