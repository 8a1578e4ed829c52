"""Invariant observers: S1-S5 checked as the world changes, L1 at the end of a run.

They read ground truth (which machine really runs what, which store writes were
accepted from whom, the store's own lease clock), never what the cluster believes.

- S1: a start never begins while the resource is active (running, starting or
  stopping) on another node. Nothing else makes a resource active, so checking every
  start is checking after every step.
- S2: when the store expires a node's lease, nothing runs on that node (unless its
  config says no_quorum_policy freeze, which keeps resources on purpose); and no start
  begins on a node with less than lease_margin of its lease left in the store.
- S3: a transition, or a fencing request (`running` record), is accepted by the store
  only from the node that holds the election key on its current lease — or, for a
  deputy fencing the DC itself, from a member fencing exactly the DC.
- S4: a start of R on B begins only when every other node whose store status says R
  may be active there is confirmed fenced, or lost its lease at least
  self_fence_timeout ago. (Exempt: a status a rejoined node wrote at its join probe
  for an action its previous life was running, when that machine's processes were all
  killed — fenced or watchdog — after R last began starting there.)
- S5: the stored config is always a valid one; a broken push changes nothing.
- L1: after faults stop, the cluster settles within the bound: the scheduler has
  nothing left to do and every placed resource runs exactly where it is placed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from vigil.core import records as rec
from vigil.core.coordinator import cluster_state
from vigil.core.fencing_policy import fenced_nodes
from vigil.core.membership import ACTIVE_STATES, node_states
from vigil.model.load import ConfigInvalid, load_config_text
from vigil.scheduler import schedule
from vigil.sim.clock import VirtualClock
from vigil.sim.store_model import StoreModel
from vigil.store.base import Compare, Put, TxnOp, TxnResult

if TYPE_CHECKING:
    from collections.abc import Sequence

    from vigil.sim.world import World


@dataclass(frozen=True)
class Violation:
    rule: str
    at: float
    message: str

    def describe(self) -> str:
        return f"{self.rule} at {self.at:.3f}s: {self.message}"


class ObservedStore(StoreModel):
    """The etcd model with the S2/S3/S5 observers and the bookkeeping S4 needs."""

    def __init__(self, clock: VirtualClock, world: World, seed: int) -> None:
        super().__init__(clock, seed=seed)
        self.world = world

    def txn(self, compares: Sequence[Compare], success: Sequence[TxnOp],
            failure: Sequence[TxnOp] = (), *, client: str | None = None) -> TxnResult:
        keys = self.world.keys
        watched = [op for op in success if isinstance(op, Put) and (
            op.key == keys.transition or op.key == keys.config
            or (op.key.startswith(keys.root + "fencing/") and b'"running"' in op.value))]
        dc_before = self.get(keys.dc) if watched else None
        res = super().txn(compares, success, failure, client=client)
        if res.succeeded and watched:
            for op in watched:
                self._check_write(op, client, dc_before)
        return res

    def _check_write(self, op: Put, client: str | None, dc_before: object) -> None:
        w, keys = self.world, self.world.keys
        if op.key == keys.config:
            try:
                load_config_text(rec.ConfigRecord.from_json(op.value).source, "stored")
            except (ConfigInvalid, ValueError, KeyError) as e:
                w.violation("S5", f"an invalid config was stored by {client}: {e}")
            return
        what = "transition" if op.key == keys.transition else f"fencing request {op.key}"
        from vigil.store.base import KeyValue
        dc = dc_before if isinstance(dc_before, KeyValue) else None
        holder = rec.DcRecord.from_json(dc.value) if dc is not None else None
        member = self.get(keys.member(client)) if client else None
        lease_ok = member is not None and dc is not None and dc.lease == member.lease
        if holder is not None and holder.node == client and lease_ok:
            return
        if op.key != keys.transition and holder is not None and member is not None:
            target = rec.FenceRecord.from_json(op.value)
            if target.node == holder.node and target.requested_by == client:
                return  # a deputy fencing the silent DC
        w.violation("S3", f"{what} accepted from {client}, but the DC key is held by "
                    f"{holder.node if holder else 'nobody'}"
                    + ("" if lease_ok else " (not on the writer's current lease)"))

    def _expiry_check(self) -> None:
        now = self.clock.now()
        for lease in sorted(self.leases.values(), key=lambda le: le.id):
            if lease.expiry <= now:
                self.world.lease_expired(lease.id)
        super()._expiry_check()

    def _delete(self, key: str, rev: int) -> object:  # type: ignore[override]
        if key.startswith(self.world.members_prefix):
            self.world.lease_gone_at[key[len(self.world.members_prefix):]] = self.clock.now()
        return super()._delete(key, rev)


def check_start(w: World, node: str, rid: str) -> None:
    """S1, S2 and S4, when a start of `rid` begins on `node`."""
    others = [n for n in w.rsc.active_nodes(rid, w.scenario.nodes) if n != node]
    if others:
        w.violation("S1", f"{rid} starts on {node} while active on {', '.join(others)}")
    snap = w.snapshot()
    margin = w.current_config().timings.lease_margin
    member = snap.members.get(node)
    left = w.model.lease_remaining(member.record.lease) if member is not None else None
    if left is None or left < margin - 0.01:
        w.violation("S2", f"{rid} starts on {node} with "
                    + ("no lease" if left is None else f"{left:.3f}s of its lease left")
                    + f" in the store (margin {margin:g}s)")
    fenced = fenced_nodes(snap)
    sft = w.current_config().timings.self_fence_timeout
    for (n, r), st in sorted(snap.statuses.items()):
        if r != rid or n == node or st.state not in ACTIVE_STATES:
            continue
        if n in fenced:
            continue
        if st.last_op == "probe" and w.rsc.killed_since_start(n, rid):
            # A rejoined node reports an action its previous life was running as
            # possibly active; its machine was killed since, so nothing runs it.
            continue
        if n not in snap.members:
            gone = w.lease_gone_at.get(n)
            if gone is not None and w.clock.now() - gone >= sft - 0.01:
                continue
            w.violation("S4", f"{rid} starts on {node} while {n} (no lease for "
                        f"{w.clock.now() - gone if gone is not None else 0:.2f}s, "
                        f"self-fence timeout {sft:g}s, not fenced) may still run it")
        else:
            w.violation("S4", f"{rid} starts on {node} while {n}, online, reports it "
                        f"{st.state.value}")


def check_converged(w: World) -> str | None:
    """L1: None when settled, else what is still wrong."""
    snap = w.snapshot()
    cfg = w.current_config()
    missing = [n for n in w.scenario.nodes if n not in snap.members]
    if missing:
        return f"nodes without a lease: {', '.join(missing)}"
    view = node_states(cfg, snap, {}, frozenset(), 0.0, fenced_nodes(snap))
    cs = cluster_state(cfg, snap, view.nodes, w.wall())
    t = schedule(cfg, cs)
    if not t.empty:
        return f"the scheduler still has {len(t.actions)} action(s) to do"
    if snap.dc is None:
        return "no coordinator"
    for rid, p in sorted(t.placements.items()):
        where = w.rsc.active_nodes(rid, w.scenario.nodes)
        if p.node is not None and where != [p.node]:
            return f"{rid} is placed on {p.node} but runs on {where or 'no node'}"
    return None
