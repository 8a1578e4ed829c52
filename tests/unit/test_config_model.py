"""The resource model in the YAML config: groups, clones, meta, on_fail, rules, roles,
order actions, sets, placement strategy, node attributes and capacities — what loads,
and every mistake reported at its line with a fix."""

from __future__ import annotations

import pytest

from vigil.model.config import (
    Clone,
    ColocationConstraint,
    Group,
    OrderConstraint,
    ResourceSet,
    Rule,
    RuleExpression,
)
from vigil.model.load import ConfigInvalid, load_config_text

HEAD = """cluster: t
nodes:
  - {name: n1, address: 10.0.0.1, attributes: {rack: r1}, capacity: {cpu: 8}}
  - {name: n2, address: 10.0.0.2}
resources:
  - {id: a, agent: ocf:heartbeat:Dummy}
  - {id: b, agent: ocf:heartbeat:Dummy}
  - id: db
    agent: ocf:pacemaker:Stateful
    operations:
      monitor: {interval: 10s, on_fail: restart}
      monitor_promoted: {interval: 11s, timeout: 40s, on_fail: demote}
      promote: {timeout: 30s, on_fail: demote}
      stop: {on_fail: block}
    meta: {priority: 5, is_managed: false, multiple_active: stop_only}
    utilization: {cpu: 2}
"""


def test_the_whole_model_loads() -> None:
    cfg = load_config_text(HEAD + """placement_strategy: balanced
symmetric_cluster: false
batch_limit: 4
groups:
  - {id: g, members: [a, b], meta: {stickiness: 50}}
clones:
  - {id: db-clone, resource: db, promotable: true, clone_max: 2, promoted_max: 1}
  - {id: g-clone, resource: g, interleave: true}
constraints:
  location:
    - id: r
      resource: g-clone
      rules:
        - score: 10
          boolean_op: or
          expressions:
            - {attribute: rack, op: eq, value: r1}
            - rule: {expressions: [{attribute: n, op: gt, value: 2, type: integer}]}
    - {resource: db-clone, node: n1, score: 20, role: Master}
  colocation:
    - {resource: g-clone, with: db-clone, with_role: Promoted, score: INFINITY}
    - id: s
      score: -INFINITY
      sets: [{resources: [a, b], sequential: false}, {resources: [db-clone], role: Promoted}]
  order:
    - {first: db-clone, first_action: promote, then: g-clone, then_action: start}
    - {first: a, then: b, kind: Serialize}
    - id: os
      kind: Optional
      sets: [{resources: [a], require_all: false}, {resources: [b], action: stop}]
""")
    assert cfg.placement_strategy == "balanced" and not cfg.symmetric_cluster
    assert cfg.batch_limit == 4
    assert cfg.nodes[0].attributes == {"rack": "r1"} and cfg.nodes[0].capacity == {"cpu": 8}
    db = cfg.resource("db")
    assert db.utilization == {"cpu": 2}
    assert db.ops.monitor_promoted_interval == 11 and db.ops.promote_timeout == 30
    assert db.ops.monitor_promoted_timeout == 40
    assert dict(db.ops.on_fail) == {"monitor": "restart", "monitor_promoted": "demote",
                                    "promote": "demote", "stop": "block"}
    assert db.ops.on_fail_for("monitor_promoted", fencing=True) == "demote"
    assert db.ops.on_fail_for("start", fencing=True) == "restart"
    assert db.meta.priority == 5 and not db.meta.is_managed
    assert db.meta.multiple_active == "stop_only"
    assert db.meta.explicit == {"priority", "is_managed", "multiple_active"}
    assert cfg.groups == (Group("g", ("a", "b"), cfg.groups[0].meta),)
    assert cfg.groups[0].meta.stickiness == 50 and cfg.groups[0].meta.explicit == {"stickiness"}
    assert cfg.clones[0] == Clone("db-clone", "db", 2, promotable=True, promoted_max=1,
                                  meta=cfg.clones[0].meta)
    assert cfg.clones[1].interleave and cfg.clones[1].child == "g"
    rule = cfg.locations[0].rules[0]
    assert rule == Rule(10, (RuleExpression("rack", "eq", "r1"),
                             Rule(0, (RuleExpression("n", "gt", "2", "integer"),))), "or")
    assert cfg.locations[1].role == "Promoted"
    assert cfg.colocations[0] == ColocationConstraint(
        "colocation-g-clone-db-clone", "g-clone", "db-clone", 1_000_000, None, "Promoted")
    assert cfg.colocation_sets[0].sets == (ResourceSet(("a", "b"), False),
                                           ResourceSet(("db-clone",), role="Promoted"))
    assert cfg.orders[0] == OrderConstraint("order-db-clone-g-clone", "db-clone", "g-clone",
                                            "Mandatory", True, "promote", "start")
    assert cfg.orders[1].kind == "Serialize" and not cfg.orders[1].symmetrical
    assert cfg.order_sets[0].sets[0].require_all is False
    assert cfg.order_sets[0].sets[1].action == "stop"


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ("groups:\n  - {id: g, members: [a, nope]}\n", "groups[g].members[1]",
         "not a resource defined"),
        ("groups:\n  - {id: g, members: [a]}\n  - {id: h, members: [a]}\n",
         "groups[h].members[0]", "already a member of group 'g'"),
        ("groups:\n  - {id: a, members: [b]}\n", "groups[a].id", "share one namespace"),
        ("groups:\n  - {id: g, members: [a]}\nclones:\n  - {id: c, resource: a}\n",
         "clones[c].resource", "clone the group instead"),
        ("clones:\n  - {id: c, resource: a, clone_node_max: 2}\n", "clones[c].clone_node_max",
         "unique: true"),
        ("groups:\n  - {id: g, members: [db]}\nclones:\n  - {id: c, resource: g,"
         " promotable: true}\n", "clones[c].promotable", "promotable clones of groups"),
        ("  - {id: x, agent: process, params: {command: x}}\nclones:\n"
         "  - {id: c, resource: x, promotable: true}\n", "clones[c].resource",
         "only OCF agents"),
        ("  - {id: x, agent: ocf:heartbeat:Dummy, meta: {target_role: Promoted}}\n",
         "resources[x].meta.target_role", "only for resources in a promotable clone"),
        ("constraints:\n  order:\n    - {first: a, first_action: promote, then: b,"
         " then_action: start}\n", "constraints.order[0].first_action",
         "needs a promotable clone"),
        ("clones:\n  - {id: c, resource: db, promotable: true}\nconstraints:\n  order:\n"
         "    - {first: c, first_action: promote, then: a}\n",
         "constraints.order[0].then_action", "add then_action: start"),
        ("constraints:\n  location:\n    - {resource: a, rules: [{expressions: "
         "[{attribute: x, op: defined}]}]}\n", "constraints.location[0].rules[0].score",
         "score_attribute"),
        ("constraints:\n  location:\n    - {resource: a, node: n1, score: 1, rules: "
         "[{score: 1, expressions: [{attribute: x, op: defined}]}]}\n",
         "constraints.location[0].node", "not both"),
        ("constraints:\n  location:\n    - {resource: a, rules: [{score: 1, expressions: "
         "[{attribute: x, op: like, value: y}]}]}\n",
         "constraints.location[0].rules[0].expressions[0].op", "expected one of"),
        ("placement_strategy: greedy\n", "placement_strategy", "balanced"),
        ("  - {id: x, agent: ocf:heartbeat:Dummy, utilization: {cpu: -1}}\n",
         "resources[x].utilization.cpu", "whole number"),
        ("  - {id: x, agent: ocf:heartbeat:Dummy, operations: {monitor: {on_fail: retry}}}\n",
         "resources[x].operations.monitor.on_fail", "restart"),
    ],
)
def test_model_mistakes_are_reported_with_a_fix(body: str, field: str, says: str) -> None:
    with pytest.raises(ConfigInvalid) as caught:
        load_config_text(HEAD + body, "c.yaml")
    problems = caught.value.problems
    assert [p.field for p in problems] == [field], problems
    assert says in problems[0].message
    assert problems[0].line is not None
