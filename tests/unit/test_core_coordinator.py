"""The DC's pure step: when it schedules, waits, aborts — and never recovers early (S1)."""

from __future__ import annotations

from vigil.core import records as rec
from vigil.core.coordinator import CoordinatorState, decide, fingerprint
from vigil.core.snapshot import Member, Snapshot
from vigil.model.config import ClusterConfig, NodeConfig, Operations, Resource, Timings
from vigil.model.state import FailCount, ResourceStatus, RscState
from vigil.model.transition import Action

OPS = Operations(20, 20, 10, 20)
CFG = ClusterConfig(
    "c",
    (NodeConfig("a", "127.0.0.1"), NodeConfig("b", "127.0.0.1", api_port=7401)),
    timings=Timings(self_fence_timeout=0.5),
    resources=(Resource("app", "process", {"command": "sleep 1"}, OPS),),
)


def members(*names: str) -> dict[str, Member]:
    return {n: Member(rec.MemberRecord(n, 1, "", 1, 0.0), i + 1) for i, n in enumerate(names)}


def started(node: str) -> dict[tuple[str, str], ResourceStatus]:
    return {(node, "app"): ResourceStatus(node, "app", RscState.STARTED)}


def test_lost_node_resources_wait_for_self_fence_timeout_then_recover() -> None:
    s = Snapshot(revision=10, members=members("a"), statuses=started("b"))
    d1 = decide(CoordinatorState(), s, CFG, "a", 5, now_mono=100.0, now_wall=1000.0)
    assert d1.write is None  # b may still run app: S1 forbids starting it on a
    assert d1.wake_in == 0.5
    assert any(e.kind == "node-lost" and "node b" in e.message for e in d1.events)
    d2 = decide(d1.state, s, CFG, "a", 5, now_mono=100.49, now_wall=1000.49)
    assert d2.write is None
    d3 = decide(d2.state, s, CFG, "a", 5, now_mono=100.5, now_wall=1000.5)
    assert d3.write is not None
    assert [(a.node, a.resource, a.op) for a in d3.write.actions] == [("a", "app", "start")]
    assert d3.write.id == 1 and d3.write.token == 5 and not d3.write.aborted


def test_transition_in_progress_is_left_alone_until_the_cluster_changes() -> None:
    t = rec.TransitionRecord(4, "a", 5, (Action(1, "a", "app", "start"),))
    s = Snapshot(revision=11, members=members("a", "b"), transition=t,
                 results={"a": rec.ResultsRecord(4, frozenset({1}))})
    first = decide(CoordinatorState(), s, CFG, "a", 5, 1.0, 1.0)
    # A DC that did not write this transition does not know its inputs: it aborts it.
    assert first.write is not None and first.write.aborted and first.write.id == 4
    s_aborted = Snapshot(revision=12, members=members("a", "b"),
                         transition=first.write, results=s.results)
    waiting = decide(first.state, s_aborted, CFG, "a", 5, 1.1, 1.1)
    assert waiting.write is None and "waiting for 1 running" in waiting.reason
    done = Snapshot(revision=13, members=members("a", "b"), transition=first.write,
                    statuses=started("a"),
                    results={"a": rec.ResultsRecord(4, frozenset(), {1: rec.ActionOutcome(0)})})
    settled = decide(waiting.state, done, CFG, "a", 5, 1.2, 1.2)
    assert settled.write is None and settled.reason == "nothing to do"


def test_own_transition_runs_to_completion_and_failure_aborts_it() -> None:
    s0 = Snapshot(revision=1, members=members("a", "b"))
    d0 = decide(CoordinatorState(), s0, CFG, "a", 5, 1.0, 1.0)
    assert d0.write is not None
    t = d0.write
    running = Snapshot(revision=2, members=members("a", "b"), transition=t,
                       results={t.actions[0].node: rec.ResultsRecord(t.id, frozenset({1}))})
    d1 = decide(d0.state, running, CFG, "a", 5, 1.1, 1.1)
    assert d1.write is None and "in progress" in d1.reason
    node = t.actions[0].node
    failed = Snapshot(
        revision=3, members=members("a", "b"), transition=t,
        results={node: rec.ResultsRecord(t.id, frozenset({1}))},
        failures={(node, "app"): FailCount(node, "app", 1, 1.1)},
        statuses={(node, "app"): ResourceStatus(node, "app", RscState.FAILED)})
    d2 = decide(d1.state, failed, CFG, "a", 5, 1.2, 1.2)
    assert d2.write is not None and d2.write.aborted and d2.write.id == t.id


def test_next_transition_id_follows_the_last() -> None:
    old = rec.TransitionRecord(9, "b", 3, (Action(1, "b", "app", "stop"),))
    s = Snapshot(revision=5, members=members("a", "b"), transition=old,
                 results={"b": rec.ResultsRecord(9, frozenset(), {1: rec.ActionOutcome(0)})})
    d = decide(CoordinatorState(), s, CFG, "a", 7, 1.0, 1.0)
    assert d.write is not None and d.write.id == 10 and d.write.dc == "a"


def test_a_claimed_start_on_a_lost_node_counts_as_possibly_active() -> None:
    # b claimed "start app" and vanished before reporting: app may be running there.
    t = rec.TransitionRecord(3, "a", 5, (Action(1, "b", "app", "start"),))
    s = Snapshot(revision=10, members=members("a"), transition=t,
                 results={"b": rec.ResultsRecord(3, frozenset({1}))})
    d = decide(CoordinatorState(), s, CFG, "a", 5, now_mono=50.0, now_wall=50.0)
    assert d.write is None and any(e.kind == "node-lost" for e in d.events)
    later = decide(d.state, s, CFG, "a", 5, now_mono=50.5, now_wall=50.5)
    assert later.write is not None  # after the lease rule: recovered on a
    assert [(x.node, x.op) for x in later.write.actions] == [("a", "start")]


def test_node_attributes_reach_the_scheduler_and_a_change_reschedules() -> None:
    """Promotion scores and `vigil node attribute` values live in the store; the DC must
    hand them to the scheduler and notice when they change."""
    from dataclasses import replace

    s = Snapshot(revision=5, members=members("a", "b"), statuses=started("a"),
                 attributes={"b": {"rack": rec.AttributeRecord("r1")}})
    d = decide(CoordinatorState(), s, CFG, "a", 5, 1.0, 1.0)
    assert d.cluster is not None and d.cluster.node_attributes == {"b": {"rack": "r1"}}
    changed = replace(s, attributes={"b": {"rack": rec.AttributeRecord("r2")}})
    d2 = decide(CoordinatorState(), changed, CFG, "a", 5, 1.0, 1.0)
    assert d2.cluster is not None
    assert fingerprint(s, d.cluster) != fingerprint(changed, d2.cluster)


def test_a_failed_monitor_with_on_fail_fence_gets_its_node_fenced() -> None:
    from vigil.model.config import FenceDevice, FencingConfig

    ops = Operations(20, 20, 10, 20, on_fail={"monitor": "fence"})
    cfg = ClusterConfig(
        "c", CFG.nodes, timings=CFG.timings,
        resources=(Resource("app", "process", {"command": "sleep 1"}, ops),),
        fencing=FencingConfig((FenceDevice("lab", "fence_dummy"),)))
    s = Snapshot(revision=5, members=members("a", "b"),
                 statuses={("a", "app"): ResourceStatus("a", "app", RscState.FAILED,
                                                        "monitor", 7)},
                 failures={("a", "app"): FailCount("a", "app", 1, 1.0)})
    d = decide(CoordinatorState(), s, cfg, "b", 5, 1.0, 1.0)
    assert [r.node for r in d.fence] == ["a"]
    assert any(e.kind == "fencing" and "fencing a" in e.message for e in d.events)
    # Once the fencing is running, the next decision does not ask for it again.
    running = replace_fencing(s, "a", "running", "b")
    d2 = decide(d.state, running, cfg, "b", 5, 1.1, 1.1)
    assert d2.fence == ()


def replace_fencing(s: Snapshot, node: str, state: str, by: str) -> Snapshot:
    from dataclasses import replace
    return replace(s, fencing={node: rec.FenceRecord(node, state, "reboot", "x", by, 1.0)})


def test_the_lease_revoke_after_fencing_does_not_abort_the_recovery() -> None:
    """The fencer revokes a fenced node's lease right after recording `done`; the DC has
    usually scheduled the recovery from the snapshot before that. Its member key going
    away changes nothing: the node already counts as offline."""
    done = rec.FenceRecord("b", "done", "reboot", "x", "a", 1.0, 1.1, "ok")
    before = Snapshot(revision=7, members=members("a", "b"), statuses=started("b"),
                      fencing={"b": done})
    d1 = decide(CoordinatorState(), before, CFG, "a", 5, 1.0, 1.0)
    assert d1.write is not None
    assert [(a.node, a.op) for a in d1.write.actions] == [("a", "start")]
    after = Snapshot(revision=8, members=members("a"), statuses=started("b"),
                     fencing={"b": done}, transition=d1.write)
    d2 = decide(d1.state, after, CFG, "a", 5, 1.1, 1.1)
    assert d2.write is None and "in progress" in d2.reason


def test_a_recovery_is_not_aborted_by_its_own_stop() -> None:
    """Found by an integration run: the stop of a restart in place turned FAILED into
    STOPPED, the DC aborted the transition, and the rescheduled one started the resource
    on another node (it no longer ran anywhere: no stickiness)."""
    failed = {("a", "app"): ResourceStatus("a", "app", RscState.FAILED, "monitor", 7)}
    fc = {("a", "app"): FailCount("a", "app", 1, 1.0)}
    s1 = Snapshot(revision=5, members=members("a", "b"), statuses=failed, failures=fc)
    d1 = decide(CoordinatorState(), s1, CFG, "a", 5, 1.0, 1.0)
    assert d1.write is not None
    assert [(a.op, a.node) for a in d1.write.actions] == [("stop", "a"), ("start", "a")]
    stop = d1.write.actions[0]
    stopped = Snapshot(
        revision=6, members=members("a", "b"), failures=fc, transition=d1.write,
        statuses={("a", "app"): ResourceStatus("a", "app", RscState.STOPPED, "stop", 0)},
        results={"a": rec.ResultsRecord(d1.write.id, frozenset(),
                                        {stop.id: rec.ActionOutcome(0)})})
    d2 = decide(d1.state, stopped, CFG, "a", 5, 1.1, 1.1)
    assert d2.write is None and "in progress" in d2.reason
    # A new failure elsewhere still aborts it.
    other = Snapshot(
        revision=7, members=members("a", "b"), failures=fc, transition=d1.write,
        statuses={**stopped.statuses,
                  ("b", "app"): ResourceStatus("b", "app", RscState.FAILED, "probe", 1)},
        results=stopped.results)
    d3 = decide(d2.state, other, CFG, "a", 5, 1.2, 1.2)
    assert d3.write is not None and d3.write.aborted
