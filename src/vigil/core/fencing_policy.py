"""When the DC fences a node (S4: fence before recovery), decided from one snapshot.

A node needs fencing when it may still run resources the cluster wants elsewhere and
cannot be told to stop them:
  - it lost its lease while resources were possibly active on it (unclean);
  - a stop failed there (the resource is blocked until the node is off);
  - every other online node's heartbeats suspect it (silent on all links), while it
    still holds a lease and runs resources — the fast path that does not wait for the
    lease to expire.
A node whose fencing is confirmed is off: its resources count as stopped at once.
A failed fencing is retried after a pause; it never counts as confirmation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from vigil.core.membership import possibly_active
from vigil.core.records import FenceRecord
from vigil.core.snapshot import Snapshot
from vigil.model.config import ClusterConfig
from vigil.model.state import Membership, NodeState, RscState
from vigil.store.base import Compare, Put, TxnOp
from vigil.store.keys import Keys

RETRY_AFTER = 5.0
"""Seconds (wall clock) between a failed fencing and the next attempt."""


@dataclass(frozen=True)
class FenceRequest:
    node: str
    reason: str


def fenced_nodes(snapshot: Snapshot) -> frozenset[str]:
    """Nodes whose fencing is confirmed and who have not joined since (a node deletes
    its fencing record when it joins again)."""
    return frozenset(n for n, r in snapshot.fencing.items() if r.state == "done")


def suspected_by_all(snapshot: Snapshot, node: str) -> list[str]:
    """The observers that suspect `node`, if every online observer except it does."""
    observers = [o for o in snapshot.suspects if o != node and o in snapshot.members]
    if not observers:
        return []
    if all(node in snapshot.suspects[o].suspected for o in observers):
        return sorted(observers)
    return []


def fence_requests(
    config: ClusterConfig,
    snapshot: Snapshot,
    nodes: dict[str, NodeState],
    now_wall: float,
    dc: str = "",
    scheduled: Mapping[str, str] | None = None,
) -> list[FenceRequest]:
    """Nodes to fence now. `scheduled`: node -> reason the scheduler gave (an operation
    with on_fail fence failed there); only those nodes are considered when given."""
    if not config.fencing.enabled:
        return []
    out: list[FenceRequest] = []
    for name, st in nodes.items():
        if not config.fencing.topology(name):
            continue  # nothing can fence it: the lease rule alone applies
        record = snapshot.fencing.get(name)
        if record is not None:
            if record.state == "done":
                continue
            # A fencing started by an earlier DC died with it: this DC starts again.
            if record.state == "running" and record.requested_by in ("", dc):
                continue
            if record.state == "failed" and now_wall - record.finished_at < RETRY_AFTER:
                continue
        if scheduled is not None:
            reason = scheduled.get(name, "") if st.membership is Membership.ONLINE else ""
        else:
            reason = _why(snapshot, name, st)
        if reason:
            out.append(FenceRequest(name, reason))
    return out


def _why(snapshot: Snapshot, node: str, st: NodeState) -> str:
    active = possibly_active(snapshot, node)
    if st.membership is Membership.UNCLEAN:
        return f"{node} lost its lease while {', '.join(active)} may still run there"
    if st.membership is not Membership.ONLINE:
        return ""
    failed = sorted(r for (n, r), s in snapshot.statuses.items()
                    if n == node and s.state is RscState.STOP_FAILED)
    if failed:
        return f"stop of {', '.join(failed)} failed on {node}"
    observers = suspected_by_all(snapshot, node)
    if observers and active:
        return (f"{node} is silent on every heartbeat link (suspected by "
                f"{', '.join(observers)}) while running {', '.join(active)}")
    return ""


def outcome_txn(keys: Keys, done: FenceRecord, running_revision: int,
                history_key: str) -> tuple[list[Compare], list[TxnOp], list[TxnOp]]:
    """How a fencer records an outcome: (compares, success ops, failure ops).

    The outcome replaces our own `running` record only while it is still there. A node
    that joined since deleted it: it is alive again whatever the device did, and a late
    `done` would make the cluster count a live node as off and recover its resources
    elsewhere (S1; found by the simulator, seed 4693). The history entry is written
    either way; only a recorded `done` may be followed by revoking the node's lease."""
    key = keys.fencing(done.node)
    entry = Put(history_key, done.to_json())
    return ([Compare(key, "mod", "=", running_revision)],
            [Put(key, done.to_json()), entry], [entry])


def deputy_request(config: ClusterConfig, snapshot: Snapshot, me: str) -> FenceRequest | None:
    """When the DC itself goes silent, nobody may decide until its lease expires — unless
    the DC is fenced. The first (by name) of the online nodes that all suspect
    the DC fences it; a confirmed fencing revokes the DC's lease and a new DC is elected
    at once. In a two-node cluster the deputy is the only observer, so it waits (the
    shell's delay) to let a living DC win the fence race."""
    if not config.fencing.enabled or snapshot.dc is None:
        return None
    dc = snapshot.dc.record.node
    if dc == me or dc not in snapshot.members or not config.fencing.topology(dc):
        return None
    record = snapshot.fencing.get(dc)
    if record is not None and record.state in ("running", "done"):
        return None
    observers = suspected_by_all(snapshot, dc)
    if not observers or observers[0] != me:
        return None
    return FenceRequest(dc, f"the DC {dc} is silent on every heartbeat link (suspected by "
                        f"{', '.join(observers)}); fenced by {me} so a new DC can take over")
