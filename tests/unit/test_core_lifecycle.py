"""The agent's life-cycle rules (core.lifecycle), shared by the agent and the simulator."""

from __future__ import annotations

from vigil.core import lifecycle
from vigil.core import records as rec
from vigil.core.lease import LeaseClock
from vigil.core.snapshot import Dc, Member, Snapshot
from vigil.model.config import ClusterConfig, NodeConfig, Resource, Timings
from vigil.model.state import RscState
from vigil.model.transition import Action
from vigil.store.base import Compare
from vigil.store.keys import Keys

YAML = """cluster: c
nodes:
  - {name: a, address: 198.18.0.1}
  - {name: b, address: 198.18.0.2}
  - {name: w, address: 198.18.0.3, role: witness}
resources:
  - {id: r1, agent: process, params: {command: sleep 1}}
"""


def _cfg() -> ClusterConfig:
    cfg = lifecycle.read_stored_config(rec.ConfigRecord(1, YAML), "a").config
    assert cfg is not None
    return cfg


def test_lease_guard_stops_inside_the_margin_and_freezes_only_when_fenceable() -> None:
    cfg = _cfg()
    clock = LeaseClock(margin=0.5)
    clock.acked(sent_at=10.0, granted_ttl=2.0)
    assert lifecycle.lease_guard(clock, 11.4, cfg, "a") is None
    verdict = lifecycle.lease_guard(clock, 11.5, cfg, "a")
    assert verdict is not None and verdict.action == "stop"
    assert "lease about to expire (0.50s left, margin 0.5s)" in verdict.reason
    # freeze needs a fence device for the node: without one it stops anyway
    frozen_cfg = ClusterConfig(cfg.name, cfg.nodes, no_quorum_policy="freeze")
    verdict = lifecycle.lease_guard(clock, 11.6, frozen_cfg, "a")
    assert verdict is not None and verdict.action == "stop"


def test_self_fenced_only_counts_firings_after_the_join_began() -> None:
    assert lifecycle.self_fenced(None, 100.0, True) is None
    assert lifecycle.self_fenced(99.0, 100.0, True) is None
    assert lifecycle.self_fenced(101.0, 100.0, False) is None  # it killed nothing we report
    verdict = lifecycle.self_fenced(101.0, 100.0, True)
    assert verdict is not None and verdict.action == "stop"
    assert "watchdog fired" in verdict.reason


def test_may_run_and_watchdog_deadline() -> None:
    clock = LeaseClock(margin=0.5)
    assert not lifecycle.may_run_actions(True, clock, 0.0)  # no lease view yet
    clock.acked(0.0, 2.0)
    assert lifecycle.may_run_actions(True, clock, 1.0)
    assert not lifecycle.may_run_actions(False, clock, 1.0)
    assert lifecycle.watchdog_deadline(clock, False, 1.0, 2.0) == 2.0
    assert lifecycle.watchdog_deadline(clock, True, 1.0, 2.0) == 3.0
    assert lifecycle.watchdog_deadline(LeaseClock(0.5), False, 1.0, 2.0) is None


def test_join_must_stop_after_the_lease_could_have_ended() -> None:
    cfg = _cfg()  # ttl 2, margin 0.5
    assert not lifecycle.join_must_stop(True, 1.4, cfg)
    assert lifecycle.join_must_stop(True, 1.6, cfg)
    assert not lifecycle.join_must_stop(False, 10.0, cfg)


def _snap(dc_node: str | None, dc_lease: int = 7) -> Snapshot:
    members = {"a": Member(rec.MemberRecord("a", 7, "", 1, 0.0), 3)}
    dc = Dc(rec.DcRecord(dc_node, dc_lease, 0.0), 5) if dc_node else None
    return Snapshot(10, members=members, dc=dc)


def test_roles_and_the_dc_guard() -> None:
    assert lifecycle.role(_snap(None), "a", 7, False) == "elect"
    assert lifecycle.role(_snap(None), "a", 7, True) == "wait"
    assert lifecycle.role(_snap("b"), "a", 7, False) == "follower"
    assert lifecycle.role(_snap("a", dc_lease=6), "a", 7, False) == "follower"
    assert lifecycle.role(_snap("a"), "a", 7, False) == "dc"
    keys = Keys("/vigil", "c")
    assert lifecycle.dc_guard(keys, 5, 7) == [Compare("/vigil/c/dc", "create", "=", 5),
                                              Compare("/vigil/c/dc", "lease", "=", 7)]
    assert lifecycle.member_is_ours(_snap(None), "a", 7)
    assert not lifecycle.member_is_ours(_snap(None), "a", 8)
    assert not lifecycle.member_is_ours(_snap(None), "b", 7)


def test_deputy_delay_only_in_two_node_clusters() -> None:
    cfg = _cfg()
    assert lifecycle.deputy_delay(cfg) == 2 * cfg.heartbeat.timeout
    three = ClusterConfig("c", (NodeConfig("a", "198.18.0.1"), NodeConfig("b", "198.18.0.2"),
                                NodeConfig("c", "198.18.0.3")))
    assert lifecycle.deputy_delay(three) == 0.0


def test_interrupted_resources_and_stop_targets() -> None:
    t = rec.TransitionRecord(4, "a", 5, (Action(1, "a", "r1", "start"),
                                         Action(2, "a", "r2", "stop")))
    old = rec.ResultsRecord(4, frozenset({1}))
    assert lifecycle.interrupted_resources(t, old) == {"r1"}
    assert lifecycle.interrupted_resources(t, rec.ResultsRecord(3, frozenset({1}))) == set()
    assert lifecycle.interrupted_resources(None, old) == set()
    cfg = _cfg()
    assert [r.id for r in lifecycle.stop_targets(cfg, {})] == ["r1"]  # unknown: maybe on
    assert lifecycle.stop_targets(cfg, {"r1": RscState.STOPPED}) == []


def test_stored_config_is_used_only_whole_valid_and_naming_us() -> None:
    bad = lifecycle.read_stored_config(rec.ConfigRecord(2, YAML + "oops: [\n"), "a")
    assert bad.config is None and "version 2 is invalid" in bad.problem
    other = lifecycle.read_stored_config(rec.ConfigRecord(3, YAML), "zz")
    assert other.config is None and "has no node zz" in other.problem
    cfg = _cfg()
    smaller = ClusterConfig(cfg.name, cfg.nodes, resources=())
    assert [r.id for r in lifecycle.removed_resources(cfg, smaller)] == ["r1"]
    assert isinstance(cfg.resources[0], Resource)
    assert Timings().lease_ttl == 2.0
