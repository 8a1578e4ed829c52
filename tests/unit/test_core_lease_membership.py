"""Lease view (S2) and node states (S1's possibly-active rule)."""

from __future__ import annotations

from vigil.core.lease import LeaseClock
from vigil.core.membership import node_states
from vigil.core.records import MemberRecord
from vigil.core.snapshot import Member, Snapshot
from vigil.model.config import ClusterConfig, NodeConfig, Timings
from vigil.model.state import Membership, ResourceStatus, RscState


def test_lease_deadline_counts_from_send_time_and_only_extends() -> None:
    c = LeaseClock(margin=1.0)
    assert c.must_stop(0.0)  # no ack yet: not allowed to run anything
    c.acked(sent_at=10.0, granted_ttl=2.0)
    assert c.deadline == 12.0
    c.acked(sent_at=9.5, granted_ttl=2.0)  # a late ack of an older keepalive
    assert c.deadline == 12.0
    assert not c.must_stop(10.9)
    assert c.must_stop(11.0)
    assert c.stop_at() == 11.0
    assert c.remaining(11.5) == 0.5


CFG = ClusterConfig(
    "c", (NodeConfig("a", "127.0.0.1"), NodeConfig("b", "127.0.0.1", api_port=7401)),
    timings=Timings(self_fence_timeout=0.5))


def snap(members: tuple[str, ...], started_on: tuple[str, ...]) -> Snapshot:
    return Snapshot(
        revision=1,
        members={n: Member(MemberRecord(n, 1, "", 1, 0.0), 1) for n in members},
        statuses={(n, "r"): ResourceStatus(n, "r", RscState.STARTED) for n in started_on})


def test_lost_node_with_resources_is_unclean_until_self_fence_timeout() -> None:
    s = snap(("a",), ("a", "b"))
    v1 = node_states(CFG, s, {}, frozenset(), now=100.0)
    assert v1.nodes["a"].membership is Membership.ONLINE
    assert v1.nodes["b"].membership is Membership.UNCLEAN
    assert v1.newly_lost == ("b",)
    assert v1.wake_in == 0.5
    v2 = node_states(CFG, s, v1.lost_since, v1.down, now=100.4)
    assert v2.nodes["b"].membership is Membership.UNCLEAN and not v2.newly_lost
    v3 = node_states(CFG, s, v2.lost_since, v2.down, now=100.5)
    assert v3.nodes["b"].membership is Membership.OFFLINE
    assert v3.newly_down == ("b",)
    v4 = node_states(CFG, s, v3.lost_since, v3.down, now=101.0)
    assert v4.newly_down == ()


def test_node_without_active_resources_is_simply_offline() -> None:
    v = node_states(CFG, snap(("a",), ()), {}, frozenset(), now=5.0)
    assert v.nodes["b"].membership is Membership.OFFLINE
    assert v.lost_since == {}


def test_rejoined_node_is_online_and_forgotten_as_lost() -> None:
    v1 = node_states(CFG, snap(("a",), ("b",)), {}, frozenset(), now=1.0)
    v2 = node_states(CFG, snap(("a", "b"), ("b",)), v1.lost_since, v1.down, now=1.1)
    assert v2.nodes["b"].membership is Membership.ONLINE
    assert v2.lost_since == {}
