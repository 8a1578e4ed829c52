"""Prometheus metrics, computed from the agent's latest snapshot at scrape time."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest

from vigil.model.state import Membership, RscState

if TYPE_CHECKING:
    from vigil.runtime.agent import NodeAgent


def render_metrics(agent: NodeAgent) -> tuple[bytes, str]:
    reg = CollectorRegistry()
    Gauge("vigil_is_dc", "1 if this node is the coordinator", registry=reg).set(int(agent.is_dc))
    Gauge("vigil_joined", "1 if this node holds its membership lease",
          registry=reg).set(int(agent.joined))
    Gauge("vigil_store_reachable", "1 if the last keepalive reached the store",
          registry=reg).set(int(agent.store_ok))
    Gauge("vigil_lease_remaining_seconds", "this node's own view of its lease",
          registry=reg).set(max(0.0, agent.clock.remaining(time.monotonic())))
    Gauge("vigil_transitions_written_total", "transitions this node wrote as DC",
          registry=reg).set(agent.transitions_written)
    node_up = Gauge("vigil_node_online", "1 if the node holds a lease", ["node"], registry=reg)
    running = Gauge("vigil_resource_running", "1 if the resource runs on the node",
                    ["resource", "node"], registry=reg)
    fails = Gauge("vigil_resource_fail_count", "fail count", ["resource", "node"], registry=reg)
    if agent.view is not None:
        for name, st in agent.view.nodes.items():
            node_up.labels(name).set(int(st.membership is Membership.ONLINE))
    fence = Gauge("vigil_fencing_state", "1 for the node's current fencing state "
                  "(running, done, failed)", ["node", "state"], registry=reg)
    if agent.snapshot is not None:
        for node, record in agent.snapshot.fencing.items():
            fence.labels(node, record.state).set(1)
        for (node, rid), s in agent.snapshot.statuses.items():
            running.labels(rid, node).set(int(s.state is RscState.STARTED))
        for (node, rid), f in agent.snapshot.failures.items():
            fails.labels(rid, node).set(f.count)
    return generate_latest(reg), CONTENT_TYPE_LATEST
