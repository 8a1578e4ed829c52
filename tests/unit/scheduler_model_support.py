"""Builders for the resource-model scheduler tests: YAML configs and compact states.

`yconf("n1 n2 n3", body)` is a full config with those nodes and `body` (YAML for
resources, groups, clones, constraints, ...); `dummy("a b c")` lists Dummy resources.
States use `{"web@n1": "started", "db@n2": "promoted"}`; promoted means STARTED with a
successful promote as the last operation (what the executor records).
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import replace

from test_scheduler_support import node_states

from vigil.model.config import ClusterConfig
from vigil.model.load import load_config_text
from vigil.model.state import ClusterState, FailCount, ResourceStatus, RscState
from vigil.model.transition import Transition


def dummy(ids: str, agent: str = "ocf:heartbeat:Dummy") -> str:
    return "".join(f"  - {{id: {r}, agent: {agent}}}\n" for r in ids.split())


def yconf(nodes: str, body: str, extra_nodes: Mapping[str, str] | None = None) -> ClusterConfig:
    names = [spec.split(":")[0] for spec in nodes.split()]
    lines = ["cluster: test", "nodes:"]
    for i, n in enumerate(names):
        more = (extra_nodes or {}).get(n, "")
        lines.append(f"  - {{name: {n}, address: 198.18.0.{i + 1}{', ' + more if more else ''}}}")
    return load_config_text("\n".join(lines) + "\n" + textwrap.dedent(body))


def ystate(
    nodes: str,
    statuses: Mapping[str, str] | None = None,
    failures: Iterable[FailCount] = (),
    attrs: Mapping[str, Mapping[str, str]] | None = None,
    roles: Mapping[str, str] | None = None,
    now: float = 1000.0,
) -> ClusterState:
    res: dict[tuple[str, str], ResourceStatus] = {}
    for key, st in (statuses or {}).items():
        rid, node = key.split("@")
        if st == "promoted":
            res[(node, rid)] = ResourceStatus(node, rid, RscState.STARTED, "promote", 0)
        elif st == "failed-promoted":
            res[(node, rid)] = ResourceStatus(node, rid, RscState.FAILED, "monitor", 9)
        else:
            res[(node, rid)] = ResourceStatus(node, rid, RscState(st), "start" if
                                              st == "started" else "monitor")
    return ClusterState(
        now=now,
        nodes=node_states(nodes),
        resources=res,
        failures={(f.node, f.resource): f for f in failures},
        target_roles=dict(roles or {}),
        node_attributes={k: dict(v) for k, v in (attrs or {}).items()},
    )


def scores(value: int, nodes: str, name: str) -> dict[str, dict[str, str]]:
    """Promotion scores: `master-<name>` = value on each node."""
    return {n: {f"master-{name}": str(value)} for n in nodes.split()}


def render(t: Transition) -> list[str]:
    """Actions as "id op instance@node [after d1,d2]" (instance: db:0, or the resource)."""
    lines = []
    for a in t.actions:
        after = f" after {','.join(map(str, a.deps))}" if a.deps else ""
        lines.append(f"{a.id} {a.op} {a.instance or a.resource}@{a.node}{after}")
    return lines


def where(t: Transition) -> dict[str, str | None]:
    """Instance -> node, with the role for promotable instances: db:0 -> "n1 Promoted"."""
    out: dict[str, str | None] = {}
    for rid, p in t.placements.items():
        if p.instances:
            continue
        out[rid] = f"{p.node} {p.role}" if p.role and p.node else p.node
    return out


def apply(t: Transition, st: ClusterState) -> ClusterState:
    """The state after every action of `t` succeeded (what the executor would report)."""
    res = dict(st.resources)
    for a in t.actions:
        key = (a.node, a.resource)
        if a.op == "stop":
            res[key] = ResourceStatus(a.node, a.resource, RscState.STOPPED, "stop")
        elif a.op in ("start", "promote", "demote"):
            res[key] = ResourceStatus(a.node, a.resource, RscState.STARTED, a.op)
    return replace(st, resources=res)
