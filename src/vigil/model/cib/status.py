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
from typing import NamedTuple

from vigil.model.cib.xml_tree import Note, children, is_true, nvpairs, parse_score, path_of
from vigil.model.config import INFINITY, ClusterConfig
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


class _Op(NamedTuple):
    # A NamedTuple: a large CIB's status holds hundreds of thousands of these.
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


class _Resources:
    """What reading the history needs to know about the imported primitives."""

    def __init__(self, config: ClusterConfig) -> None:
        self.timeout = {r.id: r.meta.failure_timeout for r in config.resources}
        self.unmanaged = {r.id for r in config.resources if config.maintenance_mode
                          or not r.meta.is_managed or r.meta.maintenance}
        groups = {g.id: g.members for g in config.groups}
        self.unique: set[str] = set()
        self.anonymous: set[str] = set()
        for c in config.clones:
            members = groups.get(c.child, (c.child,))
            (self.unique if c.unique else self.anonymous).update(members)

    def key(self, rid: str) -> str | None:
        """The state key of a history entry: the primitive id, or `<primitive>:<n>` for an
        instance of a unique clone; None: not an imported primitive. (Anonymous instances
        are recorded under the primitive id; an instance suffix is dropped, as Pacemaker
        does.)"""
        if rid in self.timeout:
            return rid
        base, _, number = rid.rpartition(":")
        if not number.isdigit() or base not in self.timeout:
            return None
        return rid if base in self.unique else base


def read_status(root: ET.Element, node_ids: Mapping[str, str], node_order: Sequence[str],
                node_attributes: Mapping[str, Mapping[str, str]], config: ClusterConfig,
                stonith_enabled: bool, now: float) -> tuple[ClusterState, list[Note]]:
    notes: list[Note] = []
    rscs = _Resources(config)
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
        # Pacemaker's controller sets `shutdown` (a timestamp, "0" when not) on a node
        # that is stopping cleanly: its resources move away.
        shutdown = transient.get("shutdown", "0") not in ("", "0")
        nodes[name] = NodeState(name, membership, standby=standby, maintenance=maintenance,
                                shutting_down=shutdown and membership is Membership.ONLINE)
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
            key = rscs.key(rid)
            if key is None:
                if lrm_rsc.get("class") != "stonith":
                    rpath = f"{path}/lrm/lrm_resources/lrm_resource[@id='{rid}']"
                    notes.append(Note(rpath, f"history of {rid!r}, which was not imported; "
                                      "left out"))
                continue
            history = [el for el in lrm_rsc if el.tag == "lrm_rsc_op"]
            if len(history) == 1 and _probed_stopped(history[0]):
                # Most of a large CIB's history: one probe that found it not running.
                last_change = float(history[0].get("last-rc-change", "0") or 0)
                states[(name, key)] = ResourceStatus(name, key, RscState.STOPPED, "monitor",
                                                     _OCF_NOT_RUNNING, last_change)
                continue
            ops = [o for o in map(_op, history) if o]
            rpath = f"{path}/lrm/lrm_resources/lrm_resource[@id='{rid}']"
            primitive = key.partition(":")[0]
            timeout = rscs.timeout.get(primitive, 0.0)
            if timeout > 0:
                # An expired failure is forgotten, as Pacemaker does: the resource is
                # read as the operations before it left it.
                expired = [o for o in ops if not o.ok and o.last_change
                           and now - o.last_change >= timeout]
                for o in expired:
                    notes.append(Note(rpath, f"failed {o.task} (rc {o.rc}) is older than "
                                      f"failure-timeout: ignored, as Pacemaker does"))
                ops = [o for o in ops if o not in expired]
            st = _resource_state(name, key, ops, primitive in rscs.unmanaged)
            if st is not None:
                states[(name, key)] = st
        for (rid, count, last, op) in _fail_counts(transient, rscs):
            timeout = rscs.timeout.get(rid.partition(":")[0], 0.0)
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


def _probed_stopped(el: ET.Element) -> bool:
    """A finished probe that found the resource not running, as expected (so never a
    failure): what `_resource_state` reads as STOPPED."""
    get = el.get
    return (get("operation") == "monitor" and get("interval", "0") == "0"
            and get("rc-code") == "7" and get("op-status", "0") == "0"
            and get("transition-key", "").split(":")[2:3] == ["7"])


def _op(el: ET.Element) -> _Op | None:
    get = el.get
    try:
        parts = get("transition-key", "").split(":")
        return _Op(get("operation", ""), int(get("interval", "0")), int(get("call-id", "0")),
                   int(get("rc-code", "0")), int(parts[2]) if len(parts) >= 3 else 0,
                   int(get("op-status", "0")), float(get("last-rc-change", "0") or 0),
                   get("exit-reason", ""))
    except ValueError:
        return None


def _resource_state(node: str, key: str, ops: list[_Op],
                    unmanaged: bool) -> ResourceStatus | None:
    """The state the history leaves the resource in. A failure while it was promoted (or
    of the promoted monitor) is recorded with rc 9, "failed promoted", as vigil's state
    says it. A monitor that finds an unmanaged resource not running means it is stopped,
    not failed, as Pacemaker reads it."""
    if not ops:
        return None
    ops.sort(key=lambda o: o.call_id)
    state = RscState.STOPPED
    promoted = failed_promoted = False
    last = ops[-1]
    for op in ops:
        if op.op_status == 1:  # pending: not yet finished
            continue
        if op.task in ("start", "promote", "demote", "migrate_from"):
            failed_promoted = promoted and not op.ok
            state = RscState.STARTED if op.ok else RscState.FAILED
            promoted = op.ok and op.task == "promote"
        elif op.task in ("stop", "migrate_to"):
            if op.ok:
                state = RscState.STOPPED
                promoted = False
            elif op.task == "stop":
                state = RscState.STOP_FAILED
        elif op.task == "monitor":
            if op.rc == _OCF_NOT_RUNNING and (op.interval == 0 or unmanaged):
                state = RscState.STOPPED if state is not RscState.STOP_FAILED else state
                promoted = False
            elif op.ok or op.rc in (0, _OCF_RUNNING_PROMOTED):
                if op.interval == 0 or state is RscState.STARTED:
                    state = RscState.STARTED
                    promoted = op.rc == _OCF_RUNNING_PROMOTED
            elif state is not RscState.STOP_FAILED:
                failed_promoted = promoted or op.expected == _OCF_RUNNING_PROMOTED
                state = RscState.FAILED
    rc = last.rc
    if state is RscState.FAILED and failed_promoted:
        rc = _OCF_FAILED_PROMOTED
    return ResourceStatus(node, key, state, last.task, rc, last.last_change)


def _fail_counts(transient: Mapping[str, str],
                 rscs: _Resources) -> list[tuple[str, int, float, str]]:
    """(state key, count, last failure, op) from fail-count-<rsc>#<op> attributes."""
    counts: dict[str, int] = {}
    last: dict[str, float] = {}
    ops: dict[str, str] = {}
    for name, value in transient.items():
        for prefix, is_count in (("fail-count-", True), ("last-failure-", False)):
            if not name.startswith(prefix):
                continue
            rest = name[len(prefix):]
            rsc, _, op = rest.partition("#")
            rid = rscs.key(rsc)
            if rid is None:
                continue
            if is_count:
                score = parse_score(value) or 0
                counts[rid] = min(INFINITY, counts.get(rid, 0) + score)
                ops.setdefault(rid, op)
            else:
                last[rid] = max(last.get(rid, 0.0), float(value or 0))
    return [(rid, c, last.get(rid, 0.0), ops.get(rid, "")) for rid, c in counts.items() if c > 0]
