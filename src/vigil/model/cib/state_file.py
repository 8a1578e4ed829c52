"""A `ClusterState` as JSON (the `--state` file of `vigil import cib` and `vigil simulate`).

    {"now": 1800000000.0,
     "nodes": {"n1": {"membership": "online", "standby": false, ...}},
     "resources": [{"node": "n1", "resource": "web", "state": "started",
                    "last_op": "start", "last_rc": 0, "since": 0.0}],
     "failures": [{"node": "n1", "resource": "web", "count": 1, "last_failure": 0.0,
                   "op": "monitor_10000", "rc": 7, "reason": ""}],
     "target_roles": {"web": "Stopped"},
     "node_attributes": {"n1": {"pingd": "100"}}}
"""

from __future__ import annotations

import json
from typing import Any

from vigil.model.state import (
    ClusterState,
    FailCount,
    Membership,
    NodeState,
    ResourceStatus,
    RscState,
)


def state_to_doc(state: ClusterState) -> dict[str, Any]:
    return {
        "now": state.now,
        "nodes": {n: {"membership": s.membership.value, "standby": s.standby,
                      "shutting_down": s.shutting_down, "maintenance": s.maintenance,
                      "pending": s.pending} for n, s in state.nodes.items()},
        "resources": [{"node": s.node, "resource": s.resource, "state": s.state.value,
                       "last_op": s.last_op, "last_rc": s.last_rc, "since": s.since}
                      for s in state.resources.values()],
        "failures": [{"node": f.node, "resource": f.resource, "count": f.count,
                      "last_failure": f.last_failure, "op": f.op, "rc": f.rc,
                      "reason": f.reason} for f in state.failures.values()],
        "target_roles": dict(state.target_roles),
        "node_attributes": {n: dict(a) for n, a in state.node_attributes.items()},
    }


def state_to_json(state: ClusterState) -> str:
    """`state_to_doc` as JSON text with one resource (or failure) per line: readable and
    diffable, and written by json's C encoder (an indented dump of a large cluster's
    320,000 entries takes seconds)."""
    parts = []
    for key, value in state_to_doc(state).items():
        if isinstance(value, list) and value:
            body = ",\n  ".join(json.dumps(item) for item in value)
            parts.append(f" {json.dumps(key)}: [\n  {body}\n ]")
        else:
            parts.append(f" {json.dumps(key)}: {json.dumps(value)}")
    return "{\n" + ",\n".join(parts) + "\n}\n"


def state_from_doc(doc: dict[str, Any], where: str = "<state>") -> ClusterState:
    """Raises ValueError naming the file and the entry when the document is malformed."""
    try:
        nodes = {n: NodeState(n, Membership(v["membership"]), bool(v.get("standby")),
                              bool(v.get("shutting_down")), bool(v.get("maintenance")),
                              bool(v.get("pending")))
                 for n, v in doc.get("nodes", {}).items()}
        resources = {}
        for r in doc.get("resources", []):
            st = ResourceStatus(r["node"], r["resource"], RscState(r["state"]),
                                r.get("last_op", ""), int(r.get("last_rc", 0)),
                                float(r.get("since", 0.0)))
            resources[(st.node, st.resource)] = st
        failures = {}
        for f in doc.get("failures", []):
            fc = FailCount(f["node"], f["resource"], int(f["count"]),
                           float(f.get("last_failure", 0.0)), f.get("op", ""),
                           int(f.get("rc", 0)), f.get("reason", ""))
            failures[(fc.node, fc.resource)] = fc
        return ClusterState(
            now=float(doc.get("now", 0.0)), nodes=nodes, resources=resources,
            failures=failures, target_roles=dict(doc.get("target_roles", {})),
            node_attributes={n: dict(a) for n, a in doc.get("node_attributes", {}).items()})
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"{where}: not a vigil state file ({exc!r}); `vigil import cib "
                         "--state FILE` writes one") from None
