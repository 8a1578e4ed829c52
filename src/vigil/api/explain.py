"""`vigil explain RESOURCE`: for every node, the score and where each part came from,
and in plain words why the resource runs where it does (or cannot run anywhere).

Pure: the scheduler's own placement (the same computation the DC runs) on the snapshot
the answering node holds.
"""

from __future__ import annotations

from typing import Any

from vigil.core.coordinator import cluster_state
from vigil.core.membership import MembershipView
from vigil.core.snapshot import Snapshot
from vigil.model.config import ClusterConfig
from vigil.model.state import RscState
from vigil.scheduler import format_score, schedule


def explain(config: ClusterConfig, snap: Snapshot, view: MembershipView, rid: str,
            now_wall: float) -> dict[str, Any]:
    cs = cluster_state(config, snap, view.nodes, now_wall)
    placement = schedule(config, cs).placements[rid]
    running = [n for n in config.node_names if cs.state_of(n, rid) is RscState.STARTED]
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
                "shutting down" if st.shutting_down else f"{st.membership.value}"),
            "parts": [{"score": s, "score_text": format_score(s), "why": why}
                      for s, why in placement.contributions.get(n, ())],
        })
    reason = placement.reason.removeprefix(f"{rid}: ")
    if placement.node is None:
        summary = f"{rid} cannot run anywhere now: {reason}"
    elif running == [placement.node]:
        summary = f"{rid} runs on {placement.node}: {reason}"
    else:
        summary = f"{rid} should run on {placement.node}: {reason}"
    return {"resource": rid, "target": placement.node, "running_on": running,
            "reason": placement.reason, "summary": summary, "nodes": nodes}


def render_explain(doc: dict[str, Any]) -> str:
    lines = [doc["summary"], ""]
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
