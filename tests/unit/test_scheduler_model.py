"""Golden cases for groups, clones, promotable clones, meta, on_fail, rules, order kinds,
sets, placement strategies and node states: YAML config + state in, exact transition out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from scheduler_model_support import apply, dummy, render, scores, where, yconf, ystate

from vigil.model.config import ClusterConfig
from vigil.model.state import ClusterState, FailCount
from vigil.scheduler import schedule

INF = "INFINITY"


@dataclass(frozen=True)
class Case:
    name: str
    config: ClusterConfig
    state: ClusterState
    actions: list[str]
    placements: dict[str, str | None]
    reasons: dict[str, str] = field(default_factory=dict)
    """Action id (as str) or instance -> a fragment of its reason."""


GROUP = "resources:\n" + dummy("ip web db") + "groups:\n  - {id: stack, members: [ip, web, db]}\n"
CLONE = "resources:\n" + dummy("ping") + "clones:\n  - {id: ping-clone, resource: ping}\n"
STATEFUL = (
    "resources:\n" + dummy("db", "ocf:pacemaker:Stateful")
    + "clones:\n  - {id: db-clone, resource: db, promotable: true}\n"
)


def fail(node: str, rid: str, count: int = 1, op: str = "monitor") -> FailCount:
    return FailCount(node, rid, count, 990.0, op=op, rc=7)


CASES = [
    # --- groups ---------------------------------------------------------------------
    Case(
        "group: members start in order on one node",
        yconf("n1 n2", GROUP),
        ystate("n1 n2"),
        ["1 start ip@n1", "2 start web@n1 after 1", "3 start db@n1 after 2"],
        {"ip": "n1", "web": "n1", "db": "n1"},
    ),
    Case(
        "group: stopped in reverse order (target_role on the group)",
        yconf("n1 n2", GROUP.replace("members: [ip, web, db]}",
                                     "members: [ip, web, db], meta: {target_role: Stopped}}")),
        ystate("n1 n2", {"ip@n1": "started", "web@n1": "started", "db@n1": "started"}),
        ["1 stop db@n1", "2 stop web@n1 after 1", "3 stop ip@n1 after 2"],
        {"ip": None, "web": None, "db": None},
        {"1": "target-role Stopped"},
    ),
    Case(
        "group: a location on the group moves every member",
        yconf("n1 n2", GROUP + "constraints:\n  location:\n"
              "    - {resource: stack, node: n2, score: 100}\n"),
        ystate("n1 n2"),
        ["1 start ip@n2", "2 start web@n2 after 1", "3 start db@n2 after 2"],
        {"ip": "n2", "web": "n2", "db": "n2"},
    ),
    Case(
        "group: a later member's ban takes the whole group elsewhere",
        yconf("n1 n2", GROUP + "constraints:\n  location:\n"
              "    - {resource: db, node: n1, score: -INFINITY}\n"),
        ystate("n1 n2"),
        ["1 start ip@n2", "2 start web@n2 after 1", "3 start db@n2 after 2"],
        {"ip": "n2", "web": "n2", "db": "n2"},
    ),
    Case(
        "group: a member that can run nowhere stops the members after it only",
        yconf("n1 n2", GROUP + "constraints:\n  location:\n"
              "    - {resource: web, node: n1, score: -INFINITY}\n"
              "    - {resource: web, node: n2, score: -INFINITY}\n"),
        ystate("n1 n2"),
        ["1 start ip@n1"],
        {"ip": "n1", "web": None, "db": None},
    ),
    Case(
        "group: members' stickiness adds up and keeps the group in place",
        yconf("n1 n2", GROUP.replace("members: [ip, web, db]}",
                                     "members: [ip, web, db], meta: {stickiness: 40}}")
              + "constraints:\n  location:\n    - {resource: stack, node: n2, score: 100}\n"),
        ystate("n1 n2", {"ip@n1": "started", "web@n1": "started", "db@n1": "started"}),
        [],
        {"ip": "n1", "web": "n1", "db": "n1"},
    ),
    Case(
        "group: a failed member is recovered, restarting the members after it",
        yconf("n1 n2", GROUP),
        ystate("n1 n2", {"ip@n1": "started", "web@n1": "failed", "db@n1": "started"},
               [fail("n1", "web")]),
        ["1 stop db@n1", "2 stop web@n1 after 1", "3 start web@n1 after 2",
         "4 start db@n1 after 1,3"],
        {"ip": "n1", "web": "n1", "db": "n1"},
        {"2": "web: recovering on n1 after monitor failure"},
    ),
    Case(
        "group: migration-threshold on a member moves the group",
        yconf("n1 n2", GROUP.replace("members: [ip, web, db]}",
                                     "members: [ip, web, db], meta: {migration_threshold: 1}}")),
        ystate("n1 n2", {"ip@n1": "started", "web@n1": "failed", "db@n1": "started"},
               [fail("n1", "web")]),
        ["1 stop db@n1", "2 stop web@n1 after 1", "3 stop ip@n1 after 2",
         "4 start ip@n2 after 3", "5 start web@n2 after 2,4", "6 start db@n2 after 1,5"],
        {"ip": "n2", "web": "n2", "db": "n2"},
    ),
    Case(
        "group: colocation and order with another resource name the group",
        yconf("n1 n2", "resources:\n" + dummy("fs ip web") + "groups:\n"
              "  - {id: app, members: [ip, web]}\n"
              "constraints:\n  location:\n    - {resource: fs, node: n2, score: 10}\n"
              "  colocation:\n    - {resource: app, with: fs, score: INFINITY}\n"
              "  order:\n    - {first: fs, then: app}\n"),
        ystate("n1 n2"),
        ["1 start fs@n2", "2 start ip@n2 after 1", "3 start web@n2 after 2"],
        {"fs": "n2", "ip": "n2", "web": "n2"},
    ),
    # --- clones ---------------------------------------------------------------------
    Case(
        "clone: one instance per node",
        yconf("n1 n2 n3", CLONE),
        ystate("n1 n2 n3"),
        ["1 start ping:0@n1", "2 start ping:1@n2", "3 start ping:2@n3"],
        {"ping:0": "n1", "ping:1": "n2", "ping:2": "n3"},
    ),
    Case(
        "clone: clone_max limits the instances; running ones stay",
        yconf("n1 n2 n3", CLONE.replace("resource: ping}", "resource: ping, clone_max: 2}")),
        ystate("n1 n2 n3", {"ping@n3": "started"}),
        ["1 start ping:1@n1"],
        {"ping:0": "n3", "ping:1": "n1"},
    ),
    Case(
        "clone: instances beyond clone_max are stopped",
        yconf("n1 n2 n3", CLONE.replace("resource: ping}", "resource: ping, clone_max: 1}")),
        ystate("n1 n2 n3", {"ping@n1": "started", "ping@n2": "started"}),
        ["1 stop ping:1@n2"],
        {"ping:0": "n1", "ping:1": None},
        {"1": "orphan"},
    ),
    Case(
        "clone: a standby node's instance stops, no second instance elsewhere",
        yconf("n1 n2 n3:standby", CLONE),
        ystate("n1 n2 n3:standby", {"ping@n1": "started", "ping@n2": "started",
                                    "ping@n3": "started"}),
        ["1 stop ping:2@n3"],
        {"ping:0": "n1", "ping:1": "n2", "ping:2": None},
    ),
    Case(
        "clone: a failed instance recovers on its node",
        yconf("n1 n2", CLONE),
        ystate("n1 n2", {"ping@n1": "started", "ping@n2": "failed"}, [fail("n2", "ping")]),
        ["1 stop ping:1@n2", "2 start ping:1@n2 after 1"],
        {"ping:0": "n1", "ping:1": "n2"},
    ),
    Case(
        "unique clone: instances are distinct resources, two per node allowed",
        yconf("n1 n2", "resources:\n" + dummy("w") + "clones:\n"
              "  - {id: w-clone, resource: w, unique: true, clone_max: 3, clone_node_max: 2}\n"),
        ystate("n1 n2", {"w:1@n2": "started"}),
        ["1 start w:0@n1", "2 start w:2@n1"],
        {"w:0": "n1", "w:1": "n2", "w:2": "n1"},
    ),
    Case(
        "clone: a primitive colocated with a clone runs where an instance runs",
        yconf("n1 n2 n3", "resources:\n" + dummy("ping web") +
              "clones:\n  - {id: ping-clone, resource: ping, clone_max: 2}\n"
              "constraints:\n  location:\n    - {resource: web, node: n3, score: 50}\n"
              "    - {resource: ping-clone, node: n3, score: -INFINITY}\n"
              "  colocation:\n    - {resource: web, with: ping-clone, score: INFINITY}\n"),
        ystate("n1 n2 n3"),
        ["1 start ping:0@n1", "2 start ping:1@n2", "3 start web@n1"],
        {"ping:0": "n1", "ping:1": "n2", "web": "n1"},
    ),
    Case(
        "clone of a group: each instance is a group on its node",
        yconf("n1 n2", "resources:\n" + dummy("a b") + "groups:\n  - {id: g, members: [a, b]}\n"
              "clones:\n  - {id: g-clone, resource: g}\n"),
        ystate("n1 n2"),
        ["1 start a:0@n1", "2 start b:0@n1 after 1", "3 start a:1@n2",
         "4 start b:1@n2 after 3"],
        {"a:0": "n1", "b:0": "n1", "a:1": "n2", "b:1": "n2"},
    ),
    Case(
        "clone order: without interleave every instance of first comes before then",
        yconf("n1 n2", "resources:\n" + dummy("a b") + "clones:\n"
              "  - {id: a-clone, resource: a}\n  - {id: b-clone, resource: b}\n"
              "constraints:\n  order:\n    - {first: a-clone, then: b-clone}\n"),
        ystate("n1 n2"),
        ["1 start a:0@n1", "2 start a:1@n2", "3 start b:0@n1 after 1,2",
         "4 start b:1@n2 after 1,2"],
        {"a:0": "n1", "a:1": "n2", "b:0": "n1", "b:1": "n2"},
    ),
    Case(
        "clone order: interleave pairs instances by node",
        yconf("n1 n2", "resources:\n" + dummy("a b") + "clones:\n"
              "  - {id: a-clone, resource: a}\n  - {id: b-clone, resource: b, interleave: true}\n"
              "constraints:\n  order:\n    - {first: a-clone, then: b-clone}\n"),
        ystate("n1 n2"),
        ["1 start a:0@n1", "2 start a:1@n2", "3 start b:0@n1 after 1", "4 start b:1@n2 after 2"],
        {"a:0": "n1", "a:1": "n2", "b:0": "n1", "b:1": "n2"},
    ),
    Case(
        "clone ordered: instances start one after the other",
        yconf("n1 n2 n3", CLONE.replace("resource: ping}", "resource: ping, ordered: true}")),
        ystate("n1 n2 n3"),
        ["1 start ping:0@n1", "2 start ping:1@n2 after 1", "3 start ping:2@n3 after 2"],
        {"ping:0": "n1", "ping:1": "n2", "ping:2": "n3"},
    ),
    # --- promotable clones ------------------------------------------------------------
    Case(
        "promotable: start everywhere, promote the best score after its start",
        yconf("n1 n2", STATEFUL),
        ystate("n1 n2", attrs={"n1": {"master-db": "5"}, "n2": {"master-db": "10"}}),
        # As crm_simulate: the first instance goes where the promotion score is best.
        ["1 start db:0@n2", "2 start db:1@n1", "3 promote db:0@n2 after 1"],
        {"db:0": "n2 Promoted", "db:1": "n1 Unpromoted"},
        {"db:0": "promotion score 10"},
    ),
    Case(
        "promotable: no promotion score, no promotion",
        yconf("n1 n2", STATEFUL),
        ystate("n1 n2", {"db@n1": "started", "db@n2": "started"}),
        [],
        {"db:0": "n1 Unpromoted", "db:1": "n2 Unpromoted"},
        {"db:0": "no promotion score"},
    ),
    Case(
        "promotable: the promoted instance stays on a tie",
        yconf("n1 n2", STATEFUL),
        ystate("n1 n2", {"db@n1": "started", "db@n2": "promoted"}, attrs=scores(5, "n1 n2", "db")),
        [],
        {"db:0": "n1 Unpromoted", "db:1": "n2 Promoted"},
    ),
    Case(
        "promotable: promotion moves: demote before promote",
        yconf("n1 n2", STATEFUL),
        ystate("n1 n2", {"db@n1": "started", "db@n2": "promoted"},
               attrs={"n1": {"master-db": "100"}, "n2": {"master-db": "5"}}),
        ["1 demote db:1@n2", "2 promote db:0@n1 after 1"],
        {"db:0": "n1 Promoted", "db:1": "n2 Unpromoted"},
    ),
    Case(
        "promotable: the promoted node goes to standby: demote, stop, promote the other",
        yconf("n1 n2:standby", STATEFUL),
        ystate("n1 n2:standby", {"db@n1": "started", "db@n2": "promoted"},
               attrs=scores(5, "n1 n2", "db")),
        ["1 demote db:1@n2", "2 stop db:1@n2 after 1", "3 promote db:0@n1 after 1"],
        {"db:0": "n1 Promoted", "db:1": None},
    ),
    Case(
        "promotable: target_role Unpromoted demotes",
        yconf("n1 n2", STATEFUL.replace("promotable: true}",
                                        "promotable: true, meta: {target_role: Unpromoted}}")),
        ystate("n1 n2", {"db@n1": "promoted", "db@n2": "started"}, attrs=scores(5, "n1 n2", "db")),
        ["1 demote db:0@n1"],
        {"db:0": "n1 Unpromoted", "db:1": "n2 Unpromoted"},
    ),
    Case(
        "promotable: a failed promoted instance: demote, stop, start, promote",
        yconf("n1 n2", STATEFUL),
        ystate("n1 n2", {"db@n1": "failed-promoted", "db@n2": "started"},
               [fail("n1", "db")], attrs={"n1": {"master-db": "10"}, "n2": {"master-db": "5"}}),
        ["1 demote db:0@n1", "2 stop db:0@n1 after 1", "3 start db:0@n1 after 2",
         "4 promote db:0@n1 after 1,3"],
        {"db:0": "n1 Promoted", "db:1": "n2 Unpromoted"},
    ),
    Case(
        "promotable: location with role Promoted picks the promoted node",
        yconf("n1 n2", STATEFUL + "constraints:\n  location:\n"
              "    - {resource: db-clone, node: n1, score: 50, role: Promoted}\n"),
        ystate("n1 n2", {"db@n1": "started", "db@n2": "started"}, attrs=scores(5, "n1 n2", "db")),
        ["1 promote db:0@n1"],
        {"db:0": "n1 Promoted", "db:1": "n2 Unpromoted"},
    ),
    Case(
        "promotable: an IP colocated with the Promoted role, started after the promote",
        yconf("n1 n2", "resources:\n" + dummy("db", "ocf:pacemaker:Stateful") + dummy("vip")
              + "clones:\n  - {id: db-clone, resource: db, promotable: true}\n"
              "constraints:\n  colocation:\n"
              "    - {resource: vip, with: db-clone, with_role: Promoted, score: INFINITY}\n"
              "  order:\n    - {first: db-clone, first_action: promote, then: vip,"
              " then_action: start}\n"),
        ystate("n1 n2", {"db@n1": "started", "db@n2": "started"},
               attrs={"n1": {"master-db": "5"}, "n2": {"master-db": "10"}}),
        ["1 promote db:1@n2", "2 start vip@n2 after 1"],
        {"db:0": "n1 Unpromoted", "db:1": "n2 Promoted", "vip": "n2"},
    ),
    Case(
        "promotable: the IP's preference pulls the promotion",
        yconf("n1 n2", "resources:\n" + dummy("db", "ocf:pacemaker:Stateful") + dummy("vip")
              + "clones:\n  - {id: db-clone, resource: db, promotable: true}\n"
              "constraints:\n  location:\n    - {resource: vip, node: n1, score: 100}\n"
              "  colocation:\n"
              "    - {resource: vip, with: db-clone, with_role: Promoted, score: INFINITY}\n"),
        ystate("n1 n2", {"db@n1": "started", "db@n2": "started"}, attrs=scores(5, "n1 n2", "db")),
        ["1 start vip@n1", "2 promote db:0@n1"],
        {"db:0": "n1 Promoted", "db:1": "n2 Unpromoted", "vip": "n1"},
    ),
    Case(
        "promotable: promoted_max 2",
        yconf("n1 n2 n3", STATEFUL.replace("promotable: true}",
                                           "promotable: true, promoted_max: 2}")),
        ystate("n1 n2 n3", {"db@n1": "started", "db@n2": "started", "db@n3": "started"},
               attrs={"n1": {"master-db": "1"}, "n2": {"master-db": "3"},
                      "n3": {"master-db": "2"}}),
        ["1 promote db:1@n2", "2 promote db:2@n3"],
        {"db:0": "n1 Unpromoted", "db:1": "n2 Promoted", "db:2": "n3 Promoted"},
    ),
    Case(
        "promotable: the Promoted role colocated with a primitive follows it",
        yconf("n1 n2", "resources:\n" + dummy("db", "ocf:pacemaker:Stateful") + dummy("fs")
              + "clones:\n  - {id: db-clone, resource: db, promotable: true}\n"
              "constraints:\n  location:\n    - {resource: fs, node: n2, score: 50}\n"
              "  colocation:\n    - {resource: db-clone, role: Promoted, with: fs,"
              " score: INFINITY}\n"),
        ystate("n1 n2", {"db@n1": "promoted", "db@n2": "started", "fs@n2": "started"},
               attrs=scores(5, "n1 n2", "db")),
        ["1 demote db:0@n1", "2 promote db:1@n2 after 1"],
        {"db:0": "n1 Unpromoted", "db:1": "n2 Promoted", "fs": "n2"},
        {"db:0": "the promoted instance must run with fs"},
    ),
    Case(
        # Pacemaker's documentation: on-fail=demote does not change how promotion is
        # decided; crm_simulate prints "Re-promote db:0 ( Promoted node1 )".
        "promotable: on_fail demote: a failed promoted monitor demotes, promoted again "
        "in place when still the best",
        yconf("n1 n2", "resources:\n  - {id: db, agent: ocf:pacemaker:Stateful,"
              " operations: {monitor: {on_fail: demote}}}\n"
              "clones:\n  - {id: db-clone, resource: db, promotable: true}\n"),
        ystate("n1 n2", {"db@n1": "failed-promoted", "db@n2": "started"},
               [fail("n1", "db")], attrs={"n1": {"master-db": "10"}, "n2": {"master-db": "5"}}),
        ["1 demote db:0@n1", "2 promote db:0@n1 after 1"],
        {"db:0": "n1 Promoted", "db:1": "n2 Unpromoted"},
        {"1": "on_fail demote"},
    ),
    Case(
        "promotable: monitor_promoted on_fail demote: demote, promote where the score is best",
        yconf("n1 n2", "resources:\n  - {id: db, agent: ocf:pacemaker:Stateful,"
              " operations: {monitor_promoted: {interval: 9s, on_fail: demote}}}\n"
              "clones:\n  - {id: db-clone, resource: db, promotable: true}\n"),
        ystate("n1 n2", {"db@n1": "failed-promoted", "db@n2": "started"},
               [fail("n1", "db")], attrs={"n1": {"master-db": "1"}, "n2": {"master-db": "5"}}),
        ["1 demote db:0@n1", "2 promote db:1@n2 after 1"],
        {"db:0": "n1 Unpromoted", "db:1": "n2 Promoted"},
        {"1": "on_fail demote"},
    ),
    Case(
        "promotable: monitor_promoted without on_fail takes the monitor's (restart)",
        yconf("n1 n2", "resources:\n  - {id: db, agent: ocf:pacemaker:Stateful,"
              " operations: {monitor_promoted: {interval: 9s}}}\n"
              "clones:\n  - {id: db-clone, resource: db, promotable: true}\n"),
        ystate("n1 n2", {"db@n1": "failed-promoted", "db@n2": "started"},
               [fail("n1", "db")], attrs={"n1": {"master-db": "10"}, "n2": {"master-db": "5"}}),
        ["1 demote db:0@n1", "2 stop db:0@n1 after 1", "3 start db:0@n1 after 2",
         "4 promote db:0@n1 after 1,3"],
        {"db:0": "n1 Promoted", "db:1": "n2 Unpromoted"},
    ),
    Case(
        "clone meta applies to its instances (stickiness keeps them in place)",
        yconf("n1 n2 n3", CLONE.replace("resource: ping}",
                                        "resource: ping, clone_max: 1, meta: {stickiness: 50}}")
              + "constraints:\n  location:\n    - {resource: ping-clone, node: n3,"
              " score: 40}\n"),
        ystate("n1 n2 n3", {"ping@n1": "started"}),
        [],
        {"ping:0": "n1"},
    ),
    Case(
        "cluster maintenance_mode: nothing is started or stopped",
        yconf("n1 n2", "maintenance_mode: true\nresources:\n" + dummy("a b")),
        ystate("n1 n2", {"a@n1": "failed"}, roles={"a": "Stopped"}),
        [],
        {"a": "n1", "b": None},
        {"b": "cluster maintenance mode"},
    ),
    # --- meta -----------------------------------------------------------------------
    Case(
        "is_managed false: left where it is, nothing done",
        yconf("n1 n2", "resources:\n  - {id: web, agent: ocf:heartbeat:Dummy,"
              " meta: {is_managed: false}}\n"
              "constraints:\n  location:\n    - {resource: web, node: n1, score: -INFINITY}\n"),
        ystate("n1 n2", {"web@n1": "started"}),
        [],
        {"web": "n1"},
        {"web": "unmanaged (is_managed false)"},
    ),
    Case(
        "maintenance meta: not started either",
        yconf("n1 n2", "resources:\n  - {id: web, agent: ocf:heartbeat:Dummy,"
              " meta: {maintenance: true}}\n"),
        ystate("n1 n2"),
        [],
        {"web": None},
    ),
    Case(
        "priority: the higher priority resource wins the only node",
        yconf("n1", "resources:\n" + dummy("low")
              + "  - {id: high, agent: ocf:heartbeat:Dummy, meta: {priority: 10}}\n"
              "constraints:\n  colocation:\n"
              "    - {resource: low, with: high, score: -INFINITY}\n"
              "    - {resource: high, with: low, score: -INFINITY}\n"),
        ystate("n1"),
        ["1 start high@n1"],
        {"low": None, "high": "n1"},
    ),
    # --- on_fail --------------------------------------------------------------------
    Case(
        "on_fail ignore: a failed monitor changes nothing",
        yconf("n1 n2", "resources:\n  - {id: web, agent: ocf:heartbeat:Dummy,"
              " operations: {monitor: {on_fail: ignore}}, meta: {migration_threshold: 1}}\n"),
        ystate("n1 n2", {"web@n1": "failed"}, [fail("n1", "web")]),
        [],
        {"web": "n1"},
    ),
    Case(
        "on_fail block: nothing is done with it",
        yconf("n1 n2", "resources:\n  - {id: web, agent: ocf:heartbeat:Dummy,"
              " operations: {monitor: {on_fail: block}}}\n"),
        ystate("n1 n2", {"web@n1": "failed"}, [fail("n1", "web")]),
        [],
        {"web": "n1"},
        {"web": "on_fail block"},
    ),
    Case(
        "on_fail stop: stopped and left stopped",
        yconf("n1 n2", "resources:\n  - {id: web, agent: ocf:heartbeat:Dummy,"
              " operations: {monitor: {on_fail: stop}}}\n"),
        ystate("n1 n2", {"web@n1": "failed"}, [fail("n1", "web")]),
        ["1 stop web@n1"],
        {"web": None},
        {"1": "on_fail stop"},
    ),
    Case(
        "on_fail standby: everything leaves the node",
        yconf("n1 n2", "resources:\n  - {id: web, agent: ocf:heartbeat:Dummy,"
              " operations: {monitor: {on_fail: standby}}}\n" + dummy("db")),
        ystate("n1 n2", {"web@n1": "failed", "db@n1": "started"}, [fail("n1", "web")]),
        ["1 stop web@n1", "2 stop db@n1", "3 start web@n2 after 1", "4 start db@n2 after 2"],
        {"web": "n2", "db": "n2"},
    ),
    Case(
        "on_fail fence: the node is fenced, its resources wait",
        yconf("n1 n2", "resources:\n  - {id: web, agent: ocf:heartbeat:Dummy,"
              " operations: {monitor: {on_fail: fence}}}\n" + dummy("db")),
        ystate("n1 n2", {"web@n1": "failed", "db@n1": "started"}, [fail("n1", "web")]),
        [],
        {"web": None, "db": None},
        {"web": "waiting for n1 to be fenced"},
    ),
    # --- rules and node attributes ------------------------------------------------------
    Case(
        "rule: a node attribute from the config",
        yconf("n1 n2", "resources:\n" + dummy("web") + "constraints:\n  location:\n"
              "    - id: ssd\n      resource: web\n      rules:\n"
              "        - {score: 100, expressions: [{attribute: disk, op: eq, value: ssd}]}\n",
              extra_nodes={"n2": "attributes: {disk: ssd}"}),
        ystate("n1 n2"),
        ["1 start web@n2"],
        {"web": "n2"},
        {"1": "score 100"},
    ),
    Case(
        "rule: ping connectivity: ban where pingd is missing or 0 (or), integers",
        yconf("n1 n2 n3", "resources:\n" + dummy("web") + "constraints:\n  location:\n"
              "    - id: connected\n      resource: web\n      rules:\n"
              "        - score: -INFINITY\n          boolean_op: or\n          expressions:\n"
              "            - {attribute: pingd, op: not_defined}\n"
              "            - {attribute: pingd, op: lte, value: 0, type: integer}\n"),
        ystate("n1 n2 n3", attrs={"n1": {"pingd": "0"}, "n3": {"pingd": "100"}}),
        ["1 start web@n3"],
        {"web": "n3"},
    ),
    Case(
        "rule: score_attribute and #uname",
        yconf("n1 n2 n3", "resources:\n" + dummy("web") + "constraints:\n  location:\n"
              "    - id: by-attr\n      resource: web\n      rules:\n"
              "        - {score_attribute: weight, expressions: [{attribute: weight,"
              " op: defined}]}\n"
              "        - {score: -INFINITY, expressions: [{attribute: '#uname', op: eq,"
              " value: n3}]}\n"),
        ystate("n1 n2 n3", attrs={"n1": {"weight": "5"}, "n2": {"weight": "20"},
                                  "n3": {"weight": "99"}}),
        ["1 start web@n2"],
        {"web": "n2"},
    ),
    # --- order kinds and sets ------------------------------------------------------------
    Case(
        "order Optional: orders the starts, never stops `then`",
        yconf("n1", "resources:\n" + dummy("a b") + "constraints:\n  order:\n"
              "    - {first: a, then: b, kind: Optional}\n"
              "  location:\n    - {resource: a, node: n1, score: -INFINITY}\n"),
        ystate("n1"),
        ["1 start b@n1"],
        {"a": None, "b": "n1"},
    ),
    Case(
        "order Mandatory: `then` cannot run without `first`",
        yconf("n1", "resources:\n" + dummy("a b") + "constraints:\n  order:\n"
              "    - {first: a, then: b}\n"
              "  location:\n    - {resource: a, node: n1, score: -INFINITY}\n"),
        ystate("n1", {"b@n1": "started"}),
        ["1 stop b@n1"],
        {"a": None, "b": None},
    ),
    Case(
        "order Serialize: one after the other, not symmetrical",
        yconf("n1", "resources:\n" + dummy("a b") + "constraints:\n  order:\n"
              "    - {first: a, then: b, kind: Serialize}\n"),
        ystate("n1", {"a@n1": "started", "b@n1": "started"}, roles={"a": "Stopped",
                                                                  "b": "Stopped"}),
        ["1 stop a@n1", "2 stop b@n1"],
        {"a": None, "b": None},
    ),
    Case(
        "ordered set: a then b then c; a set after a non-sequential set",
        yconf("n1", "resources:\n" + dummy("a b c d e") + "constraints:\n  order:\n"
              "    - id: s\n      sets:\n        - {resources: [a, b, c]}\n"
              "        - {resources: [d, e], sequential: false}\n"),
        ystate("n1"),
        ["1 start a@n1", "2 start b@n1 after 1", "3 start c@n1 after 2",
         "4 start d@n1 after 3", "5 start e@n1 after 3"],
        {"a": "n1", "b": "n1", "c": "n1", "d": "n1", "e": "n1"},
    ),
    Case(
        "colocation set: b with a, and the set with c",
        yconf("n1 n2 n3", "resources:\n" + dummy("a b c") + "constraints:\n  colocation:\n"
              "    - id: s\n      score: INFINITY\n      sets:\n"
              "        - {resources: [a, b]}\n        - {resources: [c]}\n"
              "  location:\n    - {resource: c, node: n3, score: 10}\n"),
        ystate("n1 n2 n3"),
        ["1 start a@n3", "2 start b@n3", "3 start c@n3"],
        {"a": "n3", "b": "n3", "c": "n3"},
    ),
    # --- placement strategies -------------------------------------------------------------
    Case(
        "utilization: a node without capacity left is not used",
        yconf("n1 n2", "placement_strategy: utilization\nresources:\n"
              "  - {id: a, agent: ocf:heartbeat:Dummy, utilization: {mem: 3}}\n"
              "  - {id: b, agent: ocf:heartbeat:Dummy, utilization: {mem: 3}}\n"
              "  - {id: c, agent: ocf:heartbeat:Dummy, utilization: {mem: 3}}\n",
              extra_nodes={"n1": "capacity: {mem: 4}", "n2": "capacity: {mem: 4}"}),
        ystate("n1 n2"),
        ["1 start a@n1", "2 start b@n2"],
        {"a": "n1", "b": "n2", "c": None},
        {"c": "not enough free capacity for mem 3"},
    ),
    Case(
        "balanced: the node with the most free capacity first",
        yconf("n1 n2", "placement_strategy: balanced\nresources:\n"
              "  - {id: a, agent: ocf:heartbeat:Dummy, utilization: {mem: 1}}\n"
              "  - {id: b, agent: ocf:heartbeat:Dummy, utilization: {mem: 1}}\n",
              extra_nodes={"n1": "capacity: {mem: 4}", "n2": "capacity: {mem: 8}"}),
        ystate("n1 n2"),
        ["1 start a@n2", "2 start b@n2"],
        {"a": "n2", "b": "n2"},
    ),
    Case(
        "minimal: fill the first node",
        yconf("n1 n2", "placement_strategy: minimal\nresources:\n"
              "  - {id: a, agent: ocf:heartbeat:Dummy, utilization: {mem: 1}}\n"
              "  - {id: b, agent: ocf:heartbeat:Dummy, utilization: {mem: 1}}\n",
              extra_nodes={"n1": "capacity: {mem: 4}", "n2": "capacity: {mem: 8}"}),
        ystate("n1 n2"),
        ["1 start a@n1", "2 start b@n1"],
        {"a": "n1", "b": "n1"},
    ),
    Case(
        "opt-in cluster: only nodes a location enables",
        yconf("n1 n2", "symmetric_cluster: false\nresources:\n" + dummy("a b")
              + "constraints:\n  location:\n    - {resource: a, node: n2, score: 0}\n"),
        ystate("n1 n2"),
        ["1 start a@n2"],
        {"a": "n2", "b": None},
    ),
    # --- node states ----------------------------------------------------------------------
    Case(
        "node maintenance: its resources are left alone, nothing new goes there",
        yconf("n1 n2", "resources:\n" + dummy("a b")),
        ystate("n1 n2", {"a@n1": "started"}).__class__(
            now=1000.0,
            nodes={**ystate("n1 n2").nodes,
                   "n1": ystate("n1").nodes["n1"].__class__("n1", ystate("n1").nodes["n1"]
                                                           .membership, maintenance=True)},
            resources=ystate("n1 n2", {"a@n1": "started"}).resources,
        ),
        ["1 start b@n2"],
        {"a": "n1", "b": "n2"},
        {"a": "n1 is in maintenance"},
    ),
    # Tie-breaks and clone scores as crm_simulate (Debian 2.1.5) shows them; each case
    # was run through crm_simulate as a CIB.
    Case(
        "ties: node name order (node1 < node10 < node2), not config order",
        yconf("node2 node10 node1", "resources:\n" + dummy("a b c d")),
        ystate("node2 node10 node1"),
        ["1 start a@node1", "2 start b@node10", "3 start c@node2", "4 start d@node1"],
        {"a": "node1", "b": "node10", "c": "node2", "d": "node1"},
    ),
    Case(
        "ties: stickiness 0 on equal scores moves to the less loaded node",
        yconf("n1 n2", "resources:\n  - {id: a, agent: ocf:heartbeat:Dummy, meta: "
              "{stickiness: 0}}\n  - {id: b, agent: ocf:heartbeat:Dummy, meta: "
              "{stickiness: 0}}\n"),
        ystate("n1 n2", {"a@n1": "started", "b@n1": "started"}),
        ["1 stop b@n1", "2 start b@n2 after 1"],
        {"a": "n1", "b": "n2"},
    ),
    Case(
        "ties: on a positive score it keeps its node whatever the load",
        yconf("n1 n2", "resources:\n  - {id: a, agent: ocf:heartbeat:Dummy, meta: "
              "{stickiness: 0}}\n  - {id: b, agent: ocf:heartbeat:Dummy, meta: "
              "{stickiness: 0}}\nconstraints:\n  location:\n"
              "    - {resource: b, node: n1, score: 50}\n"
              "    - {resource: b, node: n2, score: 50}\n"),
        ystate("n1 n2", {"a@n1": "started", "b@n1": "started"}),
        [],
        {"a": "n1", "b": "n1"},
    ),
    Case(
        "clone: a negative clone score bans its instances there despite stickiness",
        yconf("n1 n2 n3", CLONE.replace("resource: ping}",
                                        "resource: ping, meta: {stickiness: 100}}")
              + "constraints:\n  location:\n    - {resource: ping-clone, node: n1,"
              " score: -8}\n"),
        ystate("n1 n2 n3", {"ping@n1": "started", "ping@n2": "started"}),
        ["1 stop ping:0@n1", "2 start ping:0@n3 after 1"],
        {"ping:0": "n3", "ping:1": "n2", "ping:2": None},
    ),
    Case(
        "promotable: the clone's locations (role Unpromoted too) count for promotion",
        yconf("n1 n2 n3", STATEFUL.replace("promotable: true}", "promotable: true, "
                                           "clone_max: 2}")
              + "constraints:\n  location:\n    - {resource: db-clone, role: Unpromoted,"
              " node: n3, score: 100}\n"),
        ystate("n1 n2 n3", attrs={"n1": {"master-db": "10"}, "n2": {"master-db": "5"},
                                  "n3": {"master-db": "1"}}),
        ["1 start db:0@n3", "2 start db:1@n1", "3 promote db:0@n3 after 1"],
        {"db:0": "n3 Promoted", "db:1": "n1 Unpromoted"},
    ),
    Case(
        "clone: a resource colocated with the clone pulls its instances to its node",
        yconf("n1 n2 n3", CLONE.replace("resource: ping}", "resource: ping, clone_max: 2}")
              .replace("clones:", dummy("x") + "clones:")
              + "constraints:\n  location:\n    - {resource: x, node: n3, score: 100}\n"
              "  colocation:\n    - {resource: x, with: ping-clone, score: INFINITY}\n"),
        ystate("n1 n2 n3"),
        ["1 start ping:0@n3", "2 start ping:1@n1", "3 start x@n3"],
        {"ping:0": "n3", "ping:1": "n1", "x": "n3"},
    ),
    Case(
        # Found by the convergence property: g1's stickiness on n2, which appears only
        # once it runs, pulled the promotion to n2 in the next transition (a flip).
        "promotable: a resource colocated with the clone does not pull the promotion "
        "with its stickiness",
        yconf("n1 n2", STATEFUL.replace("clones:", dummy("p1 g1")
                                        + "groups:\n  - {id: grp, members: [g1]}\nclones:")
              + "constraints:\n  location:\n    - {resource: p1, node: n2, score: 10}\n"
              "  colocation:\n    - {resource: grp, with: p1, score: 20}\n"
              "    - {resource: grp, with: db-clone, score: INFINITY}\n"),
        ystate("n1 n2", attrs=scores(1, "n1 n2", "db")),
        ["1 start db:0@n1", "2 start db:1@n2", "3 start p1@n2", "4 start g1@n2",
         "5 promote db:0@n1 after 1"],
        {"db:0": "n1 Promoted", "db:1": "n2 Unpromoted", "p1": "n2", "g1": "n2"},
    ),
]


def test_a_group_member_ban_shows_in_the_first_members_scores() -> None:
    case = next(c for c in CASES if "later member's ban" in c.name)
    t = schedule(case.config, case.state)
    parts = t.placements["ip"].contributions["n1"]
    assert (-1_000_000, "with web -> db (group stack): location location-db-n1 bans n1") in parts
    assert t.placements["ip"].scores["n1"] == -1_000_000
    assert t.placements["stack"].instances == ("ip", "web", "db")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_model_golden(case: Case) -> None:
    t = schedule(case.config, case.state)
    assert render(t) == case.actions
    assert where(t) == case.placements
    by_id = {str(a.id): a.reason for a in t.actions}
    for key, fragment in case.reasons.items():
        got = by_id[key] if key in by_id else t.placements[key].reason
        assert fragment in got


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_model_converges(case: Case) -> None:
    """Applying the transition and scheduling again gives nothing more to do."""
    t = schedule(case.config, case.state)
    again = schedule(case.config, apply(t, case.state))
    assert render(again) == []
