"""What the scheduler reads, indexed once per run.

`prepare()` turns (config, state) into plain lookups: the instances to place (groups
and clones expanded, see `instances`), constraints resolved onto instances and indexed
by instance, the observed situation of each instance, and which nodes can host.
Everything is built by iterating the config (nodes and resources in config order),
never by iterating the state's mappings unsorted, so the result cannot depend on
their insertion order.

Constraints naming an unknown resource or node, and self-referencing colocations or
orders, are skipped here: rejecting them is the config validator's job, and the
scheduler must not crash on a snapshot it is given.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from vigil.model.config import (
    INFINITY,
    ClusterConfig,
    LocationConstraint,
    OrderConstraint,
    Resource,
    ResourceSet,
)
from vigil.model.state import (
    ClusterState,
    FailCount,
    Membership,
    NodeState,
    ResourceStatus,
    RscState,
)
from vigil.scheduler.instances import Instance, Layout, layout
from vigil.scheduler.rules import describe_rule, rule_score
from vigil.scheduler.scores import clamp, format_score

K = TypeVar("K")
V = TypeVar("V")

_RUNNING = (RscState.STARTED, RscState.FAILED)
_POSSIBLY_ACTIVE = (RscState.STARTED, RscState.FAILED, RscState.STOP_FAILED)


@dataclass(frozen=True)
class ResourceView:
    """Where one instance is, as far as the scheduler is concerned."""

    id: str
    active: tuple[str, ...]
    """Online nodes where it is STARTED or FAILED (stoppable there), config order."""
    failed: frozenset[str]
    """The subset of `active` where it is FAILED (needs a stop before anything else)."""
    blocked: str | None
    """Why nothing may be done with it (possibly active where it cannot be stopped)."""
    lost_on: tuple[str, ...]
    """Offline nodes where it was last reported running: only used in reasons."""
    promoted: frozenset[str] = frozenset()
    """The subset of `active` where it runs in the Promoted role."""
    frozen: str | None = None
    """Why vigil leaves it as it is (unmanaged, maintenance, on_fail block)."""
    held: tuple[str, ...] = ()
    """Online nodes where its stop failed: it stays there (and counts as their load)."""
    no_promotion: tuple[str, ...] = ()
    """Nodes where its promoted copy failed with on_fail demote: it is demoted there
    first, and promoted again if it is still the best choice."""


@dataclass(frozen=True)
class Coloc:
    """A colocation resolved onto instances: every dependent with the target's nodes."""

    id: str
    dependents: tuple[str, ...]
    target: str
    """The config id named by `with` (for reasons)."""
    targets: tuple[str, ...]
    """Instances whose nodes (in `with_role`) form where the target is."""
    score: int
    with_role: str | None = None
    internal: bool = False
    """Implied by a group (members stay together)."""


@dataclass(frozen=True)
class Order:
    """An order resolved onto instances."""

    id: str
    first: tuple[str, ...]
    then: tuple[str, ...]
    kind: str = "Mandatory"
    symmetrical: bool = True
    first_action: str = "start"
    then_action: str = "start"
    interleave: bool = False
    """Pair `first` and `then` instances by node (clones with interleave)."""
    first_name: str = ""
    then_name: str = ""


@dataclass(frozen=True)
class LocationScore:
    node: str
    score: int
    why: str


@dataclass
class Inputs:
    config: ClusterConfig
    state: ClusterState
    nodes: tuple[str, ...]
    node_index: Mapping[str, int]
    """Config node order (how the state is read and actions are listed)."""
    name_rank: Mapping[str, int]
    """Node name order (code point, as C's strcmp: node1 < node10 < node2): the last
    tie-break between equally good nodes, as in Pacemaker."""
    instances: tuple[Instance, ...]
    index: Mapping[str, int]
    layout: Layout
    unavailable: Mapping[str, str | None]
    """Per node: None if it can host, else why not ("n1 is in standby")."""
    attributes: Mapping[str, Mapping[str, str]]
    views: Mapping[str, ResourceView]
    role_stopped: Mapping[str, str]
    """Instance -> why it must not run (target-role Stopped, on_fail stop)."""
    no_promote: frozenset[str]
    """Instances kept Unpromoted (target-role Unpromoted)."""
    locations: Mapping[str, tuple[LocationScore, ...]]
    promotion_locations: Mapping[str, tuple[LocationScore, ...]]
    """Clone id -> location scores that count for promotion (role Promoted)."""
    colocations: tuple[Coloc, ...]
    colocations_of: Mapping[str, tuple[Coloc, ...]]
    """By dependent instance."""
    colocated_with: Mapping[str, tuple[Coloc, ...]]
    """By target instance."""
    promotion_colocations: tuple[ColocRole, ...] = ()
    orders: tuple[Order, ...] = ()
    orders_by_first: Mapping[str, tuple[Order, ...]] = field(default_factory=dict)
    orders_by_then: Mapping[str, tuple[Order, ...]] = field(default_factory=dict)
    fence: tuple[tuple[str, str], ...] = ()
    promotion_bans: frozenset[tuple[str, str]] = frozenset()
    """(instance, node): its promoted copy failed there with on_fail demote (demote
    first; see ResourceView.no_promotion)."""
    failures: Mapping[str, tuple[tuple[str, FailCount], ...]] = field(default_factory=dict)
    """Run id -> (node, fail count) in config node order."""

    @property
    def resources(self) -> tuple[Resource, ...]:
        """Compatibility: one Resource per instance, named by its instance id."""
        return tuple(i.rsc if i.id == i.rsc.id else _renamed(i) for i in self.instances)

    @property
    def resource_index(self) -> Mapping[str, int]:
        return self.index

    def instance(self, iid: str) -> Instance:
        return self.instances[self.index[iid]]

    def promotion_attributes(self, run_id: str) -> list[tuple[str, int]]:
        """(node, score) of the agent's promotion score `master-<run_id>`, node order."""
        name = f"master-{run_id}"
        out = []
        for node in self.nodes:
            raw = self.attributes.get(node, {}).get(name)
            if raw is not None:
                value = _integer(raw)
                if value is not None:
                    out.append((node, value))
        return out


@dataclass(frozen=True)
class ColocRole:
    """A colocation that decides which clone instances are promoted."""

    id: str
    clone: str
    targets: tuple[str, ...]
    target: str
    score: int
    with_role: str | None
    dependent_role: bool
    """True: the clone's promoted instance follows the target; False: the dependent
    (already placed) pulls promotion towards itself."""


def _integer(raw: str) -> int | None:
    text = raw.strip()
    if text in ("INFINITY", "+INFINITY"):
        return INFINITY
    if text == "-INFINITY":
        return -INFINITY
    try:
        return clamp(int(text))
    except ValueError:
        return None


def _renamed(i: Instance) -> Resource:
    from dataclasses import replace

    return replace(i.rsc, id=i.id)


def node_of(state: ClusterState, name: str) -> NodeState:
    """A configured node missing from the snapshot is treated as unclean.

    The snapshot is documented to hold every configured node; if one is missing we
    know nothing about it, and S1 demands we assume its resources may be running.
    """
    return state.nodes.get(name) or NodeState(name, Membership.UNCLEAN)


def _unavailable(node: NodeState) -> str | None:
    if node.membership is Membership.OFFLINE:
        return f"{node.name} is offline"
    if node.membership is Membership.UNCLEAN:
        return f"{node.name} is unclean (lost, not yet fenced)"
    if node.shutting_down:
        return f"{node.name} is shutting down"
    if node.maintenance:
        return f"{node.name} is in maintenance"
    if node.pending:
        return f"{node.name} is pending (joining, not yet probed)"
    if node.standby:
        return f"{node.name} is in standby"
    return None


def _group(pairs: list[tuple[K, V]]) -> dict[K, tuple[V, ...]]:
    out: dict[K, list[V]] = {}
    for key, value in pairs:
        out.setdefault(key, []).append(value)
    return {k: tuple(v) for k, v in out.items()}


def _on_fail(inp_config: ClusterConfig, inst: Instance, op: str) -> str:
    return inst.rsc.ops.on_fail_for(op or "monitor", inp_config.fencing.enabled)


def _view(
    inst: Instance, config: ClusterConfig, state: ClusterState, nodes: tuple[str, ...],
    maintenance_nodes: frozenset[str],
    statuses: Mapping[str, ResourceStatus], failures: Mapping[str, FailCount],
) -> tuple[ResourceView, str | None, list[tuple[str, str]], list[str]]:
    """The view, a stop cause (on_fail stop), fence requests and standby nodes."""
    active: list[str] = []
    failed: set[str] = set()
    promoted: set[str] = set()
    lost_on: list[str] = []
    blocked: str | None = None
    frozen: str | None = None
    stop_cause: str | None = None
    fence: list[tuple[str, str]] = []
    standby: list[str] = []
    held: list[str] = []
    demote_bans: list[str] = []
    only = inst.home if inst.clone is not None and not inst.clone.unique else ""
    names = statuses.keys() | failures.keys() if failures else statuses.keys()
    if only != "":
        names = {only} & names if only is not None else set()
    for name in sorted(names, key=nodes.index) if len(names) > 1 else names:
        node = node_of(state, name)
        status = statuses.get(name)
        st = status.state if status else RscState.STOPPED
        if node.membership is Membership.OFFLINE:
            if st in _POSSIBLY_ACTIVE:
                lost_on.append(name)
            continue
        if node.membership is Membership.UNCLEAN:
            if st in _POSSIBLY_ACTIVE and blocked is None:
                blocked = (
                    f"possibly active on {name}, which is unclean: waiting for {name} "
                    "to be fenced or for its lease to expire plus the self-fence timeout"
                )
            continue
        if st is RscState.STOP_FAILED:
            held.append(name)
            if _on_fail(config, inst, "stop") == "fence":
                fence.append((name, f"stop of {inst.id} failed on {name}"))
            if blocked is None:
                blocked = (
                    f"stop failed on {name}: blocked until {name} is fenced "
                    "or the failure is cleaned up (vigil resource cleanup)"
                )
            continue
        fc = failures.get(name)
        if st is RscState.FAILED or fc is not None:
            op = (status.last_op if status and st is RscState.FAILED else "") or (
                fc.op if fc else "monitor")
            if op == "monitor" and st is RscState.FAILED and status is not None \
                    and status.promoted:
                op = "monitor_promoted"  # the Promoted-role monitor has its own on_fail
            policy = _on_fail(config, inst, op)
            if st is RscState.FAILED and policy == "ignore":
                st = RscState.STARTED
            elif st is RscState.FAILED and policy == "block" and frozen is None:
                frozen = f"blocked: its {op} failed on {name} (on_fail block)"
            elif policy == "stop" and stop_cause is None:
                stop_cause = f"stopped after its {op} failure on {name} (on_fail stop)"
            elif policy == "standby" and st is RscState.FAILED:
                standby.append(name)
            elif policy == "fence" and st is RscState.FAILED:
                fence.append((name, f"{op} of {inst.id} failed on {name} (on_fail fence)"))
                if blocked is None:
                    blocked = f"waiting for {name} to be fenced after its {op} failure"
                continue
            elif policy == "demote" and inst.clone is not None and inst.clone.promotable \
                    and st is RscState.FAILED:
                # Demote rather than recover. As Pacemaker documents, this does not
                # change how promotion is decided: if the node still has the best
                # promotion score it is promoted again there (demote, then promote).
                if status is not None and status.promoted:
                    demote_bans.append(name)
                st = RscState.STARTED
        if name in maintenance_nodes and st in _POSSIBLY_ACTIVE and frozen is None:
            frozen = f"left alone: {name} is in maintenance"
        if st in _RUNNING:
            active.append(name)
            if st is RscState.FAILED:
                failed.add(name)
            if status is not None and status.promoted:
                promoted.add(name)
    meta = inst.meta
    if frozen is None and (config.maintenance_mode or meta.maintenance or not meta.is_managed):
        why = ("cluster maintenance mode" if config.maintenance_mode
               else "maintenance" if meta.maintenance else "is_managed false")
        frozen = f"unmanaged ({why})"
    if frozen is None and len(active) > 1 and inst.clone is None \
            and meta.multiple_active == "block":
        frozen = f"active on several nodes ({', '.join(active)}): blocked (multiple_active block)"
    view = ResourceView(inst.id, tuple(active), frozenset(failed), blocked, tuple(lost_on),
                        frozenset(promoted), frozen, tuple(held), tuple(demote_bans))
    return view, stop_cause, fence, standby


def _role_of(config_role: str, runtime: Mapping[str, str], *ids: str) -> str:
    return str(next((runtime[i] for i in ids if i in runtime), config_role))


def _target_roles(inp_state: ClusterState, inst: Instance) -> list[str]:
    """Every level's target role (primitive, group, clone); runtime overrides config."""
    rt = inp_state.target_roles
    roles = [_role_of(inst.rsc.meta.target_role, rt, inst.primitive)]
    if inst.group is not None:
        roles.append(_role_of(inst.group.meta.target_role, rt, inst.group.id))
    if inst.clone is not None:
        roles.append(_role_of(inst.clone.meta.target_role, rt, inst.clone.id))
    return [r.lower() for r in roles]


def _node_attributes(config: ClusterConfig, state: ClusterState) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for n in config.nodes:
        attrs = dict(n.attributes)
        attrs.update(state.node_attributes.get(n.name, {}))
        attrs["#uname"] = n.name
        attrs["#id"] = n.name
        attrs["#kind"] = "cluster"
        out[n.name] = attrs
    return out


def _location_scores(
    loc: LocationConstraint, nodes: tuple[str, ...], attrs: Mapping[str, Mapping[str, str]]
) -> tuple[LocationScore, ...]:
    if not loc.rules:
        if loc.node not in attrs or loc.node not in nodes:
            return ()
        score = clamp(loc.score)
        if score <= -INFINITY:
            why = f"location {loc.id} bans {loc.node}"
        else:
            why = f"location {loc.id} gives {loc.node} {format_score(score)}"
        return (LocationScore(loc.node, score, why),)
    out = []
    for rule in loc.rules:
        for node in nodes:
            got = rule_score(rule, attrs[node])
            if got is None:
                continue
            out.append(LocationScore(node, got, f"location {loc.id} rule "
                                     f"({describe_rule(rule)}) gives {node} {format_score(got)}"))
    return tuple(out)


def _set_pairs(sets: tuple[ResourceSet, ...], colocation: bool = False
               ) -> list[tuple[str, str, ResourceSet, ResourceSet]]:
    """(before, after, set of before, set of after) pairs that a set constraint implies.

    Orders: the last member of a sequential set before the first of the next set.
    Colocations (as crm_simulate shows): the first member of a sequential set with the
    last member of the next set. A non-sequential set takes part with every member.
    """
    pairs: list[tuple[str, str, ResourceSet, ResourceSet]] = []
    for s in sets:
        if s.sequential:
            pairs.extend((a, b, s, s) for a, b in itertools.pairwise(s.resources))
    for s1, s2 in itertools.pairwise(sets):
        if colocation:
            lefts = s1.resources[:1] if s1.sequential else s1.resources
            rights = s2.resources[-1:] if s2.sequential else s2.resources
        else:
            lefts = s1.resources[-1:] if s1.sequential else s1.resources
            rights = s2.resources[:1] if s2.sequential else s2.resources
        pairs.extend((a, b, s1, s2) for a in lefts for b in rights)
    return pairs


def prepare(config: ClusterConfig, state: ClusterState) -> Inputs:
    nodes = config.node_names
    node_index = {n: i for i, n in enumerate(nodes)}
    lay = layout(config, state, nodes)
    index = {inst.id: i for i, inst in enumerate(lay.instances)}
    node_states = {n: node_of(state, n) for n in nodes}
    maintenance_nodes = frozenset(n for n, s in node_states.items()
                                  if s.maintenance and s.membership is Membership.ONLINE)
    unavailable = {n: _unavailable(node_states[n]) for n in nodes}

    # Index the state by run id once. A stopped status says nothing (missing means
    # stopped), so only the others are kept: with every resource probed on every node
    # that is most of the state. Each run id's few entries are then put in config node
    # order, so nothing depends on the mappings' order.
    stopped = RscState.STOPPED
    by_run: dict[str, dict[str, ResourceStatus]] = {}
    for key, status in state.resources.items():
        if status.state is not stopped and key[0] in node_index:
            by_run.setdefault(key[1], {})[key[0]] = status
    fails: dict[str, dict[str, FailCount]] = {}
    for key, fc in state.failures.items():
        if key[0] in node_index:
            fails.setdefault(key[1], {})[key[0]] = fc
    by_run = {rid: _in_node_order(per_node, node_index) for rid, per_node in by_run.items()}
    fails = {rid: _in_node_order(per_node, node_index) for rid, per_node in fails.items()}
    views: dict[str, ResourceView] = {}
    role_stopped: dict[str, str] = {}
    no_promote: set[str] = set()
    fence: dict[str, str] = {}
    standby: dict[str, str] = {}
    for inst in lay.instances:
        view, stop_cause, fences, standbys = _view(
            inst, config, state, nodes, maintenance_nodes,
            by_run.get(inst.run_id, {}), fails.get(inst.run_id, {}))
        views[inst.id] = view
        roles = _target_roles(state, inst)
        if inst.orphan:
            role_stopped[inst.id] = f"orphan: clone {inst.item} runs at most " \
                                    f"{inst.clone.clone_max if inst.clone else 0} instances"
        elif "stopped" in roles:
            role_stopped[inst.id] = "target-role Stopped"
        elif stop_cause is not None:
            role_stopped[inst.id] = stop_cause
        if "unpromoted" in roles:
            no_promote.add(inst.id)
        for node, why in fences:
            fence.setdefault(node, why)
        for node in standbys:
            standby.setdefault(node, f"{node} is in standby after a failure of {inst.id} "
                               "(on_fail standby)")
    for node, why in {**standby, **fence}.items():
        if unavailable.get(node) is None:
            unavailable[node] = why if node in standby else f"{node} must be fenced: {why}"
    # An instance active on a node being fenced is blocked until fencing is confirmed.
    if fence:
        for inst in lay.instances:
            v = views[inst.id]
            hit = [n for n in v.active if n in fence]
            if hit and v.blocked is None:
                views[inst.id] = ResourceView(
                    v.id, v.active, v.failed,
                    f"possibly active on {hit[0]}, which must be fenced first", v.lost_on,
                    v.promoted, v.frozen, v.held, v.no_promotion)

    attrs = _node_attributes(config, state)
    loc_scores: list[tuple[str, LocationScore]] = []
    promo_scores: list[tuple[str, LocationScore]] = []
    for loc in (*config.locations, *state.runtime_locations):
        # A group's location goes to its first member (the others follow it and pull
        # it with their own preferences), a clone's to every instance.
        targets = lay.heads.get(loc.resource)
        if not targets:
            continue
        scored = _location_scores(loc, nodes, attrs)
        if loc.role in ("Promoted",):
            clone = lay.clone_of.get(loc.resource)
            if clone is not None:
                promo_scores.extend((clone.id, s) for s in scored)
            continue
        for iid in targets:
            loc_scores.extend((iid, s) for s in scored)

    colocs: list[Coloc] = []
    promo_colocs: list[ColocRole] = []
    for inst in lay.instances:
        if inst.prev is not None:
            g = inst.group
            colocs.append(Coloc(f"group {g.id if g else '?'}", (inst.id,), inst.prev,
                                (inst.prev,), 1_000_000, None, True))

    def colocate(cid: str, rsc: str, role: str | None, with_rsc: str, with_role: str | None,
                 score: int) -> None:
        deps = lay.heads.get(rsc)
        targets = lay.heads.get(with_rsc)
        if not deps or not targets or rsc == with_rsc:
            return
        if role in ("Promoted", "Unpromoted") and rsc in lay.clone_of \
                and lay.clone_of[rsc].promotable:
            promo_colocs.append(ColocRole(cid, lay.clone_of[rsc].id, targets, with_rsc,
                                          clamp(score), with_role, True))
            return
        if with_role == "Promoted" and with_rsc in lay.clone_of \
                and lay.clone_of[with_rsc].promotable:
            promo_colocs.append(ColocRole(cid, lay.clone_of[with_rsc].id, deps, rsc,
                                          clamp(score), with_role, False))
        colocs.append(Coloc(cid, deps, with_rsc, targets, clamp(score), with_role))

    for c in config.colocations:
        colocate(c.id, c.resource, c.role, c.with_resource, c.with_role, c.score)
    for cs in config.colocation_sets:
        for before, after, s1, s2 in _set_pairs(cs.sets, colocation=True):
            if s1 is s2:
                colocate(cs.id, after, s1.role, before, s1.role, cs.score)
            else:
                colocate(cs.id, before, s1.role, after, s2.role, cs.score)

    orders: list[Order] = []
    for inst in lay.instances:
        if inst.prev is not None and inst.group is not None:
            orders.append(Order(f"group {inst.group.id}", (inst.prev,), (inst.id,),
                                first_name=inst.prev, then_name=inst.id))
        cl = inst.clone
        if cl is not None and cl.ordered and inst.number > 0 and inst.member == 0:
            prev_head = lay.heads[cl.id][inst.number - 1]
            orders.append(Order(f"clone {cl.id} ordered", (prev_head,), (inst.id,),
                                first_name=prev_head, then_name=inst.id))

    def order(oid: str, first: str, then: str, kind: str, symmetrical: bool,
              first_action: str, then_action: str) -> None:
        f_side = _side(lay, first, first_action, first=True)
        t_side = _side(lay, then, then_action, first=False)
        if not f_side or not t_side or first == then:
            return
        then_clone = lay.clone_of.get(then) if then in lay.clone_of else None
        first_clone = lay.clone_of.get(first) if first in lay.clone_of else None
        interleave = bool(then_clone and first_clone and then_clone.interleave)
        orders.append(Order(oid, f_side, t_side, kind, symmetrical, first_action,
                            then_action, interleave, first, then))

    for o in config.orders:
        order(o.id, o.first, o.then, o.kind, o.symmetrical, o.first_action, o.then_action)
    for os_ in config.order_sets:
        anyof: dict[tuple[int, str], list[str]] = {}
        for before, after, s1, s2 in _set_pairs(os_.sets):
            if s1 is not s2 and not s1.require_all and not s1.sequential:
                anyof.setdefault((id(s1), after), []).append(before)
                continue
            order(os_.id, before, after, os_.kind, os_.symmetrical,
                  s1.action or "start", s2.action or "start")
        # require_all false: `then` needs any one member of the set before it, so one
        # order with them all as `first` (it cannot run only if none of them runs).
        for s1, s2 in itertools.pairwise(os_.sets):
            for after in s2.resources:
                firsts = anyof.get((id(s1), after))
                if not firsts:
                    continue
                f_side = tuple(i for f in firsts
                               for i in _side(lay, f, s1.action or "start", first=True))
                t_side = _side(lay, after, s2.action or "start", first=False)
                if f_side and t_side:
                    orders.append(Order(os_.id, f_side, t_side, os_.kind, os_.symmetrical,
                                        s1.action or "start", s2.action or "start", False,
                                        " or ".join(firsts), after))

    return Inputs(
        config=config,
        state=state,
        nodes=nodes,
        node_index=node_index,
        name_rank={n: i for i, n in enumerate(sorted(nodes))},
        instances=lay.instances,
        index=index,
        layout=lay,
        unavailable=unavailable,
        attributes=attrs,
        views=views,
        role_stopped=role_stopped,
        no_promote=frozenset(no_promote),
        locations=_group(loc_scores),
        promotion_locations=_group(promo_scores),
        colocations=tuple(colocs),
        colocations_of=_group([(d, c) for c in colocs for d in c.dependents]),
        colocated_with=_group([(t, c) for c in colocs for t in c.targets]),
        promotion_colocations=tuple(promo_colocs),
        orders=tuple(orders),
        orders_by_first=_group([(f, o) for o in orders for f in o.first]),
        orders_by_then=_group([(t, o) for o in orders for t in o.then]),
        fence=tuple(sorted(fence.items(), key=lambda kv: node_index[kv[0]])),
        promotion_bans=frozenset((iid, n) for iid, v in views.items() for n in v.no_promotion),
        failures={rid: tuple(f.items()) for rid, f in fails.items()},
    )


def _in_node_order(per_node: dict[str, V], node_index: Mapping[str, int]) -> dict[str, V]:
    if len(per_node) < 2:
        return per_node
    return dict(sorted(per_node.items(), key=lambda kv: node_index[kv[0]]))


def _side(lay: Layout, rid: str, action: str, first: bool) -> tuple[str, ...]:
    """The instances an order's side stands for.

    Starting (or promoting) completes with the last members of a group and begins
    with its first; stopping (or demoting) the other way round.
    """
    forward = action in ("start", "promote")
    use_tails = first == forward
    return (lay.tails if use_tails else lay.heads).get(rid, ())


__all__ = ["Inputs", "OrderConstraint", "ResourceView", "node_of", "prepare"]
