"""Builders shared by the scheduler tests (no tests here).

A compact way to write a cluster: `cluster("n1 n2 n3:standby", "web db")`, statuses as
`{"web@n1": "started"}`, and a transition rendered as lines like `2 start web@n2 after 1`
so that golden cases read like Pacemaker's cts/scheduler expectations.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from vigil.model.config import (
    ClusterConfig,
    ColocationConstraint,
    LocationConstraint,
    NodeConfig,
    Operations,
    OrderConstraint,
    Resource,
    ResourceMeta,
)
from vigil.model.state import (
    ClusterState,
    FailCount,
    Membership,
    NodeState,
    ResourceStatus,
    RscState,
)
from vigil.model.transition import Transition

OPS = Operations(start_timeout=20.0, stop_timeout=20.0, monitor_interval=10.0, monitor_timeout=20.0)


def resource(rid: str, **meta: object) -> Resource:
    return Resource(rid, "ocf:heartbeat:Dummy", {}, OPS, ResourceMeta(**meta))  # type: ignore[arg-type]


def config(
    nodes: str,
    resources: Iterable[Resource | str],
    locations: Iterable[tuple[str, str, int]] = (),
    colocations: Iterable[tuple[str, str, int]] = (),
    orders: Iterable[tuple[str, str] | OrderConstraint] = (),
) -> ClusterConfig:
    """`nodes` like "n1 n2:standby n3:offline"; the suffixes only matter to `state`."""
    names = [spec.split(":")[0] for spec in nodes.split()]
    rscs = tuple(resource(r) if isinstance(r, str) else r for r in resources)
    return ClusterConfig(
        name="test",
        nodes=tuple(NodeConfig(n, f"198.18.0.{i + 1}") for i, n in enumerate(names)),
        resources=rscs,
        locations=tuple(LocationConstraint(f"loc-{r}-{n}", r, n, s) for r, n, s in locations),
        colocations=tuple(ColocationConstraint(f"col-{r}-{w}", r, w, s) for r, w, s in colocations),
        orders=tuple(
            o if isinstance(o, OrderConstraint) else OrderConstraint(f"ord-{o[0]}-{o[1]}", *o)
            for o in orders
        ),
    )


def node_states(nodes: str) -> dict[str, NodeState]:
    """ "n1 n2:standby n3:offline n4:unclean n5:shutdown" -> NodeState per node."""
    out: dict[str, NodeState] = {}
    for spec in nodes.split():
        name, _, flag = spec.partition(":")
        membership = Membership(flag) if flag in ("offline", "unclean") else Membership.ONLINE
        out[name] = NodeState(
            name, membership, standby=flag == "standby", shutting_down=flag == "shutdown"
        )
    return out


def state(
    nodes: str,
    statuses: Mapping[str, str] | None = None,
    failures: Iterable[FailCount] = (),
    runtime: Iterable[LocationConstraint] = (),
    roles: Mapping[str, str] | None = None,
    now: float = 1000.0,
) -> ClusterState:
    """`statuses` like {"web@n1": "started", "db@n2": "failed"}."""
    res: dict[tuple[str, str], ResourceStatus] = {}
    for key, st in (statuses or {}).items():
        rid, node = key.split("@")
        res[(node, rid)] = ResourceStatus(node, rid, RscState(st))
    return ClusterState(
        now=now,
        nodes=node_states(nodes),
        resources=res,
        failures={(f.node, f.resource): f for f in failures},
        runtime_locations=tuple(runtime),
        target_roles=dict(roles or {}),
    )


def render(t: Transition) -> list[str]:
    """Actions as "id op rsc@node [after d1,d2]"."""
    lines = []
    for a in t.actions:
        after = f" after {','.join(map(str, a.deps))}" if a.deps else ""
        lines.append(f"{a.id} {a.op} {a.resource}@{a.node}{after}")
    return lines


def placed(t: Transition) -> dict[str, str | None]:
    return {rid: p.node for rid, p in t.placements.items()}


def apply(t: Transition, st: ClusterState) -> ClusterState:
    """The state after every action of `t` succeeded (what the executor would report)."""
    res = dict(st.resources)
    for a in t.actions:
        new = RscState.STARTED if a.op == "start" else RscState.STOPPED
        res[(a.node, a.resource)] = ResourceStatus(a.node, a.resource, new, a.op)
    return replace(st, resources=res)
