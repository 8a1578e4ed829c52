"""The status document (`GET /v1/status`, `vigil status --json`): pure, from a snapshot."""

from __future__ import annotations

from typing import Any

from vigil.core.coordinator import progress
from vigil.core.membership import MembershipView
from vigil.core.snapshot import Snapshot
from vigil.model.config import ClusterConfig
from vigil.model.state import Membership, RscState


def node_label(view: MembershipView, name: str, snap: Snapshot | None = None) -> str:
    st = view.nodes[name]
    record = snap.fencing.get(name) if snap is not None else None
    if record is not None and record.state == "running":
        return "being-fenced"
    if st.membership is Membership.OFFLINE and record is not None and record.state == "done":
        return "fenced"
    if st.membership is not Membership.ONLINE:
        return str(st.membership.value)
    if st.shutting_down:
        return "shutting-down"
    return "standby" if st.standby else "online"


def status_document(config: ClusterConfig, snap: Snapshot, view: MembershipView,
                    answering: str, store: dict[str, Any]) -> dict[str, Any]:
    nodes = []
    for n in config.nodes:
        member = snap.members.get(n.name)
        if n.role == "witness":
            nodes.append({"name": n.name, "address": n.address, "state": "witness", "dc": False,
                          "api_url": None, "agent_pid": None, "role": "witness"})
            continue
        nodes.append({
            "name": n.name, "address": n.address, "state": node_label(view, n.name, snap),
            "role": n.role,
            "dc": snap.dc is not None and snap.dc.record.node == n.name,
            "api_url": n.api_url,
            "agent_pid": member.record.pid if member else None,
        })
    resources = []
    for r in config.resources:
        on = [n for n in config.node_names
              if snap.statuses.get((n, r.id)) is not None
              and snap.statuses[(n, r.id)].state is not RscState.STOPPED
              and view.nodes[n].membership is not Membership.OFFLINE]
        states = {n: snap.statuses[(n, r.id)].state.value for n in on}
        fails = {n: f.count for (n, rid), f in snap.failures.items() if rid == r.id}
        last = max((f for (n, rid), f in snap.failures.items() if rid == r.id),
                   key=lambda f: f.last_failure, default=None)
        role = snap.target_roles.get(r.id, r.meta.target_role)
        if not on:
            state = "stopped"
        elif all(s == "started" for s in states.values()):
            state = "started" if len(on) == 1 else "multiple-active"
        else:
            state = next(s for s in states.values() if s != "started")
        resources.append({
            "id": r.id, "agent": r.agent, "state": state,
            "node": on[0] if len(on) == 1 else None, "nodes": on, "target_role": role,
            "fail_counts": fails,
            "last_failure": None if last is None else {
                "node": last.node, "op": last.op, "rc": last.rc, "reason": last.reason,
                "time": last.last_failure},
            "constraints": [c.id for c in snap.runtime_locations if c.resource == r.id],
        })
    transition = None
    if snap.transition is not None:
        t = snap.transition
        p = progress(t, snap, view.nodes)
        transition = {"id": t.id, "actions": len(t.actions), "done": p.done,
                      "failed": p.failed, "running": p.running, "pending": p.pending,
                      "aborted": t.aborted, "complete": p.finished}
    online = sum(1 for n in view.nodes.values() if n.membership is Membership.ONLINE)
    return {
        "cluster": config.name,
        "answered_by": answering,
        "revision": snap.revision,
        "config_version": snap.config.version if snap.config else None,
        "dc": snap.dc.record.node if snap.dc else None,
        "store": store,
        "nodes_online": online,
        "nodes": nodes,
        "resources": resources,
        "transition": transition,
        "fencing": {
            "devices": [d.id for d in config.fencing.devices],
            "self_fencing_only": not config.fencing.enabled,
            "unfenceable": [n for n in config.node_names if not config.fencing.topology(n)],
            "nodes": {n: r.state for n, r in snap.fencing.items()},
        },
        "problems": list(snap.problems),
    }
