"""The coordinator (DC) as a pure step: snapshot in, at most one transition write out.

Pacemaker's discipline: a transition runs to completion; when the cluster changes under
it, the DC aborts it (nodes start nothing more of it), waits for the actions already
running, and only then schedules again from a fresh snapshot. So no two transitions ever
act on the same resource at once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from vigil.core.fencing_policy import FenceRequest, fence_requests, fenced_nodes
from vigil.core.membership import in_flight, node_states
from vigil.core.records import TransitionRecord
from vigil.core.snapshot import Snapshot
from vigil.model.config import ClusterConfig
from vigil.model.state import ClusterState, Membership, NodeState, ResourceStatus, RscState
from vigil.scheduler import schedule


@dataclass(frozen=True)
class CoordinatorState:
    lost_since: dict[str, float] = field(default_factory=dict)
    """Node -> this DC's monotonic time when it first saw the node lost."""
    down: frozenset[str] = frozenset()
    fingerprint: str | None = None
    """Fingerprint of the inputs the current transition was computed from."""
    bad: frozenset[tuple[str, str]] = frozenset()
    """(node, resource) failed or stop-failed when the current transition was computed."""


@dataclass(frozen=True)
class Event:
    kind: str
    message: str
    resource: str = ""


@dataclass(frozen=True)
class Progress:
    running: int
    pending: int
    done: int
    failed: int

    @property
    def finished(self) -> bool:
        return self.running == 0 and self.pending == 0


@dataclass(frozen=True)
class Decision:
    state: CoordinatorState
    write: TransitionRecord | None
    events: tuple[Event, ...]
    reason: str
    wake_in: float | None = None
    cluster: ClusterState | None = None
    fence: tuple[FenceRequest, ...] = ()
    """Nodes to fence now (the shell runs the fence devices and records the outcome)."""


def cluster_state(
    config: ClusterConfig, snapshot: Snapshot, nodes: dict[str, NodeState], now_wall: float
) -> ClusterState:
    primitives = {r.id for r in config.resources}
    # Unique clone instances report as `<primitive>:<n>`.
    known = {rid for _, rid in snapshot.statuses if rid.partition(":")[0] in primitives}
    known |= primitives
    statuses = {k: v for k, v in snapshot.statuses.items() if k[1] in known and k[0] in nodes}
    for name, st in nodes.items():
        if st.membership is Membership.UNCLEAN:
            # A start it claimed but never reported may have happened: possibly active.
            for rid in in_flight(snapshot, name) & known:
                if statuses.get((name, rid)) is None or \
                        statuses[(name, rid)].state is RscState.STOPPED:
                    statuses[(name, rid)] = ResourceStatus(name, rid, RscState.FAILED,
                                                           "start", 1)
    return ClusterState(
        now=now_wall,
        nodes=nodes,
        resources=statuses,
        failures={k: v for k, v in snapshot.failures.items() if k[1] in known and k[0] in nodes},
        runtime_locations=snapshot.runtime_locations,
        target_roles=dict(snapshot.target_roles),
        node_attributes={n: a for n, a in snapshot.attribute_values().items() if n in nodes},
    )


def fingerprint(snapshot: Snapshot, cs: ClusterState) -> str:
    """Everything whose change invalidates a running transition. Resources reaching the
    states the transition asked for (started/stopped) are deliberately left out."""
    # A fenced node is offline whatever its member key does: the lease revoke that
    # follows its fencing must not abort the recovery transition just written.
    fenced = fenced_nodes(snapshot)
    data = {
        "config": snapshot.config_revision,
        "members": sorted((n, m.create_revision, m.mod_revision)
                          for n, m in snapshot.members.items() if n not in fenced),
        "nodes": sorted((n.name, n.membership.value, n.standby, n.shutting_down)
                        for n in cs.nodes.values()),
        "locations": [(c.id, c.resource, c.node, c.score) for c in cs.runtime_locations],
        "roles": sorted(cs.target_roles.items()),
        # Promotion scores (crm_master) and `vigil node attribute` values steer placement.
        "attributes": sorted((n, sorted(a.items())) for n, a in cs.node_attributes.items()),
        "failures": sorted((k, f.count) for k, f in cs.failures.items()),
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def failed_resources(cs: ClusterState) -> frozenset[tuple[str, str]]:
    """What is failed now. Only a *new* failure invalidates a running transition: one
    that disappears is the transition's own doing (the stop of a recovery succeeded), and
    aborting then would lose the restart in place it planned."""
    return frozenset(k for k, s in cs.resources.items()
                     if s.state in (RscState.FAILED, RscState.STOP_FAILED))


def progress(t: TransitionRecord, snapshot: Snapshot, nodes: dict[str, NodeState]) -> Progress:
    status: dict[int, str] = {}
    for a in t.actions:  # actions are listed with deps first
        res = snapshot.results_for(a.node, t.id)
        online = nodes.get(a.node) is not None and nodes[a.node].membership is Membership.ONLINE
        if a.id in res.done:
            status[a.id] = "done" if res.done[a.id].ok else "failed"
        elif not online:
            status[a.id] = "failed"
        elif a.id in res.running:
            status[a.id] = "running"
        elif t.aborted or any(status.get(d) == "failed" for d in a.deps):
            status[a.id] = "failed"
        else:
            status[a.id] = "pending"
    values = list(status.values())
    return Progress(values.count("running"), values.count("pending"), values.count("done"),
                    values.count("failed"))


def failure_expiry_in(config: ClusterConfig, cs: ClusterState) -> float | None:
    """Seconds until the next failure_timeout expires (the scheduler must run again)."""
    soonest: float | None = None
    for (_, rid), f in cs.failures.items():
        try:
            ft = config.resource(rid).meta.failure_timeout
        except KeyError:
            continue
        if ft > 0 and f.count > 0:
            left = f.last_failure + ft - cs.now
            if left > 0:
                soonest = left if soonest is None else min(soonest, left)
    return soonest


def decide(
    state: CoordinatorState,
    snapshot: Snapshot,
    config: ClusterConfig,
    dc_node: str,
    token: int,
    now_mono: float,
    now_wall: float,
) -> Decision:
    fenced = fenced_nodes(snapshot)
    view = node_states(config, snapshot, state.lost_since, state.down, now_mono, fenced)
    events: list[Event] = []
    for n in view.newly_lost:
        fenceable = config.fencing.enabled and bool(config.fencing.topology(n))
        events.append(Event("node-lost", (
            f"node {n} lost its lease; its resources stay possibly active until it is "
            + ("fenced, or for " if fenceable else "")
            + f"{config.timings.self_fence_timeout:g}s (self-fence timeout)")))
    for n in view.newly_down:
        events.append(Event("node-down", f"node {n} is down: self-fence timeout elapsed, "
                            "its resources count as stopped"))
    fence = tuple(fence_requests(config, snapshot, view.nodes, now_wall, dc_node))
    for r in fence:
        events.append(Event("fencing", f"fencing {r.node}: {r.reason}"))
    cs = cluster_state(config, snapshot, view.nodes, now_wall)
    fp = fingerprint(snapshot, cs)
    wakes = [w for w in (view.wake_in, failure_expiry_in(config, cs)) if w is not None]
    wake = min(wakes) if wakes else None
    bad = failed_resources(cs)
    new_state = CoordinatorState(view.lost_since, view.down, state.fingerprint, state.bad)

    t = snapshot.transition
    if t is not None:
        prog = progress(t, snapshot, view.nodes)
        if not prog.finished:
            if t.aborted:
                return Decision(new_state, None, tuple(events),
                                f"transition {t.id} aborted; waiting for {prog.running} "
                                "running action(s)", wake, cs, fence)
            if state.fingerprint == fp and bad <= state.bad:
                return Decision(new_state, None, tuple(events),
                                f"transition {t.id} in progress: {prog.running} running, "
                                f"{prog.pending} pending", wake, cs, fence)
            aborted = TransitionRecord(t.id, dc_node, token, t.actions, True, t.created_at)
            events.append(Event("transition", f"aborting transition {t.id}: the cluster "
                                "changed while it ran; will reschedule once running actions "
                                "finish"))
            return Decision(new_state, aborted, tuple(events),
                            f"aborting transition {t.id}", wake, cs, fence)

    result = schedule(config, cs)
    settled = CoordinatorState(view.lost_since, view.down, fp, bad)
    # Operations with on_fail fence: the scheduler names the node; the fencing policy
    # decides whether a fencing is due (not one already running, done or just failed).
    requested = {r.node for r in fence}
    extra = tuple(r for r in fence_requests(config, snapshot, view.nodes, now_wall, dc_node,
                                            dict(result.fence))
                  if r.node not in requested)
    for r in extra:
        events.append(Event("fencing", f"fencing {r.node}: {r.reason}"))
    fence += extra
    if result.empty:
        return Decision(settled, None, tuple(events), "nothing to do", wake, cs, fence)
    new_id = (t.id if t is not None else 0) + 1
    record = TransitionRecord(new_id, dc_node, token, result.actions, False, now_wall)
    events.append(Event("transition", f"transition {new_id}: {len(result.actions)} action(s)"))
    for a in result.actions:
        events.append(Event("action", f"{a.op} {a.resource} on {a.node}: {a.reason}",
                            a.resource))
    return Decision(settled, record, tuple(events),
                    f"transition {new_id} written", wake, cs, fence)
