"""Node states from a snapshot: online, offline, or unclean (S1's "possibly active").

A node whose fencing is confirmed is offline at once. A node without a lease that
last reported active resources is *unclean* until the
self-fence timeout has passed since this observer first saw it lost; only then is it
offline and its resources count as stopped. An observer that did not see the loss
(a newly elected DC) starts counting when it first looks: later, never earlier.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from vigil.core.records import NodeAttrs
from vigil.core.snapshot import Snapshot
from vigil.model.config import ClusterConfig
from vigil.model.state import Membership, NodeState, RscState

ACTIVE_STATES = (RscState.STARTED, RscState.FAILED, RscState.STOP_FAILED)


@dataclass(frozen=True)
class MembershipView:
    nodes: dict[str, NodeState]
    lost_since: dict[str, float]
    down: frozenset[str]
    """Lost nodes whose self-fence timeout has elapsed (resources count as stopped)."""
    newly_lost: tuple[str, ...]
    newly_down: tuple[str, ...]
    """Nodes whose self-fence timeout elapsed in this step: their resources may move."""
    wake_in: float | None


def in_flight(snapshot: Snapshot, node: str) -> set[str]:
    """Resources with an action the node claimed but has not reported: a start may be
    under way even though the status still says stopped."""
    t = snapshot.transition
    res = snapshot.results.get(node)
    if t is None or res is None or res.transition != t.id or not res.running:
        return set()
    return {a.resource for a in t.actions if a.node == node and a.id in res.running}


def possibly_active(snapshot: Snapshot, node: str) -> list[str]:
    active = {r for (n, r), st in snapshot.statuses.items()
              if n == node and st.state in ACTIVE_STATES}
    return sorted(active | in_flight(snapshot, node))


def node_states(
    config: ClusterConfig,
    snapshot: Snapshot,
    lost_since: Mapping[str, float],
    down: frozenset[str],
    now: float,
    fenced: frozenset[str] = frozenset(),
) -> MembershipView:
    sft = config.timings.self_fence_timeout
    nodes: dict[str, NodeState] = {}
    lost: dict[str, float] = {}
    newly_lost: list[str] = []
    newly_down: list[str] = []
    wake: float | None = None
    for n in config.nodes:
        if n.role != "member":
            continue  # a witness is a store vote only
        attrs = snapshot.node_attrs.get(n.name, NodeAttrs())
        if n.name in fenced:
            membership = Membership.OFFLINE  # confirmed off: nothing runs there (S4)
        elif n.name in snapshot.members:
            membership = Membership.ONLINE
        elif not possibly_active(snapshot, n.name):
            membership = Membership.OFFLINE
        else:
            since = lost_since.get(n.name)
            if since is None:
                since = now
                newly_lost.append(n.name)
            lost[n.name] = since
            left = since + sft - now
            if left > 0:
                membership = Membership.UNCLEAN
                wake = left if wake is None else min(wake, left)
            else:
                membership = Membership.OFFLINE
                if n.name not in down:
                    newly_down.append(n.name)
        nodes[n.name] = NodeState(n.name, membership, attrs.standby, attrs.shutting_down)
    now_down = frozenset(n for n in lost if nodes[n].membership is Membership.OFFLINE)
    return MembershipView(nodes, lost, now_down, tuple(newly_lost), tuple(newly_down), wake)
