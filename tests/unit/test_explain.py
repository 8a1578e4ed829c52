"""`vigil explain`: every node's score, each part's reason, and the plain-words summary."""

from __future__ import annotations

from vigil.api.explain import explain, render_explain
from vigil.core import records as rec
from vigil.core.membership import node_states
from vigil.core.snapshot import Member, Snapshot
from vigil.model.config import (
    ClusterConfig,
    LocationConstraint,
    NodeConfig,
    Operations,
    Resource,
    ResourceMeta,
)
from vigil.model.state import FailCount, ResourceStatus, RscState

OPS = Operations(20, 20, 10, 20)
CFG = ClusterConfig(
    "c", tuple(NodeConfig(n, "127.0.0.1", api_port=7400 + i) for i, n in enumerate("abc")),
    resources=(Resource("web", "process", {"command": "x"}, OPS,
                        ResourceMeta(stickiness=10, migration_threshold=2)),),
    locations=(LocationConstraint("prefer-b", "web", "b", 50),),
)


def members(*names: str) -> dict[str, Member]:
    return {n: Member(rec.MemberRecord(n, 1, "", 1, 0.0), i + 1) for i, n in enumerate(names)}


def test_explain_names_every_contribution_and_the_winner() -> None:
    snap = Snapshot(
        1, members=members("a", "b", "c"),
        statuses={("a", "web"): ResourceStatus("a", "web", RscState.STARTED)},
        failures={("b", "web"): FailCount("b", "web", 2, 90.0, "monitor", 7, "died")},
        node_attrs={"c": rec.NodeAttrs(standby=True)})
    view = node_states(CFG, snap, {}, frozenset(), 0.0)
    doc = explain(CFG, snap, view, "web", 100.0)
    assert doc["target"] == "a" and doc["running_on"] == ["a"]
    by = {n["node"]: n for n in doc["nodes"]}
    assert by["a"]["score"] == 10 and "stick" in by["a"]["parts"][0]["why"]
    assert by["b"]["score"] == -1_000_000  # 50 from prefer-b, but the threshold bans it
    whys = " | ".join(p["why"] for p in by["b"]["parts"])
    assert "prefer-b" in whys and "fail" in whys
    assert by["c"]["can_host"] is False and by["c"]["why_not_host"] == "in standby"
    text = render_explain(doc)
    assert text.startswith("web runs on a:")
    assert "* a" in text and "-INFINITY" in text and "cannot host: in standby" in text


def test_nowhere_to_run_is_said_plainly() -> None:
    snap = Snapshot(1, members=members("a"))
    view = node_states(CFG, snap, {}, frozenset(), 0.0)
    doc = explain(CFG, snap, view, "web", 100.0)
    assert doc["target"] == "a"
    stopped = Snapshot(1, members=members("a"), target_roles={"web": "Stopped"})
    doc = explain(CFG, stopped, view, "web", 100.0)
    assert doc["target"] is None and doc["summary"].startswith("web cannot run anywhere now")


def _model_config() -> ClusterConfig:
    from vigil.model.load import load_config_text

    return load_config_text("""
cluster: c
nodes:
  - {name: a, address: 127.0.0.1}
  - {name: b, address: 127.0.0.2, attributes: {disk: ssd}}
resources:
  - {id: ip, agent: ocf:heartbeat:Dummy}
  - {id: web, agent: ocf:heartbeat:Dummy}
  - {id: db, agent: ocf:pacemaker:Stateful}
groups:
  - {id: stack, members: [ip, web]}
clones:
  - {id: db-clone, resource: db, promotable: true}
constraints:
  location:
    - id: fast-disk
      resource: stack
      rules: [{score: 30, expressions: [{attribute: disk, op: eq, value: ssd}]}]
    - {id: web-not-b, resource: web, node: b, score: -10}
""")


def test_explain_a_group_shows_rules_and_members_preferences() -> None:
    cfg = _model_config()
    snap = Snapshot(1, members=members("a", "b"))
    view = node_states(cfg, snap, {}, frozenset(), 0.0)
    doc = explain(cfg, snap, view, "stack", 100.0)
    assert doc["target"] == "b" and [i["instance"] for i in doc["instances"]] == ["ip", "web"]
    by = {n["node"]: n for n in doc["nodes"]}
    assert by["b"]["score"] == 20
    whys = [p["why"] for p in by["b"]["parts"]]
    assert whys == ["location fast-disk rule (disk eq ssd) gives b 30",
                    "with web (group stack): location web-not-b gives b -10"]
    assert "stack" in render_explain(doc)


def test_explain_a_promotable_clone_names_roles_and_promotion_scores() -> None:
    cfg = _model_config()
    snap = Snapshot(
        1, members=members("a", "b"),
        statuses={("a", "db"): ResourceStatus("a", "db", RscState.STARTED, "start"),
                  ("b", "db"): ResourceStatus("b", "db", RscState.STARTED, "promote")},
        attributes={"a": {"master-db": rec.AttributeRecord("5", "reboot")},
                    "b": {"master-db": rec.AttributeRecord("10", "reboot")}})
    view = node_states(cfg, snap, {}, frozenset(), 0.0)
    doc = explain(cfg, snap, view, "db-clone", 100.0)
    roles = {i["instance"]: (i["node"], i["role"]) for i in doc["instances"]}
    assert roles == {"db:0": ("a", "Unpromoted"), "db:1": ("b", "Promoted")}
    assert doc["running_on"] == ["a", "b"]
    promoted = next(i for i in doc["instances"] if i["role"] == "Promoted")
    assert "promotion score 10" in promoted["reason"]
    assert explain(cfg, snap, view, "db", 100.0)["resource"] == "db-clone"
    assert "db:1" in render_explain(doc) and "(Promoted)" in render_explain(doc)
