"""A transition and a cluster state as crm_simulate prints them.

Pacemaker users read `crm_simulate`'s "Transition Summary:" and "Current cluster status:"
sections daily; `vigil simulate` prints the same lines so that the two can be compared
line by line (docs/pacemaker.md lists where vigil deliberately differs).

The line format was taken from what Debian's crm_simulate 2.1.5 prints:

    * Start      rsc1                   (          node2 )
    * Move       rsc2                   ( node1 -> node2 )
    * Restart    rsc3                   (          node1 )  due to required rsc2 start
    * Fence (reboot) node3 'peer is no longer part of the cluster'

The change is left-aligned in 8 columns. The resource column starts 5 wide and, for each
line in turn whose id is longer than the current width, becomes that id's length + 2
(so the width depends on the order of the lines, exactly as crm_simulate's does). The
details column is right-aligned to the longest details of all lines (at least 5).
Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from vigil.model.config import ClusterConfig, Operations
from vigil.model.state import ClusterState, Membership, NodeState, ResourceStatus, RscState
from vigil.model.transition import Action, Transition

_ACTIVE = (RscState.STARTED, RscState.FAILED, RscState.STOP_FAILED)


@dataclass(frozen=True)
class Change:
    """One line of a transition summary: what happens to one resource."""

    change: str
    """Start, Stop, Move, Recover, Restart, Promote, Demote, Migrate, ..."""
    resource: str
    details: str
    """"node2", "node1 -> node2", "Unpromoted -> Promoted node1"."""
    reason: str = ""
    """Without the leading "due to "; empty: none printed."""
    blocked: bool = False


@dataclass(frozen=True)
class Fence:
    node: str
    reason: str
    action: str = "reboot"


def format_summary(fences: Sequence[Fence], changes: Sequence[Change]) -> list[str]:
    """The lines under "Transition Summary:", each starting with two spaces."""
    rsc_width = 5
    for c in changes:
        if len(c.resource) > rsc_width:
            rsc_width = len(c.resource) + 2
    detail_width = max((5, *(len(c.details) for c in changes)))
    lines = [f"  * Fence ({f.action}) {f.node} '{f.reason}'" for f in fences]
    for c in changes:
        tail = ""
        if c.reason:
            tail = f"  due to {c.reason}" + (" (blocked)" if c.blocked else "")
        elif c.blocked:
            tail = "  blocked"
        lines.append(
            f"  * {c.change:<8}   {c.resource:<{rsc_width}}   ( {c.details:>{detail_width}} ){tail}"
        )
    return lines


def summarize(config: ClusterConfig, state: ClusterState, transition: Transition) -> list[str]:
    """crm_simulate's Transition Summary lines for a vigil transition."""
    fences, changes = transition_changes(config, state, transition)
    return format_summary(fences, changes)


def transition_changes(
    config: ClusterConfig, state: ClusterState, transition: Transition
) -> tuple[list[Fence], list[Change]]:
    """Group a transition's actions into one change per resource (or clone instance),
    fences first, then resources in config order (instances by number)."""
    fences = [Fence(node, _fence_reason(reason)) for node, reason in transition.fence]
    by_name: dict[str, list[Action]] = {}
    base: dict[str, str] = {}
    for a in transition.actions:
        name = a.instance or a.resource
        by_name.setdefault(name, []).append(a)
        base[name] = a.resource
    starting = {base[n] for n, acts in by_name.items() if any(a.op == "start" for a in acts)}
    tops = top_level(config)
    where = {rid: (i, j) for i, (_, _, members) in enumerate(tops)
             for j, rid in enumerate(members)}
    # crm_simulate's order: top-level resources by priority then CIB order; inside a
    # cloned group instance by instance, members in order.
    order = sorted(by_name, key=lambda n: (*where.get(base[n], (len(tops), 0))[:1],
                                           _instance_no(n), where.get(base[n], (0, 0))[1], n))
    changes: list[Change] = []
    for name in order:
        change = _change(config, state, base[name], name, by_name[name], starting)
        if change is not None:
            changes.append(change)
    return fences, changes


def top_level(config: ClusterConfig) -> list[tuple[str, str, tuple[str, ...]]]:
    """(kind, id, primitives) of each top-level resource (primitive, group, clone), in
    crm_simulate's order: by priority (highest first), then as the config lists them."""
    groups = {g.id: g for g in config.groups}
    owner: dict[str, str] = {}
    items: dict[str, tuple[str, str, tuple[str, ...], int]] = {}
    for c in config.clones:
        members = groups[c.child].members if c.child in groups else (c.child,)
        items[c.id] = ("clone", c.id, members, c.meta.priority)
        for m in members:
            owner[m] = c.id
        if c.child in groups:
            owner[c.child] = c.id
    for g in config.groups:
        if g.id in owner:
            continue
        items[g.id] = ("group", g.id, g.members, g.meta.priority)
        for m in g.members:
            owner[m] = g.id
    ordered: list[tuple[str, str, tuple[str, ...], int]] = []
    seen: set[str] = set()
    for r in config.resources:
        top = owner.get(r.id, r.id)
        if top in seen:
            continue
        seen.add(top)
        ordered.append(items.get(top, ("primitive", r.id, (r.id,), r.meta.priority)))
    ordered.sort(key=lambda item: -item[3])  # stable: config order among equals
    return [(kind, tid, members) for kind, tid, members, _ in ordered]


def _instance_no(name: str) -> int:
    _, _, number = name.rpartition(":")
    return int(number) if number.isdigit() else -1


def _fence_reason(reason: str) -> str:
    return reason or "node is unclean"


def _change(
    config: ClusterConfig,
    state: ClusterState,
    rid: str,
    name: str,
    actions: Sequence[Action],
    starting: Iterable[str],
) -> Change | None:
    ops: dict[str, list[str]] = {}
    for a in actions:
        ops.setdefault(str(a.op), []).append(a.node)
    stops = ops.get("stop", [])
    starts = ops.get("start", [])
    failed = {n for n in config.node_names if state.state_of(n, rid) is RscState.FAILED}
    if "promote" in ops and not stops:
        node = ops["promote"][0]
        if starts:
            return Change("Promote", name, f"Stopped -> Promoted {node}")
        return Change("Promote", name, f"Unpromoted -> Promoted {node}")
    if "demote" in ops and not starts:
        node = ops["demote"][0]
        if stops:
            return Change("Stop", name, f"Promoted {node}")
        return Change("Demote", name, f"Promoted -> Unpromoted {node}")
    if starts:
        target = starts[0]
        if not stops:
            return Change("Start", name, target)
        if target in stops:
            if target in failed:
                return Change("Recover", name, target)
            reason = _restart_reason(config, rid, starting, actions)
            return Change("Restart", name, target, reason)
        source = stops[0]
        verb = "Recover" if source in failed else "Move"
        return Change(verb, name, f"{source} -> {target}")
    if stops:
        return Change("Stop", name, stops[0], _stop_reason(actions))
    return None


# The scheduler's reasons name what forced a stop or restart; crm_simulate says it as
# "due to unrunnable X start" and "due to required X start".
_UNRUNNABLE = re.compile(r"needs (\S+) first, and \S+ will not run")
_REQUIRED = re.compile(r"because (\S+) (?:starts|restarts|moves|recovers)(?: \(order (\S+)\))?")


def _stop_reason(actions: Sequence[Action]) -> str:
    for a in actions:
        m = _UNRUNNABLE.search(a.reason)
        if m:
            return f"unrunnable {m.group(1)} start"
    return "node availability"


def _restart_reason(config: ClusterConfig, rid: str, starting: Iterable[str],
                    actions: Sequence[Action] = ()) -> str:
    """crm_simulate names the `first` whose (re)start forces this restart."""
    for a in actions:
        m = _REQUIRED.search(a.reason)
        if m:
            # After a group (or a clone, not interleaved) crm_simulate names the whole
            # resource's "running" rather than its member's start.
            order = next((o for o in config.orders if o.id == m.group(2)), None)
            containers = {g.id for g in config.groups} | {c.id for c in config.clones
                                                          if not c.interleave}
            if order is not None and order.first in containers:
                return f"required {order.first} running"
            return f"required {m.group(1)} start"
    started = set(starting)
    for o in config.orders:
        if o.then == rid and o.kind == "Mandatory" and o.first in started:
            return f"required {o.first} start"
    return ""


# -- cluster status ---------------------------------------------------------------------------


def status_lines(config: ClusterConfig, state: ClusterState) -> list[str]:
    """The body of crm_simulate's "Current cluster status:" (and "Revised ...") section.

    Resources in config order; a group or clone is shown where its first primitive is,
    as crm_simulate shows them in CIB order (which the importer keeps)."""
    lines = ["  * Node List:", *_node_lines(config, state), "", "  * Full List of Resources:"]
    for kind, tid, members in top_level(config):
        if kind == "clone":
            lines += _clone_lines(config, state, tid, members)
        elif kind == "group":
            lines.append(f"    * Resource Group: {tid}:")
            lines += [_primitive_line(config, state, m, m, "      ") for m in members]
        else:
            lines.append(_primitive_line(config, state, tid, tid, "    "))
    return lines


def _node_lines(config: ClusterConfig, state: ClusterState) -> list[str]:
    lines: list[str] = []
    online: list[str] = []
    offline: list[str] = []
    for name in config.node_names:
        node = state.nodes.get(name) or NodeState(name, Membership.UNCLEAN)
        busy = any(st.state in _ACTIVE for (n, _), st in state.resources.items() if n == name)
        if node.membership is Membership.UNCLEAN:
            lines.append(f"    * Node {name}: UNCLEAN (offline)")
        elif node.membership is Membership.ONLINE and _to_fence(config, state, name):
            lines.append(f"    * Node {name}: UNCLEAN (online)")
        elif node.membership is Membership.OFFLINE:
            offline.append(name)
        elif node.maintenance:
            lines.append(f"    * Node {name}: maintenance")
        elif node.standby or node.shutting_down:
            suffix = " (with active resources)" if busy else ""
            lines.append(f"    * Node {name}: standby{suffix}")
        elif _on_fail_standby(config, state, name):
            suffix = " (with active resources)" if busy else ""
            lines.append(f"    * Node {name}: standby (on-fail){suffix}")
        else:
            online.append(name)
    if online:
        lines.append(f"    * Online: [ {' '.join(online)} ]")
    if offline:
        lines.append(f"    * OFFLINE: [ {' '.join(offline)} ]")
    return lines


def _on_fail_standby(config: ClusterConfig, state: ClusterState, node: str) -> bool:
    """A failure on the node of an operation whose on_fail is standby."""
    known = {r.id for r in config.resources}
    for (n, rid), fc in state.failures.items():
        if n == node and rid in known and fc.count > 0:
            op = fc.op.rpartition("_")[0] or fc.op
            if config.resource(rid).ops.on_fail_for(op, config.fencing.enabled) == "standby":
                return True
    return False


def _blocked(config: ClusterConfig, status: ResourceStatus | None, ops: Operations) -> bool:
    """A failure whose on_fail is block: nothing more is done with it there."""
    if status is None or status.state not in (RscState.FAILED, RscState.STOP_FAILED):
        return False
    op = "stop" if status.state is RscState.STOP_FAILED else (status.last_op or "monitor")
    return ops.on_fail_for(op, config.fencing.enabled) == "block"


def _to_fence(config: ClusterConfig, state: ClusterState, node: str) -> bool:
    """A stop failed on the node and that stop's on_fail is fence."""
    for (n, key), st in state.resources.items():
        if n == node and st.state is RscState.STOP_FAILED:
            rid = key.partition(":")[0]
            if any(r.id == rid for r in config.resources) and \
                    config.resource(rid).ops.on_fail_for("stop", config.fencing.enabled) == "fence":
                return True
    return False


def _where(config: ClusterConfig, state: ClusterState, key: str) -> list[tuple[str, RscState]]:
    """(node, state) where the resource (or unique instance) `key` is possibly active."""
    out = []
    for name in config.node_names:
        node = state.nodes.get(name)
        st = state.state_of(name, key)
        if st in _ACTIVE and (node is None or node.membership is not Membership.OFFLINE):
            out.append((name, st))
    return out


def _primitive_line(config: ClusterConfig, state: ClusterState, rid: str, key: str,
                    indent: str) -> str:
    rsc = config.resource(rid)
    role = str(state.target_roles.get(rid, rsc.meta.target_role))
    flags = []
    if role == "Stopped":
        flags.append("disabled")
    where = _where(config, state, key)
    if any(_blocked(config, state.resources.get((n, key)), rsc.ops) for n, _ in where):
        flags.append("blocked")
    in_maintenance = any(state.nodes[n].maintenance for n, _ in where if n in state.nodes)
    if (not rsc.meta.is_managed or rsc.meta.maintenance or config.maintenance_mode
            or in_maintenance):
        flags.append("unmanaged")
    tail = f" ({', '.join(flags)})" if flags else ""
    unclean = {n for n, s in state.nodes.items() if s.membership is Membership.UNCLEAN}
    if not where:
        text = "Stopped"
    elif len(where) == 1:
        name, st = where[0]
        word = "Started" if st is RscState.STARTED else "FAILED"
        text = f"{word} {name}" + (" (UNCLEAN)" if name in unclean else "")
    else:
        word = "Started" if all(st is RscState.STARTED for _, st in where) else "FAILED"
        text = f"{word} [ {' '.join(n for n, _ in where)} ]"
    return f"{indent}* {key}\t({rsc.agent}):\t {text}{tail}"


def _clone_lines(config: ClusterConfig, state: ClusterState, cid: str,
                 members: tuple[str, ...]) -> list[str]:
    clone = next(c for c in config.clones if c.id == cid)
    flags = [k for k, on in (("promotable", clone.promotable), ("unique", clone.unique),
                             ("disabled", clone.meta.target_role in ("Stopped", "Unpromoted")),
                             ("unmanaged", not clone.meta.is_managed or config.maintenance_mode))
             if on]
    head = f"    * Clone Set: {cid} [{clone.child}]"
    lines = [head + (f" ({', '.join(flags)}):" if flags else ":")]
    limit = clone.clone_max if clone.clone_max is not None else len(config.node_names)
    if clone.unique and len(members) == 1:
        child = members[0]
        for i in range(limit):
            lines.append(_primitive_line(config, state, child, f"{child}:{i}", "      "))
        return lines
    promoted: list[str] = []
    started: list[str] = []
    failed: list[tuple[str, str]] = []
    for name in config.node_names:
        here = [(m, state.resources.get((name, m))) for m in members]
        active = [(m, st) for m, st in here if st is not None and st.state in _ACTIVE]
        node = state.nodes.get(name)
        if not active or (node is not None and node.membership is Membership.OFFLINE):
            continue
        bad = [m for m, st in active if st is not None and st.state is not RscState.STARTED]
        if bad:
            failed += [(m, name) for m in bad]
        elif len(active) == len(members):
            first = active[0][1]
            is_promoted = clone.promotable and first is not None and first.promoted
            (promoted if is_promoted else started).append(name)
    lines += [f"      * {m}\t({config.resource(m).agent}):\t FAILED {n}" for m, n in failed]
    if promoted:
        lines.append(f"      * Promoted: [ {' '.join(promoted)} ]")
    if started:
        word = "Unpromoted" if clone.promotable else "Started"
        if clone.promotable and clone.meta.target_role == "Unpromoted":
            word += " (target-role)"  # held unpromoted by its target-role
        lines.append(f"      * {word}: [ {' '.join(started)} ]")
    busy = set(promoted) | set(started) | {n for _, n in failed}
    if len(busy) < limit:
        stopped = [n for n in config.node_names if n not in busy]
        if stopped:
            lines.append(f"      * Stopped: [ {' '.join(stopped)} ]")
    return lines


def apply_transition(state: ClusterState, transition: Transition) -> ClusterState:
    """The state after every action of the transition succeeded (crm_simulate -S)."""
    resources = dict(state.resources)
    nodes = dict(state.nodes)
    for node, _ in transition.fence:
        if node in nodes:
            nodes[node] = replace(nodes[node], membership=Membership.OFFLINE)
        for key in [k for k in resources if k[0] == node]:
            resources[key] = replace(resources[key], state=RscState.STOPPED)
    for a in transition.actions:
        op = str(a.op)
        if op == "stop":
            resources[(a.node, a.resource)] = ResourceStatus(
                a.node, a.resource, RscState.STOPPED, "stop", 0, state.now
            )
        elif op in ("start", "promote", "demote"):
            rc = 8 if op == "promote" else 0
            resources[(a.node, a.resource)] = ResourceStatus(
                a.node, a.resource, RscState.STARTED, op, rc, state.now
            )
    return replace(state, nodes=nodes, resources=resources)
