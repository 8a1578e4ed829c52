"""A CIB's status section as a vigil `ClusterState`.

Node states follow Pacemaker's reading of `node_state`: a node is online when it is in
the membership (`in_ccm`), its controller is online and it has joined (`join=member`).
A node that is not online is cleanly offline when it was expected down (or fencing is
disabled: Pacemaker then assumes nodes it cannot see are down); otherwise, and for
configured nodes with no `node_state` while fencing is enabled (startup-fencing), it is
unclean. Standby comes from the node's permanent or transient `standby` attribute.

Each resource's state on a node comes from its operation history (`lrm_rsc_op`), newest
call last: a successful start or a probe/monitor that found it running means started, a
successful stop or a probe that found it not running means stopped; a failed start or
recurring monitor means FAILED, a failed stop STOP_FAILED. Fail counts come from the
node's transient `fail-count-<rsc>#<op>_<interval>` attributes (and `last-failure-*`).

Internal to the CIB importer (`vigil.model.cib`).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from vigil.model.cib.xml_tree import Note, children, is_true, nvpairs, parse_score, path_of
from vigil.model.config import INFINITY
from vigil.model.state import (
    ClusterState,
    FailCount,
    Membership,
    NodeState,
    ResourceStatus,
    RscState,
)

_STATUS = "/cib/status"
_OCF_NOT_RUNNING = 7
_OCF_RUNNING_PROMOTED = 8
_OCF_FAILED_PROMOTED = 9


@dataclass(frozen=True)
class _Op:
    task: str
    interval: int
    call_id: int
    rc: int
    expected: int
    op_status: int
    last_change: float
    exit_reason: str

    @property
    def ok(self) -> bool:
        return self.op_status == 0 and self.rc == self.expected


def read_status(root: ET.Element, node_ids: Mapping[str, str], node_order: Sequence[str],
                node_attributes: Mapping[str, Mapping[str, str]],
                failure_timeouts: Mapping[str, float], stonith_enabled: bool,
                now: float) -> tuple[ClusterState, list[Note]]:
    """`failure_timeouts`: every imported primitive -> its failure-timeout (0: none)."""
    notes: list[Note] = []
    status = root.find("status")
    seen: dict[str, ET.Element] = {}
    for el in children(status, "node_state"):
        name = el.get("uname") or node_ids.get(el.get("id", ""), el.get("id", ""))
        if name not in node_order:
            notes.append(Note(path_of(_STATUS, el), f"status of {name!r}, which is not a "
                              "configured node; left out"))
            continue
        seen[name] = el
    nodes: dict[str, NodeState] = {}
    states: dict[tuple[str, str], ResourceStatus] = {}
    failures: dict[tuple[str, str], FailCount] = {}
    attributes: dict[str, dict[str, str]] = {}
    known = set(failure_timeouts)
    for name in node_order:
        ns = seen.get(name)
        transient: dict[str, str] = {}
        if ns is not None:
            path = path_of(_STATUS, ns)
            for ta in children(ns, "transient_attributes"):
                transient.update(nvpairs(ta, "instance_attributes", path_of(path, ta), notes))
        permanent = node_attributes.get(name, {})
        standby = is_true(transient.get("standby", permanent.get("standby")))
        maintenance = is_true(transient.get("maintenance", permanent.get("maintenance")))
        membership = _membership(ns, stonith_enabled)
        nodes[name] = NodeState(name, membership, standby=standby, maintenance=maintenance)
        # Transient attributes (promotion scores master-<rsc>, pingd, ...) for rules.
        kept = {k: v for k, v in transient.items()
                if k not in ("standby", "maintenance", "shutdown", "terminate")
                and not k.startswith(("fail-count-", "last-failure-", "probe_complete"))}
        if kept:
            attributes[name] = kept
        if ns is None:
            continue
        path = path_of(_STATUS, ns)
        for lrm_rsc in ns.iterfind("lrm/lrm_resources/lrm_resource"):
            rid = lrm_rsc.get("id", "")
            rpath = f"{path}/lrm/lrm_resources/lrm_resource[@id='{rid}']"
            if rid not in known:
                if lrm_rsc.get("class") != "stonith":
                    notes.append(Note(rpath, f"history of {rid!r}, which was not imported; "
                                      "left out"))
                continue
            ops = [o for o in (_op(el) for el in children(lrm_rsc, "lrm_rsc_op")) if o]
            timeout = failure_timeouts.get(rid, 0.0)
            if timeout > 0:
                # An expired failure is forgotten, as Pacemaker does: the resource is
                # read as the operations before it left it.
                expired = [o for o in ops if not o.ok and o.last_change
                           and now - o.last_change >= timeout]
                for o in expired:
                    notes.append(Note(rpath, f"failed {o.task} (rc {o.rc}) is older than "
                                      f"failure-timeout: ignored, as Pacemaker does"))
                ops = [o for o in ops if o not in expired]
            st = _resource_state(name, rid, ops, rpath, notes)
            if st is not None:
                states[(name, rid)] = st
        for (rid, count, last, op) in _fail_counts(transient, known):
            timeout = failure_timeouts.get(rid, 0.0)
            if timeout > 0 and last and now - last >= timeout:
                continue  # expired: Pacemaker clears it
            failures[(name, rid)] = FailCount(name, rid, count, last or now, op)
    state = ClusterState(now=now, nodes=nodes, resources=states, failures=failures,
                         node_attributes=attributes)
    return state, notes


def _membership(ns: ET.Element | None, stonith_enabled: bool) -> Membership:
    if ns is None:
        # Never seen: Pacemaker fences it at startup when fencing is enabled.
        return Membership.UNCLEAN if stonith_enabled else Membership.OFFLINE
    in_ccm = (ns.get("in_ccm") or "false").lower() not in ("false", "0", "no")
    crmd_online = (ns.get("crmd") or "offline").lower() not in ("offline", "0", "false")
    join = ns.get("join", "down")
    expected = ns.get("expected", "down")
    if in_ccm and crmd_online and join == "member":
        return Membership.ONLINE
    if not stonith_enabled:
        return Membership.OFFLINE
    if not in_ccm and expected == "down":
        return Membership.OFFLINE
    if not in_ccm and join == "down" and not crmd_online:
        # Left as expected only if it said so; a member that vanished is unclean.
        return Membership.UNCLEAN if expected == "member" else Membership.OFFLINE
    return Membership.UNCLEAN


def _op(el: ET.Element) -> _Op | None:
    try:
        key = el.get("transition-key", "")
        parts = key.split(":")
        expected = int(parts[2]) if len(parts) >= 3 else 0
        return _Op(
            task=el.get("operation", ""),
            interval=int(el.get("interval", "0")),
            call_id=int(el.get("call-id", "0")),
            rc=int(el.get("rc-code", "0")),
            expected=expected,
            op_status=int(el.get("op-status", "0")),
            last_change=float(el.get("last-rc-change", "0") or 0),
            exit_reason=el.get("exit-reason", ""),
        )
    except ValueError:
        return None


def _resource_state(node: str, rid: str, ops: list[_Op], path: str,
                    notes: list[Note]) -> ResourceStatus | None:
    if not ops:
        return None
    ops.sort(key=lambda o: o.call_id)
    state = RscState.STOPPED
    last = ops[-1]
    for op in ops:
        if op.op_status == 1:  # pending: not yet finished
            continue
        if op.task in ("start", "promote", "demote", "migrate_from"):
            state = RscState.STARTED if op.ok else RscState.FAILED
        elif op.task in ("stop", "migrate_to"):
            if op.ok:
                state = RscState.STOPPED
            elif op.task == "stop":
                state = RscState.STOP_FAILED
        elif op.task == "monitor":
            if op.rc == _OCF_NOT_RUNNING and op.interval == 0:
                state = RscState.STOPPED if state is not RscState.STOP_FAILED else state
            elif op.ok or op.rc in (0, _OCF_RUNNING_PROMOTED):
                if op.interval == 0 or state is RscState.STARTED:
                    state = RscState.STARTED
            else:
                state = RscState.FAILED if state is not RscState.STOP_FAILED else state
    return ResourceStatus(node, rid, state, last.task, last.rc, last.last_change)


def _fail_counts(transient: Mapping[str, str],
                 known: set[str]) -> list[tuple[str, int, float, str]]:
    counts: dict[str, int] = {}
    last: dict[str, float] = {}
    ops: dict[str, str] = {}
    for name, value in transient.items():
        for prefix, is_count in (("fail-count-", True), ("last-failure-", False)):
            if not name.startswith(prefix):
                continue
            rest = name[len(prefix):]
            rid, _, op = rest.partition("#")
            if rid not in known:
                continue
            if is_count:
                score = parse_score(value) or 0
                counts[rid] = min(INFINITY, counts.get(rid, 0) + score)
                ops.setdefault(rid, op)
            else:
                last[rid] = max(last.get(rid, 0.0), float(value or 0))
    return [(rid, c, last.get(rid, 0.0), ops.get(rid, "")) for rid, c in counts.items() if c > 0]
