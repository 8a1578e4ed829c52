"""Property tests of the resource model: groups, clones and promotable clones.

Hypothesis builds small clusters with a group, an anonymous clone, a promotable clone
(promotion scores as node attributes), plain primitives, random constraints between
any of them (with roles and order actions) and random observed states, and checks
what must hold for every input: determinism; hard constraints respected; every
primitive on at most one node, clones within clone_node_max and promoted_max; nothing
on a node that cannot host; an acyclic action list with demote before stop, stop
before start and start before promote; convergence (for constraints without cycles):
applying the transition and scheduling again gives no action — which is also
"nothing changed, nothing moves".
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from hypothesis import example, given, settings
from hypothesis import strategies as st
from scheduler_model_support import apply

from vigil.model.config import INFINITY as INF
from vigil.model.config import (
    Clone,
    ClusterConfig,
    ColocationConstraint,
    Group,
    LocationConstraint,
    NodeConfig,
    Operations,
    OrderConstraint,
    Resource,
    ResourceMeta,
)
from vigil.model.state import (
    ClusterState,
    FailCount,
    Membership,
    NodeState,
    ResourceStatus,
    RscState,
)
from vigil.model.transition import Transition
from vigil.scheduler import schedule

OPS = Operations(20, 20, 10, 20)
ITEMS = ["p1", "p2", "grp", "cl", "ms"]
"""Config ids: two primitives, a group (g1, g2), a clone of c, a promotable clone of db."""
RUN_IDS = ["p1", "p2", "g1", "g2", "c", "db"]


@st.composite
def clusters(draw: st.DrawFn, acyclic: bool = True,
             min_stickiness: int = 0) -> tuple[ClusterConfig, ClusterState]:
    node_names = [f"n{i}" for i in range(1, draw(st.integers(1, 4)) + 1)]

    def meta() -> ResourceMeta:
        return ResourceMeta(
            stickiness=draw(st.sampled_from([min_stickiness, 1, 100])),
            migration_threshold=draw(st.sampled_from([1, 3, INF])),
            target_role=draw(st.sampled_from(["Started"] * 4 + ["Stopped"])),
            explicit=frozenset({"stickiness", "migration_threshold", "target_role"}),
        )

    resources = tuple(
        Resource(rid, "ocf:pacemaker:Stateful" if rid == "db" else "ocf:heartbeat:Dummy",
                 {}, OPS, meta())
        for rid in RUN_IDS
    )
    groups = (Group("grp", ("g1", "g2")),)
    clones = (
        Clone("cl", "c", clone_max=draw(st.sampled_from([None, 1, 2]))),
        Clone("ms", "db", clone_max=draw(st.sampled_from([None, 2])), promotable=True,
              promoted_max=draw(st.sampled_from([1, 2]))),
    )
    item = st.sampled_from([*ITEMS, "g2"])
    node = st.sampled_from(node_names)
    locations = tuple(
        LocationConstraint(f"loc{i}", r, n, s)
        for i, (r, n, s) in enumerate(draw(st.lists(
            st.tuples(item, node, st.sampled_from([-INF, -10, 10, 100, INF])), max_size=4)))
    )
    rank = {r: i for i, r in enumerate(draw(st.permutations(ITEMS)))}

    def one_way(a: str, b: str) -> tuple[str, str]:
        return (b, a) if acyclic and rank.get(a, 0) > rank.get(b, 0) else (a, b)

    pairs = st.tuples(st.sampled_from(ITEMS), st.sampled_from(ITEMS)).filter(
        lambda p: p[0] != p[1])
    colocations = []
    for i, ((a, b), score, role) in enumerate(draw(st.lists(st.tuples(
            pairs, st.sampled_from([-INF, 20, INF]), st.sampled_from([None, "Promoted"])),
            max_size=3))):
        target, dependent = one_way(a, b)
        with_role = role if target == "ms" else None
        colocations.append(ColocationConstraint(f"col{i}", dependent, target, score,
                                                None, with_role))
    orders = []
    for i, ((a, b), kind, sym) in enumerate(draw(st.lists(st.tuples(
            pairs, st.sampled_from(["Mandatory", "Optional"]), st.booleans()), max_size=3))):
        first, then = one_way(a, b)
        action = "promote" if first == "ms" and draw(st.booleans()) else "start"
        orders.append(OrderConstraint(f"ord{i}", first, then, kind, sym, action, "start"))
    config = ClusterConfig(
        name="prop",
        nodes=tuple(NodeConfig(n, f"198.18.0.{i + 1}") for i, n in enumerate(node_names)),
        resources=resources, groups=groups, clones=clones, locations=locations,
        colocations=tuple(colocations), orders=tuple(orders),
    )
    nodes = {
        n: NodeState(
            n,
            draw(st.sampled_from([Membership.ONLINE] * 4 + [Membership.OFFLINE,
                                                           Membership.UNCLEAN])),
            standby=draw(st.booleans()) and draw(st.booleans()),
        )
        for n in node_names
    }
    states = st.sampled_from(["started"] * 4 + ["failed", "stopped", "promoted"])
    statuses = draw(st.dictionaries(st.tuples(node, st.sampled_from(RUN_IDS)), states,
                                    max_size=8))
    resources_state = {}
    for (n, r), s in statuses.items():
        if s == "promoted":
            resources_state[(n, r)] = ResourceStatus(n, r, RscState.STARTED, "promote", 0)
        else:
            resources_state[(n, r)] = ResourceStatus(n, r, RscState(s), "start")
    fails = draw(st.dictionaries(st.tuples(node, st.sampled_from(RUN_IDS)),
                                 st.integers(1, 3), max_size=3))
    attrs = {n: {"master-db": str(draw(st.sampled_from([1, 5, 10])))}
             for n in node_names if draw(st.booleans())}
    state = ClusterState(
        now=1000.0,
        nodes=nodes,
        resources=resources_state,
        failures={(n, r): FailCount(n, r, c, 990.0, "monitor") for (n, r), c in fails.items()},
        node_attributes=attrs,
    )
    return config, state


def _instances(t: Transition) -> dict[str, tuple[str | None, str]]:
    return {k: (p.node, p.role) for k, p in t.placements.items() if not p.instances}


def _where(t: Transition) -> dict[str, object]:
    """Placements; anonymous clone instances as a sorted list of (node, role) per clone,
    since their numbers follow where they run (they are interchangeable)."""
    out: dict[str, object] = {}
    clones: dict[str, list[tuple[str, str]]] = {}
    for k, (node, role) in _instances(t).items():
        base, sep, _ = k.partition(":")
        if sep:
            if node is not None:  # orphans come and go with what runs
                clones.setdefault(base, []).append((node, role))
        else:
            out[k] = (node, role)
    out.update({k: sorted(v) for k, v in clones.items()})
    return out


@settings(max_examples=150, deadline=None)
@given(clusters(acyclic=False))
def test_deterministic(cs: tuple[ClusterConfig, ClusterState]) -> None:
    config, state = cs
    first = schedule(config, state)
    assert schedule(config, state) == first
    reordered = replace(state, resources=dict(reversed(list(state.resources.items()))),
                        failures=dict(reversed(list(state.failures.items()))))
    assert schedule(config, reordered) == first


@settings(max_examples=200, deadline=None)
@given(clusters(acyclic=False))
def test_placements_are_safe(cs: tuple[ClusterConfig, ClusterState]) -> None:
    config, state = cs
    t = schedule(config, state)
    placed = _instances(t)
    for iid, (node, _) in placed.items():
        if node is None or "unmanaged" in t.placements[iid].reason:
            continue
        assert state.nodes[node].can_host, (iid, node)
        assert t.placements[iid].scores[node] >= 0
    # Every primitive outside clones on at most one node; clones within their limits.
    for rid in ("p1", "p2", "g1", "g2"):
        assert rid in placed
    per_node = Counter(node for iid, (node, _) in placed.items()
                       if iid.startswith("c:") and node is not None)
    assert all(v <= 1 for v in per_node.values())
    promoted = [iid for iid, (node, role) in placed.items() if role == "Promoted"]
    ms = config.clones[1]
    assert len(promoted) <= ms.promoted_max
    assert all(placed[i][0] is not None for i in promoted)
    # Hard location bans and mandatory colocations between primitives.
    for loc in config.locations:
        if loc.score <= -INF and loc.resource in ("p1", "p2"):
            assert placed[loc.resource][0] != loc.node
    for c in config.colocations:
        if c.score >= INF and c.resource in ("p1", "p2") and c.with_resource in ("p1", "p2"):
            here = placed[c.resource][0]
            if here is not None:
                assert placed[c.with_resource][0] == here, c
    # The group's members stay together, second only where the first is.
    if placed["g2"][0] is not None:
        assert placed["g1"][0] == placed["g2"][0]


@settings(max_examples=200, deadline=None)
@given(clusters(acyclic=False))
def test_action_graph_is_acyclic_and_ordered(cs: tuple[ClusterConfig, ClusterState]) -> None:
    config, state = cs
    t = schedule(config, state)
    assert [a.id for a in t.actions] == list(range(1, len(t.actions) + 1))
    by_id = {a.id: a for a in t.actions}
    seen_start = False
    for a in t.actions:
        assert all(0 < d < a.id for d in a.deps), a  # deps point back: no cycle
        if a.op in ("start", "promote"):
            seen_start = True
        assert not (seen_start and a.op == "stop"), "stops come before starts"
        assert state.nodes[a.node].membership is Membership.ONLINE
        name = a.instance or a.resource
        same = [b for b in t.actions if (b.instance or b.resource) == name]
        if a.op == "stop":
            demotes = [b.id for b in same if b.op == "demote" and b.node == a.node]
            assert set(demotes) <= set(a.deps)
        if a.op == "start":
            assert {b.id for b in same if b.op == "stop"} <= set(a.deps), "S1"
        if a.op == "promote":
            starts = [b.id for b in same if b.op == "start"]
            assert set(starts) <= set(a.deps)
            assert all(by_id[d].op != "promote" for d in starts)


def _promotion_flip_example() -> tuple[ClusterConfig, ClusterState]:
    """Found in CI: grp, colocated with the whole of ms, started on n3 (pulled there by
    p1), and its stickiness there then pulled the promotion from n2 to n3."""
    meta = ResourceMeta(stickiness=1, migration_threshold=1, target_role="Started",
                        explicit=frozenset({"stickiness", "migration_threshold",
                                            "target_role"}))
    nodes = ["n1", "n2", "n3", "n4"]
    config = ClusterConfig(
        name="prop",
        nodes=tuple(NodeConfig(n, f"198.18.0.{i + 1}") for i, n in enumerate(nodes)),
        resources=tuple(
            Resource(rid, "ocf:pacemaker:Stateful" if rid == "db" else "ocf:heartbeat:Dummy",
                     {}, OPS, meta)
            for rid in RUN_IDS),
        groups=(Group("grp", ("g1", "g2")),),
        clones=(Clone("cl", "c"), Clone("ms", "db", promotable=True, promoted_max=1)),
        locations=(LocationConstraint("loc0", "p1", "n3", 10),),
        colocations=(ColocationConstraint("col0", "grp", "p1", 20, None, None),
                     ColocationConstraint("col1", "grp", "ms", INF, None, None)),
    )
    state = ClusterState(
        now=1000.0, nodes={n: NodeState(n, Membership.ONLINE) for n in nodes},
        resources={}, failures={},
        node_attributes={"n2": {"master-db": "1"}, "n3": {"master-db": "1"}},
    )
    return config, state


@settings(max_examples=300, deadline=None)
@given(clusters(acyclic=True, min_stickiness=1))
@example(_promotion_flip_example())
def test_applying_the_transition_converges(cs: tuple[ClusterConfig, ClusterState]) -> None:
    """With stickiness >= 1 (vigil's default). With stickiness 0 a resource does not
    prefer where it runs, so, as in Pacemaker (crm_simulate moves it too), it may move to
    a less loaded node once the preferences that placed it change (a dependent whose
    stickiness pulled it stopped)."""
    config, state = cs
    t = schedule(config, state)
    after = apply(t, state)
    again = schedule(config, after)
    assert again.actions == (), [a.reason for a in again.actions]
    assert _where(again) == _where(t)
    # Nothing changed: nothing moves, and it says so.
    assert schedule(config, after).actions == ()
