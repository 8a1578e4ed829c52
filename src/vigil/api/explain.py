"""`vigil explain RESOURCE`: for every node, the score and where each part came from,
and in plain words why the resource runs where it does (or cannot run anywhere).

RESOURCE may be a primitive, a group (explained through its first member, whose score
includes every member's preferences), a clone (every instance: where it goes, in which
role and why), or one clone instance (`db:1`). Pure: the scheduler's own placement
(the same computation the DC runs) on the snapshot the answering node holds.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from vigil.core.coordinator import cluster_state
from vigil.core.membership import MembershipView
from vigil.core.snapshot import Snapshot
from vigil.model.config import ClusterConfig
from vigil.model.state import ClusterState, RscState
from vigil.model.transition import Placement, Transition
from vigil.scheduler import format_score, schedule


def _key(config: ClusterConfig, t: Transition, rid: str) -> str:
    """The placement that answers for `rid`: a primitive inside a clone -> the clone."""
    if rid in t.placements:
        return rid
    for clone in config.clones:
        members = next((g.members for g in config.groups if g.id == clone.child), ())
        if rid == clone.child or rid in members:
            return clone.id
    raise KeyError(rid)


def _running(config: ClusterConfig, cs: ClusterState, p: Placement) -> list[str]:
    ids = set(p.instances) if p.instances else {p.resource}
    ids |= {i.partition(":")[0] for i in ids}  # anonymous clone instances run as the primitive
    return [n for n in config.node_names
            if any(cs.state_of(n, i) is RscState.STARTED for i in sorted(ids))]


def explain(config: ClusterConfig, snap: Snapshot, view: MembershipView, rid: str,
            now_wall: float) -> dict[str, Any]:
    cs = cluster_state(config, snap, view.nodes, now_wall)
    if not cs.node_attributes:
        cs = replace(cs, node_attributes=snap.attribute_values())
    t = schedule(config, cs)
    placement = t.placements[_key(config, t, rid)]
    running = _running(config, cs, placement)
    nodes = []
    for n in config.node_names:
        st = view.nodes[n]
        nodes.append({
            "node": n,
            "score": placement.scores.get(n, 0),
            "score_text": format_score(placement.scores.get(n, 0)),
            "can_host": st.can_host,
            "state": st.membership.value if not st.can_host else "online",
            "why_not_host": None if st.can_host else (
                "in standby" if st.standby else
                "shutting down" if st.shutting_down else
                "in maintenance" if st.maintenance else f"{st.membership.value}"),
            "parts": [{"score": s, "score_text": format_score(s), "why": why}
                      for s, why in placement.contributions.get(n, ())],
        })
    name = placement.resource
    reason = placement.reason.removeprefix(f"{name}: ")
    instances = [
        {"instance": i, "node": t.placements[i].node, "role": t.placements[i].role,
         "reason": t.placements[i].reason}
        for i in placement.instances
    ]
    if placement.instances and placement.node is None:
        summary = f"{name}: {reason}"
    elif placement.node is None:
        summary = f"{name} cannot run anywhere now: {reason}"
    elif running == [placement.node]:
        summary = f"{name} runs on {placement.node}: {reason}"
    else:
        summary = f"{name} should run on {placement.node}: {reason}"
    return {"resource": name, "target": placement.node, "running_on": running,
            "reason": placement.reason, "summary": summary, "nodes": nodes,
            "role": placement.role, "instances": instances}


def render_explain(doc: dict[str, Any]) -> str:
    lines = [doc["summary"], ""]
    if doc.get("instances"):
        lines.append("instances:")
        for i in doc["instances"]:
            role = f" ({i['role']})" if i["role"] else ""
            lines.append(f"  {i['instance']:<12} {i['node'] or 'stopped'}{role}")
            lines.append(f"      {i['reason']}")
        lines += ["", "scores of the first instance:" if doc["target"] is None
                  else "scores of the first member:"]
    for n in doc["nodes"]:
        mark = "*" if n["node"] == doc["target"] else " "
        head = f"{mark} {n['node']:<10} score {n['score_text']:>10}"
        if not n["can_host"]:
            head += f"   (cannot host: {n['why_not_host']})"
        lines.append(head)
        for p in n["parts"]:
            lines.append(f"      {p['score_text']:>10}  {p['why']}")
        if not n["parts"]:
            lines.append(f"      {'0':>10}  no constraint, stickiness or failure here")
    return "\n".join(lines)
