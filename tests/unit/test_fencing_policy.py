"""Which nodes the DC fences, and what confirmed fencing changes (S4)."""

from __future__ import annotations

from vigil.core import records as rec
from vigil.core.coordinator import CoordinatorState, decide
from vigil.core.fencing_policy import fence_requests, fenced_nodes
from vigil.core.membership import node_states
from vigil.core.snapshot import Member, Snapshot
from vigil.model.config import (
    ClusterConfig,
    FenceDevice,
    FencingConfig,
    NodeConfig,
    Operations,
    Resource,
    Timings,
)
from vigil.model.state import ResourceStatus, RscState

OPS = Operations(20, 20, 10, 20)
NODES = (NodeConfig("a", "127.0.0.1"), NodeConfig("b", "127.0.0.1", api_port=7401),
         NodeConfig("c", "127.0.0.1", api_port=7402))
FENCING = FencingConfig((FenceDevice("lab", "fence_lab"),))
CFG = ClusterConfig("c", NODES, timings=Timings(self_fence_timeout=5.0),
                    resources=(Resource("app", "process", {"command": "x"}, OPS),),
                    fencing=FENCING)


def members(*names: str) -> dict[str, Member]:
    return {n: Member(rec.MemberRecord(n, 1, "", 1, 0.0), i + 1) for i, n in enumerate(names)}


def on(node: str, state: RscState = RscState.STARTED) -> dict[tuple[str, str], ResourceStatus]:
    return {(node, "app"): ResourceStatus(node, "app", state)}


def requests(s: Snapshot, cfg: ClusterConfig = CFG) -> list[tuple[str, str]]:
    view = node_states(cfg, s, {}, frozenset(), 0.0, fenced_nodes(s))
    return [(r.node, r.reason) for r in fence_requests(cfg, s, view.nodes, 100.0, "a")]


def test_lost_node_with_resources_is_fenced_and_without_is_not() -> None:
    assert [n for n, _ in requests(Snapshot(1, members=members("a", "c"),
                                            statuses=on("b")))] == ["b"]
    assert requests(Snapshot(1, members=members("a", "c"))) == []


def test_no_device_means_no_fencing_only_the_lease_rule() -> None:
    cfg = ClusterConfig("c", NODES, resources=CFG.resources)
    assert requests(Snapshot(1, members=members("a"), statuses=on("b")), cfg) == []


def test_failed_stop_gets_the_node_fenced() -> None:
    s = Snapshot(1, members=members("a", "b", "c"), statuses=on("b", RscState.STOP_FAILED))
    [(node, reason)] = requests(s)
    assert node == "b" and "stop of app failed" in reason


def test_suspicion_needs_every_other_online_observer() -> None:
    one = {"a": rec.SuspectRecord("a", ("b",)), "c": rec.SuspectRecord("c", ())}
    s = Snapshot(1, members=members("a", "b", "c"), statuses=on("b"), suspects=one)
    assert requests(s) == []  # c still hears b: a link problem of a's, not b's death
    both = {"a": rec.SuspectRecord("a", ("b",)), "c": rec.SuspectRecord("c", ("b",))}
    s = Snapshot(1, members=members("a", "b", "c"), statuses=on("b"), suspects=both)
    [(node, reason)] = requests(s)
    assert node == "b" and "suspected by a, c" in reason


def test_running_or_recently_failed_fencing_is_not_repeated() -> None:
    base = {"members": members("a", "c"), "statuses": on("b")}
    running = rec.FenceRecord("b", "running", "reboot", "x", "a", 99.0)
    assert requests(Snapshot(1, fencing={"b": running}, **base)) == []  # type: ignore[arg-type]
    failed = rec.FenceRecord("b", "failed", "reboot", "x", "a", 90.0, finished_at=98.0)
    assert requests(Snapshot(1, fencing={"b": failed}, **base)) == []  # type: ignore[arg-type]
    old = rec.FenceRecord("b", "failed", "reboot", "x", "a", 80.0, finished_at=90.0)
    assert [n for n, _ in requests(Snapshot(1, fencing={"b": old}, **base))] == ["b"]  # type: ignore[arg-type]


def test_confirmed_fencing_lets_the_dc_recover_at_once() -> None:
    s = Snapshot(1, members=members("a", "c"), statuses=on("b"))
    d = decide(CoordinatorState(), s, CFG, "a", 5, 100.0, 100.0)
    assert d.write is None and [r.node for r in d.fence] == ["b"]  # S4: not before
    done = rec.FenceRecord("b", "done", "reboot", "x", "a", 100.0, 100.2)
    s2 = Snapshot(2, members=members("a", "c"), statuses=on("b"), fencing={"b": done})
    d2 = decide(d.state, s2, CFG, "a", 5, 100.3, 100.3)  # long before the 5 s rule
    assert d2.write is not None and d2.fence == ()
    assert [(x.op, x.resource) for x in d2.write.actions] == [("start", "app")]
    assert d2.write.actions[0].node in ("a", "c")


def test_fencing_left_running_by_a_previous_dc_is_started_again() -> None:
    running = rec.FenceRecord("b", "running", "reboot", "x", "c", 99.0)
    s = Snapshot(1, members=members("a", "c"), statuses=on("b"), fencing={"b": running})
    assert [n for n, _ in requests(s)] == ["b"]
