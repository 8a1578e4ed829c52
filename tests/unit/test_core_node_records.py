"""Which actions a node may run, and the records that carry them."""

from __future__ import annotations

from vigil.core import records as rec
from vigil.core.node import claim, complete, interrupted, runnable_actions
from vigil.core.snapshot import Snapshot
from vigil.model.transition import Action

ACTIONS = (
    Action(1, "a", "db", "stop"),
    Action(2, "b", "db", "start", (1,)),
    Action(3, "b", "web", "start", (2,)),
)


def snap(results: dict[str, rec.ResultsRecord], aborted: bool = False) -> Snapshot:
    return Snapshot(revision=5, transition=rec.TransitionRecord(7, "a", 3, ACTIONS, aborted),
                    transition_revision=4, results=results)


def test_actions_wait_for_their_dependencies_on_other_nodes() -> None:
    assert [a.id for a in runnable_actions(snap({}), "a", set())] == [1]
    assert runnable_actions(snap({}), "b", set()) == []
    done1 = {"a": rec.ResultsRecord(7, frozenset(), {1: rec.ActionOutcome(0)})}
    assert [a.id for a in runnable_actions(snap(done1), "b", set())] == [2]


def test_failed_dependency_blocks_and_abort_stops_everything() -> None:
    failed = {"a": rec.ResultsRecord(7, frozenset(), {1: rec.ActionOutcome(1, "boom")})}
    assert runnable_actions(snap(failed), "b", set()) == []
    assert runnable_actions(snap({}, aborted=True), "a", set()) == []


def test_results_of_an_older_transition_do_not_count() -> None:
    old = {"a": rec.ResultsRecord(6, frozenset(), {1: rec.ActionOutcome(0)})}
    assert runnable_actions(snap(old), "b", set()) == []
    assert [a.id for a in runnable_actions(snap(old), "a", set())] == [1]


def test_claimed_or_running_actions_are_not_started_twice() -> None:
    assert runnable_actions(snap({}), "a", {(7, 1)}) == []
    running = {"a": rec.ResultsRecord(7, frozenset({1}))}
    assert runnable_actions(snap(running), "a", set()) == []


def test_claim_complete_and_interrupted() -> None:
    r = claim(rec.ResultsRecord(6, frozenset(), {1: rec.ActionOutcome(0)}), 7, 2)
    assert r == rec.ResultsRecord(7, frozenset({2}), {})
    r = complete(r, 7, 2, rec.ActionOutcome(0))
    assert r.running == frozenset() and r.done[2].ok
    assert interrupted(r) is None
    fixed = interrupted(rec.ResultsRecord(7, frozenset({3}), {}))
    assert fixed is not None and not fixed.done[3].ok and fixed.running == frozenset()


def test_records_round_trip() -> None:
    t = rec.TransitionRecord(7, "a", 3, ACTIONS, True, 12.5)
    assert rec.TransitionRecord.from_json(t.to_json()) == t
    r = rec.ResultsRecord(7, frozenset({2}), {1: rec.ActionOutcome(1, "x")})
    assert rec.ResultsRecord.from_json(r.to_json()) == r
    m = rec.MemberRecord("a", 99, "http://x", 12, 1.0)
    assert rec.MemberRecord.from_json(m.to_json()) == m


def test_batch_limit_holds_back_actions_while_others_run() -> None:
    from vigil.core import records as rec
    from vigil.core.node import runnable_actions
    from vigil.core.snapshot import Snapshot
    from vigil.model.transition import Action

    acts = tuple(Action(i, "a" if i <= 3 else "b", f"r{i}", "start") for i in range(1, 6))
    t = rec.TransitionRecord(7, "a", 1, acts)
    busy = Snapshot(revision=3, transition=t, transition_revision=3,
                    results={"b": rec.ResultsRecord(7, frozenset({4, 5}))})
    assert [a.id for a in runnable_actions(busy, "a", set())] == [1, 2, 3]
    assert [a.id for a in runnable_actions(busy, "a", set(), batch_limit=3)] == [1]
    assert runnable_actions(busy, "a", set(), batch_limit=2) == []
    # What this node claimed but the snapshot does not show yet counts too.
    idle = Snapshot(revision=3, transition=t, transition_revision=3)
    assert [a.id for a in runnable_actions(idle, "a", {(7, 1)}, batch_limit=2)] == [2]


def test_a_probe_finding_an_instance_promoted_counts_as_running() -> None:
    from vigil.core.outcomes import outcome
    from vigil.model.state import RscState

    assert outcome("probe", 8).state is RscState.STARTED and not outcome("probe", 8).failed
    assert outcome("probe", 9).failed
