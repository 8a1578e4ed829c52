"""No start runs from a transition older than a member's (re)join (simulator seed 30784)."""

from __future__ import annotations

from vigil.core import records as rec
from vigil.core.coordinator import fingerprint
from vigil.core.node import runnable_actions
from vigil.core.snapshot import Member, Snapshot
from vigil.model.state import ClusterState
from vigil.model.transition import Action


def _snap(joined_at: int) -> Snapshot:
    t = rec.TransitionRecord(3, "a", 2, (Action(1, "a", "r1", "stop"),
                                         Action(2, "b", "r2", "start")))
    members = {"a": Member(rec.MemberRecord("a", 7, "", 1, 0.0), 4, 4),
               "b": Member(rec.MemberRecord("b", 8, "", 1, 0.0), 5, joined_at)}
    return Snapshot(20, members=members, transition=t, transition_revision=10)


def test_starts_wait_when_a_member_joined_after_the_transition() -> None:
    assert [a.id for a in runnable_actions(_snap(9), "b", set())] == [2]
    assert runnable_actions(_snap(11), "b", set()) == []  # b re-joined: its probe may differ
    # stops still run: they only make things safer
    assert [a.id for a in runnable_actions(_snap(11), "a", set())] == [1]


def test_a_rejoin_changes_the_coordinators_fingerprint() -> None:
    cs = ClusterState(now=0.0, nodes={}, resources={}, failures={})
    assert fingerprint(_snap(9), cs) != fingerprint(_snap(11), cs)
