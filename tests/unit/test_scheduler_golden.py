"""Golden cases for the scheduler: config + observed state in, exact transition out.

Like Pacemaker's cts/scheduler: each case names the situation, and the expectation is
the full action list (rendered as "id op rsc@node after deps") and every placement.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from test_scheduler_support import config, placed, render, resource, state

from vigil.model.config import INFINITY as INF
from vigil.model.config import ClusterConfig, LocationConstraint, OrderConstraint
from vigil.model.state import ClusterState, FailCount
from vigil.scheduler import schedule


@dataclass(frozen=True)
class Case:
    name: str
    config: ClusterConfig
    state: ClusterState
    actions: list[str]
    placements: dict[str, str | None]
    reasons: dict[str, str] = field(default_factory=dict)
    """Action id (as str) or resource id -> exact reason of that action / placement."""


def monitor_failure(node: str, rid: str, count: int, at: float = 990.0) -> FailCount:
    return FailCount(node, rid, count, at, op="monitor", rc=7)


CASES = [
    # --- fresh start and tie-breaking -------------------------------------------------
    Case(
        "fresh start spreads by load, then config order",
        config("n1 n2", ["a", "b", "c"]),
        state("n1 n2"),
        ["1 start a@n1", "2 start b@n2", "3 start c@n1"],
        {"a": "n1", "b": "n2", "c": "n1"},
        {"1": "a: starting on n1 (score 0)"},
    ),
    Case(
        "a tie keeps a resource where it runs, even without stickiness",
        config("n1 n2", [resource("web", stickiness=0)]),
        state("n1 n2", {"web@n2": "started"}),
        [],
        {"web": "n2"},
        {"web": "web: stays on n2 (score 0)"},
    ),
    # --- location ---------------------------------------------------------------------
    Case(
        "positive location picks the node",
        config("n1 n2 n3", ["web"], locations=[("web", "n2", 100)]),
        state("n1 n2 n3"),
        ["1 start web@n2"],
        {"web": "n2"},
    ),
    Case(
        "negative finite location forbids the node",
        config("n1 n2", ["web"], locations=[("web", "n1", -10)]),
        state("n1 n2"),
        ["1 start web@n2"],
        {"web": "n2"},
    ),
    Case(
        "negative everywhere: cannot run",
        config("n1 n2", ["web"], locations=[("web", "n1", -10), ("web", "n2", -1)]),
        state("n1 n2", {"web@n1": "started"}),
        ["1 stop web@n1"],
        {"web": None},
        {
            "web": "web: cannot run anywhere: n1 scores -9, below 0; n2 scores -1, below 0",
            "1": "web: stopping, cannot run anywhere: n1 scores -9, below 0; n2 scores -1, below 0",
        },
    ),
    Case(
        "-INFINITY location moves a running resource",
        config("n1 n2", ["web"], locations=[("web", "n1", -INF)]),
        state("n1 n2", {"web@n1": "started"}),
        ["1 stop web@n1", "2 start web@n2 after 1"],
        {"web": "n2"},
        {"2": "web: moving n1 -> n2 (location loc-web-n1 bans n1)"},
    ),
    Case(
        "+INFINITY location beats stickiness",
        config("n1 n2", [resource("web", stickiness=500)], locations=[("web", "n2", INF)]),
        state("n1 n2", {"web@n1": "started"}),
        ["1 stop web@n1", "2 start web@n2 after 1"],
        {"web": "n2"},
        {"1": "web: moving n1 -> n2 (n2 scores higher than n1 (INFINITY vs 500))"},
    ),
    Case(
        "+INFINITY on two nodes: saturated tie keeps it in place",
        config("n1 n2", ["web"], locations=[("web", "n1", INF), ("web", "n2", INF)]),
        state("n1 n2", {"web@n2": "started"}),
        [],
        {"web": "n2"},
    ),
    # --- stickiness ---------------------------------------------------------------------
    Case(
        "stickiness above the location preference keeps it",
        config("n1 n2", [resource("web", stickiness=100)], locations=[("web", "n2", 50)]),
        state("n1 n2", {"web@n1": "started"}),
        [],
        {"web": "n1"},
    ),
    Case(
        "location preference above stickiness moves it",
        config("n1 n2", [resource("web", stickiness=10)], locations=[("web", "n2", 50)]),
        state("n1 n2", {"web@n1": "started"}),
        ["1 stop web@n1", "2 start web@n2 after 1"],
        {"web": "n2"},
        {"2": "web: moving n1 -> n2 (n2 scores higher than n1 (50 vs 10))"},
    ),
    # --- node states --------------------------------------------------------------------
    Case(
        "standby moves resources away",
        config("n1 n2", ["web"]),
        state("n1:standby n2", {"web@n1": "started"}),
        ["1 stop web@n1", "2 start web@n2 after 1"],
        {"web": "n2"},
        {"1": "web: moving n1 -> n2 (n1 is in standby)"},
    ),
    Case(
        "shutting down moves resources away",
        config("n1 n2", ["web"]),
        state("n1:shutdown n2", {"web@n1": "started"}),
        ["1 stop web@n1", "2 start web@n2 after 1"],
        {"web": "n2"},
        {"2": "web: moving n1 -> n2 (n1 is shutting down)"},
    ),
    Case(
        "offline node: clean, recover elsewhere without a stop",
        config("n1 n2", ["web"]),
        state("n1:offline n2", {"web@n1": "started"}),
        ["1 start web@n2"],
        {"web": "n2"},
        {
            "1": "web: starting on n2 because n1 is offline",
            "web": "web: placed on n2 (score 0); not on n1: n1 is offline",
        },
    ),
    Case(
        "unclean node: no recovery until fenced",
        config("n1 n2", ["web", "db"]),
        state("n1:unclean n2", {"web@n1": "started", "db@n1": "stopped"}),
        ["1 start db@n2"],
        {"web": None, "db": "n2"},
        {
            "web": "web: blocked, possibly active on n1, which is unclean: waiting for n1 "
            "to be fenced or for its lease to expire plus the self-fence timeout"
        },
    ),
    Case(
        "unclean node: a failed resource there is possibly active too",
        config("n1 n2", ["web"]),
        state("n1:unclean n2", {"web@n1": "failed"}),
        [],
        {"web": None},
    ),
    Case(
        "unclean node: blocked even when also running on an online node",
        config("n1 n2", ["web"]),
        state("n1:unclean n2", {"web@n1": "started", "web@n2": "started"}),
        [],
        {"web": None},
    ),
    Case(
        "stop failed on an online node blocks the resource",
        config("n1 n2", ["web"]),
        state("n1 n2", {"web@n1": "stop_failed"}),
        [],
        {"web": None},
        {
            "web": "web: blocked, stop failed on n1: blocked until n1 is fenced or the "
            "failure is cleaned up (vigil resource cleanup)"
        },
    ),
    # --- target-role ------------------------------------------------------------------
    Case(
        "target-role Stopped in meta stops it",
        config("n1 n2", [resource("db", target_role="Stopped")]),
        state("n1 n2", {"db@n1": "started"}),
        ["1 stop db@n1"],
        {"db": None},
        {"1": "db: stopping, target-role Stopped", "db": "db: target-role Stopped"},
    ),
    Case(
        "runtime target-role Stopped overrides meta",
        config("n1 n2", ["db"]),
        state("n1 n2", {"db@n1": "failed"}, roles={"db": "Stopped"}),
        ["1 stop db@n1"],
        {"db": None},
    ),
    Case(
        "runtime target-role Started overrides a Stopped meta",
        config("n1 n2", [resource("db", target_role="Stopped")]),
        state("n1 n2", roles={"db": "Started"}),
        ["1 start db@n1"],
        {"db": "n1"},
    ),
    # --- runtime constraints (vigil resource ban / move) --------------------------------
    Case(
        "cli-ban moves it off the node",
        config("n1 n2", [resource("web", stickiness=100)]),
        state(
            "n1 n2",
            {"web@n1": "started"},
            runtime=[LocationConstraint("cli-ban-web-on-n1", "web", "n1", -INF)],
        ),
        ["1 stop web@n1", "2 start web@n2 after 1"],
        {"web": "n2"},
        {"1": "web: moving n1 -> n2 (location cli-ban-web-on-n1 bans n1)"},
    ),
    Case(
        "cli-prefer moves it to the node",
        config("n1 n2 n3", [resource("web", stickiness=100)]),
        state(
            "n1 n2 n3",
            {"web@n1": "started"},
            runtime=[LocationConstraint("cli-prefer-web", "web", "n3", INF)],
        ),
        ["1 stop web@n1", "2 start web@n3 after 1"],
        {"web": "n3"},
    ),
    # --- failures ---------------------------------------------------------------------
    Case(
        "failed below migration-threshold: recover in place",
        config("n1 n2", [resource("web", migration_threshold=3)]),
        state("n1 n2", {"web@n1": "failed"}, failures=[monitor_failure("n1", "web", 1)]),
        ["1 stop web@n1", "2 start web@n1 after 1"],
        {"web": "n1"},
        {"2": "web: recovering on n1 after monitor failure (fail count 1 of 3)"},
    ),
    Case(
        "failed at migration-threshold: move away",
        config("n1 n2", [resource("web", migration_threshold=3)]),
        state("n1 n2", {"web@n1": "failed"}, failures=[monitor_failure("n1", "web", 3)]),
        ["1 stop web@n1", "2 start web@n2 after 1"],
        {"web": "n2"},
        {"2": "web: moving n1 -> n2 (fail count 3 on n1 reached migration-threshold 3)"},
    ),
    Case(
        "threshold reached while running (recovered earlier): move away",
        config("n1 n2", [resource("web", migration_threshold=2)]),
        state("n1 n2", {"web@n1": "started"}, failures=[monitor_failure("n1", "web", 2)]),
        ["1 stop web@n1", "2 start web@n2 after 1"],
        {"web": "n2"},
    ),
    Case(
        "failure not yet expired: the ban holds",
        config(
            "n1 n2",
            [resource("web", migration_threshold=1, failure_timeout=60.0)],
            locations=[("web", "n1", 100)],
        ),
        state(
            "n1 n2",
            {"web@n2": "started"},
            failures=[monitor_failure("n1", "web", 1, at=950.0)],
        ),
        [],
        {"web": "n2"},
    ),
    Case(
        "failure expired after failure-timeout: back to the preferred node",
        config(
            "n1 n2",
            [resource("web", migration_threshold=1, failure_timeout=60.0)],
            locations=[("web", "n1", 100)],
        ),
        state(
            "n1 n2",
            {"web@n2": "started"},
            failures=[monitor_failure("n1", "web", 1, at=940.0)],
        ),
        ["1 stop web@n2", "2 start web@n1 after 1"],
        {"web": "n1"},
    ),
    Case(
        "no failure-timeout: failures never expire",
        config(
            "n1 n2",
            [resource("web", migration_threshold=1)],
            locations=[("web", "n1", 100)],
        ),
        state("n1 n2", {"web@n2": "started"}, failures=[monitor_failure("n1", "web", 1, at=0.0)]),
        [],
        {"web": "n2"},
    ),
    # --- colocation -------------------------------------------------------------------
    Case(
        "mandatory colocation follows the target, listed before it",
        config("n1 n2", ["ip", "web"], [("web", "n2", 10)], colocations=[("ip", "web", INF)]),
        state("n1 n2"),
        ["1 start ip@n2", "2 start web@n2"],
        {"ip": "n2", "web": "n2"},
    ),
    Case(
        "mandatory colocation moves the dependent with its target",
        config("n1 n2", ["web", "ip"], colocations=[("ip", "web", INF)]),
        state("n1:standby n2", {"web@n1": "started", "ip@n1": "started"}),
        ["1 stop web@n1", "2 stop ip@n1", "3 start web@n2 after 1", "4 start ip@n2 after 2"],
        {"web": "n2", "ip": "n2"},
    ),
    Case(
        "mandatory colocation with a target that will not run",
        config(
            "n1 n2",
            [resource("web", target_role="Stopped"), "ip"],
            colocations=[("ip", "web", INF)],
        ),
        state("n1 n2", {"ip@n1": "started"}),
        ["1 stop ip@n1"],
        {"web": None, "ip": None},
        {"1": "ip: stopping, cannot run anywhere: colocation col-ip-web: web will not run"},
    ),
    Case(
        "advisory colocation outweighs a weaker location",
        config(
            "n1 n2",
            ["web", "ip"],
            locations=[("web", "n2", 10), ("ip", "n1", 20)],
            colocations=[("ip", "web", 50)],
        ),
        state("n1 n2"),
        ["1 start web@n2", "2 start ip@n2"],
        {"web": "n2", "ip": "n2"},
    ),
    Case(
        "advisory colocation loses to a stronger location",
        config(
            "n1 n2",
            ["web", "ip"],
            locations=[("web", "n2", 10), ("ip", "n1", 100)],
            colocations=[("ip", "web", 50)],
        ),
        state("n1 n2"),
        ["1 start web@n2", "2 start ip@n1"],
        {"web": "n2", "ip": "n1"},
    ),
    Case(
        # As crm_simulate: b's preference for n1 pushes a (which b avoids) away from n1.
        "anti-colocation keeps two resources apart",
        config("n1 n2", ["a", "b"], [("b", "n1", 100)], colocations=[("b", "a", -INF)]),
        state("n1 n2"),
        ["1 start a@n2", "2 start b@n1"],
        {"a": "n2", "b": "n1"},
    ),
    Case(
        "anti-colocation with a single host: the dependent cannot run",
        config("n1 n2", ["a", "b"], colocations=[("b", "a", -INF)]),
        state("n1 n2:offline"),
        ["1 start a@n1"],
        {"a": "n1", "b": None},
    ),
    # --- order ------------------------------------------------------------------------
    Case(
        "mandatory order: then starts after first",
        config("n1 n2", ["db", "web"], orders=[("db", "web")]),
        state("n1 n2"),
        ["1 start db@n1", "2 start web@n2 after 1"],
        {"db": "n1", "web": "n2"},
    ),
    Case(
        "mandatory order: then cannot run when first will not",
        config("n1 n2", [resource("db", target_role="Stopped"), "web"], orders=[("db", "web")]),
        state("n1 n2", {"db@n1": "started", "web@n2": "started"}),
        ["1 stop web@n2", "2 stop db@n1 after 1"],
        {"db": None, "web": None},
        {"web": "web: cannot run: order ord-db-web needs db first, and db will not run"},
    ),
    Case(
        # db follows web (colocation) but must start first (order): web is placed
        # first, then db cannot run, so web is ruled out afterwards.
        "mandatory order in a cycle with a colocation: then is ruled out afterwards",
        config(
            "n1 n2",
            ["web", "db"],
            [("db", "n1", -INF), ("db", "n2", -INF)],
            colocations=[("db", "web", INF)],
            orders=[("db", "web")],
        ),
        state("n1 n2", {"web@n2": "started"}),
        ["1 stop web@n2"],
        {"web": None, "db": None},
        {"web": "web: cannot run: order ord-db-web needs db first, and db will not run"},
    ),
    Case(
        "mandatory order: first recovers, so then restarts around it",
        config("n1 n2", ["db", "web"], orders=[("db", "web")]),
        state("n1 n2", {"db@n1": "failed", "web@n2": "started"}),
        [
            "1 stop web@n2",
            "2 stop db@n1 after 1",
            "3 start db@n1 after 2",
            "4 start web@n2 after 1,3",
        ],
        {"db": "n1", "web": "n2"},
        {"1": "web: restarting on n2 because db restarts (order ord-db-web)"},
    ),
    Case(
        "mandatory order: first moves, then restarts (and the restart spreads)",
        config("n1 n2", ["db", "app", "web"], orders=[("db", "app"), ("app", "web")]),
        state("n1:standby n2", {"db@n1": "started", "app@n2": "started", "web@n2": "started"}),
        [
            "1 stop web@n2",
            "2 stop app@n2 after 1",
            "3 stop db@n1 after 2",
            "4 start db@n2 after 3",
            "5 start app@n2 after 2,4",
            "6 start web@n2 after 1,5",
        ],
        {"db": "n2", "app": "n2", "web": "n2"},
        {"2": "app: restarting on n2 because db moves (order ord-db-app)"},
    ),
    Case(
        # As crm_simulate: an asymmetric order only orders starts, so a recovering
        # `first` does not restart `then`.
        "mandatory asymmetrical order: first recovers, then is not restarted",
        config(
            "n1 n2",
            ["db", "web"],
            orders=[OrderConstraint("o1", "db", "web", "Mandatory", symmetrical=False)],
        ),
        state("n1 n2", {"db@n1": "failed", "web@n2": "started"}),
        ["1 stop db@n1", "2 start db@n1 after 1"],
        {"db": "n1", "web": "n2"},
    ),
    Case(
        "mandatory asymmetrical order: first stops, a running then stays",
        config(
            "n1 n2",
            [resource("db", target_role="Stopped"), "web"],
            orders=[OrderConstraint("o1", "db", "web", "Mandatory", symmetrical=False)],
        ),
        state("n1 n2", {"db@n1": "started", "web@n2": "started"}),
        ["1 stop db@n1"],
        {"db": None, "web": "n2"},
    ),
    Case(
        "mandatory asymmetrical order: first will not run, a stopped then does not start",
        config(
            "n1 n2",
            [resource("db", target_role="Stopped"), "web"],
            orders=[OrderConstraint("o1", "db", "web", "Mandatory", symmetrical=False)],
        ),
        state("n1 n2"),
        [],
        {"db": None, "web": None},
    ),
    Case(
        "mandatory asymmetrical order: both start, first before then",
        config(
            "n1 n2",
            ["db", "web"],
            orders=[OrderConstraint("o1", "db", "web", "Mandatory", symmetrical=False)],
        ),
        state("n1 n2"),
        ["1 start db@n1", "2 start web@n2 after 1"],
        {"db": "n1", "web": "n2"},
    ),
    Case(
        "optional order: never forces a restart",
        config("n1 n2", ["db", "web"], orders=[OrderConstraint("o1", "db", "web", "Optional")]),
        state("n1 n2", {"db@n1": "failed", "web@n2": "started"}),
        ["1 stop db@n1", "2 start db@n1 after 1"],
        {"db": "n1", "web": "n2"},
    ),
    Case(
        "optional order: orders starts and stops that happen anyway",
        config("n1 n2", ["db", "web"], orders=[OrderConstraint("o1", "db", "web", "Optional")]),
        state("n1:standby n2", {"db@n1": "started", "web@n1": "started"}),
        [
            "1 stop web@n1",
            "2 stop db@n1 after 1",
            "3 start db@n2 after 2",
            "4 start web@n2 after 1,3",
        ],
        {"db": "n2", "web": "n2"},
    ),
    Case(
        "optional order: first will not run, then runs anyway",
        config(
            "n1 n2",
            [resource("db", target_role="Stopped"), "web"],
            orders=[OrderConstraint("o1", "db", "web", "Optional")],
        ),
        state("n1 n2"),
        ["1 start web@n1"],
        {"db": None, "web": "n1"},
    ),
    Case(
        "order loop (invalid config): still an answer, stops first, own stop kept",
        config(
            "n1 n2",
            [resource("a", migration_threshold=1), "b", "c"],
            orders=[("a", "b"), ("b", "a")],
        ),
        state(
            "n1 n2",
            {"a@n1": "started", "b@n1": "started"},
            failures=[monitor_failure("n1", "a", 1)],
        ),
        [
            "1 stop a@n1",
            "2 stop b@n1 after 1",
            "3 start c@n1",
            "4 start a@n2 after 1",  # start(b) dropped here to break the loop
            "5 start b@n1 after 2,4",
        ],
        {"a": "n2", "b": "n1", "c": "n1"},
    ),
    Case(
        # d follows t and t (weakly) follows d: a colocation cycle. d is placed first
        # and would stay on n1, where t is banned; d is then banned from n1 only, so
        # the pair meets on d's second choice instead of d being stopped.
        "colocation cycle: the dependent avoids the node its target cannot use",
        config(
            "n1 n2 n3",
            [resource("d", stickiness=100), "t"],
            locations=[("d", "n2", 50), ("t", "n1", -INF)],
            colocations=[("d", "t", INF), ("t", "d", 20)],
        ),
        state("n1 n2 n3", {"d@n1": "started"}),
        ["1 stop d@n1", "2 start d@n2 after 1", "3 start t@n2"],
        {"d": "n2", "t": "n2"},
        {"d": "d: placed on n2 (score 50); not on n1: colocation col-d-t: t cannot run on n1"},
    ),
    Case(
        # vip follows web, but must start before it; vip cannot use n1. Placing web first
        # (colocation) strands vip; the next round places vip first and web follows it.
        "order against colocation: the pair moves to where both can run",
        config(
            "n1 n2",
            ["web", "vip"],
            locations=[("vip", "n1", -INF)],
            colocations=[("vip", "web", INF)],
            orders=[("vip", "web")],
        ),
        state("n1 n2", {"web@n1": "started"}),
        ["1 stop web@n1", "2 start vip@n2", "3 start web@n2 after 1,2"],
        {"web": "n2", "vip": "n2"},
    ),
    # --- multiple active ---------------------------------------------------------------
    Case(
        "multiple active (default stop_start): stop every copy, start one",
        config("n1 n2 n3", ["web"]),
        state("n1 n2 n3", {"web@n1": "started", "web@n2": "started", "web@n3": "failed"}),
        ["1 stop web@n1", "2 stop web@n2", "3 stop web@n3", "4 start web@n1 after 1,2,3"],
        {"web": "n1"},
        {"1": "web: stopping on n1, active on several nodes (n1, n2, n3); "
              "multiple_active stop_start"},
    ),
    Case(
        "multiple active, stop_unexpected: stop all but the placed node",
        config("n1 n2 n3", [resource("web", multiple_active="stop_unexpected")]),
        state("n1 n2 n3", {"web@n1": "started", "web@n2": "started", "web@n3": "failed"}),
        ["1 stop web@n2", "2 stop web@n3"],
        {"web": "n1"},
        {"1": "web: stopping on n2, active on several nodes (n1, n2, n3); placed on n1"},
    ),
    Case(
        "multiple active, stop_only: stop every copy",
        config("n1 n2", [resource("web", multiple_active="stop_only")]),
        state("n1 n2", {"web@n1": "started", "web@n2": "started"}),
        ["1 stop web@n1", "2 stop web@n2"],
        {"web": "n1"},
    ),
    Case(
        "multiple active, block: nothing is done",
        config("n1 n2", [resource("web", multiple_active="block")]),
        state("n1 n2", {"web@n1": "started", "web@n2": "started"}),
        [],
        {"web": "n1"},
        {"web": "web: active on several nodes (n1, n2): blocked (multiple_active block)"},
    ),
    Case(
        "multiple active where neither copy may stay",
        config("n1 n2 n3", ["web"], locations=[("web", "n1", -INF), ("web", "n2", -INF)]),
        state("n1 n2 n3", {"web@n1": "started", "web@n2": "started"}),
        ["1 stop web@n1", "2 stop web@n2", "3 start web@n3 after 1,2"],
        {"web": "n3"},
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_golden(case: Case) -> None:
    t = schedule(case.config, case.state)
    assert render(t) == case.actions
    assert placed(t) == case.placements
    by_id = {str(a.id): a.reason for a in t.actions}
    for key, reason in case.reasons.items():
        got = by_id[key] if key in by_id else t.placements[key].reason
        assert got == reason


def test_placement_scores_are_final_per_node() -> None:
    cfg = config(
        "n1 n2 n3",
        [resource("web", stickiness=5, migration_threshold=2)],
        locations=[("web", "n1", 30), ("web", "n3", -INF)],
    )
    st = state("n1 n2:standby n3", {"web@n1": "failed"}, failures=[monitor_failure("n1", "web", 1)])
    p = schedule(cfg, st).placements["web"]
    assert p.scores == {"n1": 35, "n2": -INF, "n3": -INF}
    assert list(p.scores) == ["n1", "n2", "n3"]
    assert p.reason == "web: recovers on n1 (score 35)"


def test_every_action_has_a_reason_naming_its_resource() -> None:
    cfg = config("n1 n2", ["db", "web"], orders=[("db", "web")])
    st = state("n1:standby n2", {"db@n1": "started", "web@n1": "started"})
    t = schedule(cfg, st)
    assert t.actions
    assert all(a.reason.startswith(f"{a.resource}: ") for a in t.actions)
