"""What the scheduler reads, indexed once per run.

`prepare()` turns (config, state) into plain lookups: constraints by resource, the
observed situation of each resource, and which nodes can host. Everything is built
by iterating the config (nodes and resources in config order), never by iterating
the state's mappings, so the result cannot depend on their insertion order.

Constraints naming an unknown resource or node, and self-referencing colocations or
orders, are skipped here: rejecting them is the config validator's job, and the
scheduler must not crash on a snapshot it is given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

from vigil.model.config import (
    ClusterConfig,
    ColocationConstraint,
    LocationConstraint,
    OrderConstraint,
    Resource,
)
from vigil.model.state import ClusterState, Membership, NodeState, RscState

K = TypeVar("K")
V = TypeVar("V")

_RUNNING = (RscState.STARTED, RscState.FAILED)
_POSSIBLY_ACTIVE = (RscState.STARTED, RscState.FAILED, RscState.STOP_FAILED)


@dataclass(frozen=True)
class ResourceView:
    """Where one resource is, as far as the scheduler is concerned."""

    id: str
    active: tuple[str, ...]
    """Online nodes where it is STARTED or FAILED (stoppable there), config order."""
    failed: frozenset[str]
    """The subset of `active` where it is FAILED (needs a stop before anything else)."""
    blocked: str | None
    """Why nothing may be done with it (possibly active where it cannot be stopped)."""
    lost_on: tuple[str, ...]
    """Offline nodes where it was last reported running: only used in reasons."""


@dataclass(frozen=True)
class Inputs:
    config: ClusterConfig
    state: ClusterState
    nodes: tuple[str, ...]
    node_index: Mapping[str, int]
    resources: tuple[Resource, ...]
    resource_index: Mapping[str, int]
    unavailable: Mapping[str, str | None]
    """Per node: None if it can host, else why not ("n1 is in standby")."""
    views: Mapping[str, ResourceView]
    role_stopped: frozenset[str]
    locations: Mapping[str, tuple[LocationConstraint, ...]]
    """By resource: config constraints first, then runtime (cli-) ones."""
    colocations: tuple[ColocationConstraint, ...]
    colocations_of: Mapping[str, tuple[ColocationConstraint, ...]]
    """By dependent (`resource`)."""
    colocated_with: Mapping[str, tuple[ColocationConstraint, ...]]
    """By target (`with_resource`)."""
    orders: tuple[OrderConstraint, ...]
    orders_by_first: Mapping[str, tuple[OrderConstraint, ...]]
    orders_by_then: Mapping[str, tuple[OrderConstraint, ...]]


def node_of(state: ClusterState, name: str) -> NodeState:
    """A configured node missing from the snapshot is treated as unclean.

    The snapshot is documented to hold every configured node; if one is missing we
    know nothing about it, and S1 demands we assume its resources may be running.
    """
    return state.nodes.get(name) or NodeState(name, Membership.UNCLEAN)


def _unavailable(node: NodeState) -> str | None:
    if node.membership is Membership.OFFLINE:
        return f"{node.name} is offline"
    if node.membership is Membership.UNCLEAN:
        return f"{node.name} is unclean (lost, not yet fenced)"
    if node.shutting_down:
        return f"{node.name} is shutting down"
    if node.standby:
        return f"{node.name} is in standby"
    return None


def _view(rsc: Resource, state: ClusterState, nodes: tuple[str, ...]) -> ResourceView:
    active: list[str] = []
    failed: set[str] = set()
    lost_on: list[str] = []
    blocked: str | None = None
    for name in nodes:
        node = node_of(state, name)
        st = state.state_of(name, rsc.id)
        if node.membership is Membership.OFFLINE:
            # Down and clean: whatever it reported before is no longer running.
            if st in _POSSIBLY_ACTIVE:
                lost_on.append(name)
            continue
        if node.membership is Membership.UNCLEAN:
            if st in _POSSIBLY_ACTIVE and blocked is None:
                blocked = (
                    f"possibly active on {name}, which is unclean: waiting for {name} "
                    "to be fenced or for its lease to expire plus the self-fence timeout"
                )
            continue
        if st is RscState.STOP_FAILED:
            if blocked is None:
                blocked = (
                    f"stop failed on {name}: blocked until {name} is fenced "
                    "or the failure is cleaned up (vigil resource cleanup)"
                )
            continue
        if st in _RUNNING:
            active.append(name)
            if st is RscState.FAILED:
                failed.add(name)
    return ResourceView(rsc.id, tuple(active), frozenset(failed), blocked, tuple(lost_on))


def _group(pairs: list[tuple[K, V]]) -> dict[K, tuple[V, ...]]:
    out: dict[K, list[V]] = {}
    for key, value in pairs:
        out.setdefault(key, []).append(value)
    return {k: tuple(v) for k, v in out.items()}


def prepare(config: ClusterConfig, state: ClusterState) -> Inputs:
    nodes = config.node_names
    node_index = {n: i for i, n in enumerate(nodes)}
    resources: list[Resource] = []
    resource_index: dict[str, int] = {}
    for rsc in config.resources:
        if rsc.id not in resource_index:  # duplicates: the validator's problem
            resource_index[rsc.id] = len(resources)
            resources.append(rsc)

    stopped = frozenset(
        r.id
        for r in resources
        if str(state.target_roles.get(r.id, r.meta.target_role)).lower() == "stopped"
    )
    locations = _group(
        [
            (loc.resource, loc)
            for loc in (*config.locations, *state.runtime_locations)
            if loc.resource in resource_index and loc.node in node_index
        ]
    )
    colocations = tuple(
        c
        for c in config.colocations
        if c.resource in resource_index
        and c.with_resource in resource_index
        and c.resource != c.with_resource
    )
    orders = tuple(
        o
        for o in config.orders
        if o.first in resource_index and o.then in resource_index and o.first != o.then
    )
    return Inputs(
        config=config,
        state=state,
        nodes=nodes,
        node_index=node_index,
        resources=tuple(resources),
        resource_index=resource_index,
        unavailable={n: _unavailable(node_of(state, n)) for n in nodes},
        views={r.id: _view(r, state, nodes) for r in resources},
        role_stopped=stopped,
        locations=locations,
        colocations=colocations,
        colocations_of=_group([(c.resource, c) for c in colocations]),
        colocated_with=_group([(c.with_resource, c) for c in colocations]),
        orders=orders,
        orders_by_first=_group([(o.first, o) for o in orders]),
        orders_by_then=_group([(o.then, o) for o in orders]),
    )
