"""What the executor derives for clones: instance ids it can run, the clone meta its
agents get, and the promoted role's monitor (pure parts; agents run in integration)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, cast

from vigil.agents.base import NodeContext
from vigil.agents.clone_env import clone_meta, resolve_resource
from vigil.model.config import Clone, ClusterConfig, Group, NodeConfig, Operations, Resource
from vigil.model.state import RscState
from vigil.runtime.executor import Executor

OPS = Operations(20, 20, 10, 20)
CFG = ClusterConfig(
    "t", (NodeConfig("n1", "198.18.0.1"), NodeConfig("n2", "198.18.0.2")),
    resources=(Resource("db", "ocf:pacemaker:Stateful", {}, OPS),
               Resource("w", "ocf:heartbeat:Dummy", {}, OPS),
               Resource("a", "ocf:heartbeat:Dummy", {}, OPS),
               Resource("b", "ocf:heartbeat:Dummy", {}, OPS),
               Resource("solo", "ocf:heartbeat:Dummy",
                        {}, Operations(20, 20, 10, 20, monitor_promoted_interval=3.0))),
    groups=(Group("g", ("a", "b")),),
    clones=(Clone("db-clone", "db", promotable=True, promoted_max=1),
            Clone("w-clone", "w", clone_max=3, unique=True),
            Clone("g-clone", "g", notify=True)),
)


def test_clone_meta_as_pacemaker_passes_it() -> None:
    assert clone_meta(CFG, "db") == {
        "clone_max": "2", "clone_node_max": "1", "globally_unique": "false",
        "notify": "false", "promotable": "true", "promoted_max": "1",
        "promoted_node_max": "1", "master_max": "1", "master_node_max": "1"}
    assert clone_meta(CFG, "w:2")["clone"] == "2"
    assert clone_meta(CFG, "w:2")["globally_unique"] == "true"
    assert clone_meta(CFG, "b")["notify"] == "true"  # a member of a cloned group
    assert clone_meta(CFG, "solo") == {}


def test_instance_ids_resolve_to_their_primitive() -> None:
    rsc = resolve_resource(CFG, "w:1")
    assert rsc is not None and rsc.id == "w:1" and rsc.agent == "ocf:heartbeat:Dummy"
    assert resolve_resource(CFG, "db:1") is None  # anonymous: the instance is "db"
    assert resolve_resource(CFG, "db") is CFG.resources[0]


def test_promoted_monitor_interval_and_unique_instances(tmp_path: Path) -> None:
    ex = Executor(NodeContext("n1", tmp_path), cast(Any, None), lambda why: None)
    solo = CFG.resources[4]
    assert ex.monitor_interval(CFG.resources[0]) == 10
    ex.promoted["db"] = True
    assert ex.monitor_interval(CFG.resources[0]) == 11  # default: monitor + 1 s
    ex.promoted["solo"] = True
    assert ex.monitor_interval(solo) == 3
    # The promoted monitor's own timeout, when set; else the monitor's.
    assert ex.op_timeout(solo, "monitor") == 20
    timed = replace(solo, ops=replace(solo.ops, monitor_promoted_timeout=7.0))
    assert ex.op_timeout(timed, "monitor") == 7.0
    ex.promoted["solo"] = False
    assert ex.op_timeout(timed, "monitor") == 20 and ex.op_timeout(timed, "start") == 20
    ex.local["w:1"] = RscState.STARTED
    assert [r.id for r in ex.resources(CFG)][-1] == "w:1"
