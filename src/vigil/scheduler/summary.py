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

from vigil.model.config import INFINITY, ClusterConfig, Operations, Resource, ResourceMeta
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
        acts = by_name[name]
        stop_nodes = list(dict.fromkeys(a.node for a in acts if a.op == "stop"))
        if len(stop_nodes) > 1 and all(a.op == "stop" for a in acts):
            # Active on several nodes and stopped on each: crm_simulate prints a line
            # per node.
            changes += [Change("Stop", name, n, _stop_reason(config, base[name], acts))
                        for n in stop_nodes]
            continue
        change = _change(config, state, base[name], name, acts, starting)
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


# The scheduler says "stop of svc failed on node1" (or "monitor of ... (on_fail fence)");
# crm_simulate says "svc failed there" for any failed operation whose on-fail is fence.
_OP_FAILED = re.compile(r"\w+ of (\S+) failed on \S+")


def _fence_reason(reason: str) -> str:
    m = _OP_FAILED.match(reason)
    if m:
        return f"{m.group(1)} failed there"
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
    if ops.get("demote") and ops.get("demote") == ops.get("promote") and not stops \
            and not starts:
        # Demoted and promoted again in place (a failed promoted monitor, on_fail demote).
        return Change("Re-promote", name, f"Promoted {ops['promote'][0]}")
    if "promote" in ops and not stops:
        node = ops["promote"][0]
        if starts:
            return Change("Promote", name, f"Stopped -> Promoted {node}")
        return Change("Promote", name, f"Unpromoted -> Promoted {node}")
    if "demote" in ops and not starts:
        node = ops["demote"][0]
        if stops:
            return Change("Stop", name, f"Promoted {node}", _stop_reason(config, rid, actions))
        return Change("Demote", name, f"Promoted -> Unpromoted {node}")
    if starts:
        target = starts[0]
        if not stops:
            return Change("Start", name, target)
        if target in stops:
            if target in failed:
                # A promoted instance recovered in place is promoted again there.
                role = "Promoted " if ops.get("promote") == [target] else ""
                return Change("Recover", name, f"{role}{target}")
            reason = _restart_reason(config, rid, starting, actions)
            return Change("Restart", name, target, reason)
        source = stops[0]
        verb = "Recover" if source in failed else "Move"
        return Change(verb, name, f"{source} -> {target}")
    if stops:
        return Change("Stop", name, stops[0], _stop_reason(config, rid, actions))
    return None


# The scheduler's reasons name what forced a stop or restart; crm_simulate says it as
# "due to required X start".
_UNRUNNABLE = re.compile(r"needs (\S+) first, and \S+ will not run")
_REQUIRED = re.compile(r"because (\S+) (?:starts|restarts|moves|recovers)(?: \(order (\S+)\))?")


def _stop_reason(config: ClusterConfig, rid: str, actions: Sequence[Action]) -> str:
    """Why a running resource stops: its `first` will not run ("required X start";
    crm_simulate says "unrunnable X start" only of a start it cannot do, a blocked
    action vigil does not list), or no node can take it."""
    for a in actions:
        m = _UNRUNNABLE.search(a.reason)
        if m and not _placed_with(config, rid, m.group(1)):
            return f"required {m.group(1)} start"
    return "node availability"


def _placed_with(config: ClusterConfig, rid: str, first: str) -> bool:
    """`rid` must run where `first` runs (a later member of the same group, or an
    INFINITY colocation): with `first` unable to run, Pacemaker finds no node for `rid`
    and says "node availability" rather than naming the order."""
    for g in config.groups:
        if rid in g.members and first in g.members:
            return g.members.index(first) < g.members.index(rid)
    return any(c.resource == rid and c.with_resource == first and c.score >= INFINITY
               for c in config.colocations)


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
            group = next(g for g in config.groups if g.id == tid)
            flag = " (unmanaged)" if not group.meta.is_managed else ""
            lines.append(f"    * Resource Group: {tid}{flag}:")
            lines += [_primitive_line(config, state, m, m, "      ", group.meta)
                      for m in members]
        else:
            lines.append(_primitive_line(config, state, tid, tid, "    "))
    return lines


def _node_lines(config: ClusterConfig, state: ClusterState) -> list[str]:
    lines: list[str] = []
    online: list[str] = []
    offline: list[str] = []
    # One pass over the states (a large cluster has nodes x resources of them).
    active = {n for (n, _), st in state.resources.items() if st.state in _ACTIVE}
    to_fence = _to_fence(config, state)
    for name in config.node_names:
        node = state.nodes.get(name) or NodeState(name, Membership.UNCLEAN)
        busy = name in active
        if node.membership is Membership.UNCLEAN:
            lines.append(f"    * Node {name}: UNCLEAN (offline)")
        elif node.membership is Membership.ONLINE and name in to_fence:
            lines.append(f"    * Node {name}: UNCLEAN (online)")
        elif node.membership is Membership.OFFLINE:
            offline.append(name)
        elif node.maintenance:
            lines.append(f"    * Node {name}: maintenance")
        elif node.standby:  # a node shutting down shows as online, as crm_simulate shows it
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
            if _resource(config, rid).ops.on_fail_for(op, config.fencing.enabled) == "standby":
                return True
    return False


def _blocked(config: ClusterConfig, status: ResourceStatus | None, ops: Operations) -> bool:
    """A failure whose on_fail is block: nothing more is done with it there."""
    if status is None or status.state not in (RscState.FAILED, RscState.STOP_FAILED):
        return False
    op = "stop" if status.state is RscState.STOP_FAILED else (status.last_op or "monitor")
    return ops.on_fail_for(op, config.fencing.enabled) == "block"


def _ignored(config: ClusterConfig, status: ResourceStatus | None, ops: Operations) -> bool:
    """A failure whose on_fail is ignore: shown as running, "(failure ignored)"."""
    if status is None or status.state is not RscState.FAILED:
        return False
    return ops.on_fail_for(status.last_op or "monitor", config.fencing.enabled) == "ignore"


def _to_fence(config: ClusterConfig, state: ClusterState) -> set[str]:
    """Nodes where an operation failed (a stop, or another op) whose on_fail is fence."""
    known = {r.id for r in config.resources}
    nodes: set[str] = set()
    for (n, key), st in state.resources.items():
        if st.state not in (RscState.FAILED, RscState.STOP_FAILED):
            continue
        rid = key.partition(":")[0]
        op = "stop" if st.state is RscState.STOP_FAILED else (st.last_op or "monitor")
        if rid in known and \
                _resource(config, rid).ops.on_fail_for(op, config.fencing.enabled) == "fence":
            nodes.add(n)
    return nodes


def _where(config: ClusterConfig, state: ClusterState, key: str) -> list[tuple[str, RscState]]:
    """(node, state) where the resource (or unique instance) `key` is possibly active."""
    out = []
    for name in config.node_names:
        node = state.nodes.get(name)
        st = state.state_of(name, key)
        if st in _ACTIVE and (node is None or node.membership is not Membership.OFFLINE):
            out.append((name, st))
    return out


_INDEX: list[tuple[ClusterConfig, dict[str, Resource]]] = []


def _resource(config: ClusterConfig, rid: str) -> Resource:
    """config.resource(rid) by a dict (status lines of 5,000 resources), kept for the
    config last asked about."""
    if not _INDEX or _INDEX[0][0] is not config:
        _INDEX[:] = [(config, {r.id: r for r in config.resources})]
    return _INDEX[0][1][rid]


def _primitive_line(config: ClusterConfig, state: ClusterState, rid: str, key: str,
                    indent: str, parent: ResourceMeta | None = None) -> str:
    rsc = _resource(config, rid)
    meta = rsc.meta if parent is None else rsc.meta.inherit(parent)
    role = str(state.target_roles.get(rid, meta.target_role))
    flags = []
    if role == "Stopped":
        flags.append("disabled")
    where = _where(config, state, key)
    ignored = [n for n, st in where if st is RscState.FAILED
               and _ignored(config, state.resources.get((n, key)), rsc.ops)]
    where = [(n, RscState.STARTED if n in ignored else st) for n, st in where]
    if any(_blocked(config, state.resources.get((n, key)), rsc.ops) for n, _ in where) or (
            len(where) > 1 and meta.multiple_active == "block"):
        flags.append("blocked")
    in_maintenance = any(state.nodes[n].maintenance for n, _ in where if n in state.nodes)
    if (not meta.is_managed or meta.maintenance or config.maintenance_mode
            or in_maintenance):
        flags.append("unmanaged")
    if ignored:
        flags.append("failure ignored")
    tail = f" ({', '.join(flags)})" if flags else ""
    unclean = [n for n, _ in where
               if n in state.nodes and state.nodes[n].membership is Membership.UNCLEAN]
    if not where:
        text = "Stopped"
    elif len(where) == 1:
        name, st = where[0]
        word = "Started" if st is RscState.STARTED else "FAILED"
        text = f"{word} {name}" + (" (UNCLEAN)" if name in unclean else "")
    else:
        # On several nodes crm_simulate puts the flags before the node list.
        word = "Started" if all(st is RscState.STARTED for _, st in where) else "FAILED"
        text = f"{word}{tail} [ {' '.join(n for n, _ in where)} ]"
        tail = ""
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
    for m, n in failed:
        st = state.resources.get((n, m))
        role = "Promoted " if clone.promotable and st is not None and st.promoted else ""
        lines.append(f"      * {m}\t({_resource(config, m).agent}):\t FAILED {role}{n}")
    if promoted:
        lines.append(f"      * Promoted: [ {' '.join(promoted)} ]")
    if started:
        word = "Unpromoted" if clone.promotable else "Started"
        if clone.promotable and clone.meta.target_role == "Unpromoted":
            word += " (target-role)"  # held unpromoted by its target-role
        lines.append(f"      * {word}: [ {' '.join(started)} ]")
    busy = set(promoted) | set(started) | {n for _, n in failed}
    # crm_simulate lists the nodes without an instance while fewer than clone_max run
    # well (failed ones are listed apart and do not count); in an opt-in cluster only
    # the nodes where the clone has a history (before scheduling, no location allows
    # it anywhere yet).
    if len(promoted) + len(started) < limit:
        stopped = [n for n in config.node_names if n not in busy and (
            config.symmetric_cluster or any((n, m) in state.resources for m in members))]
        if stopped:
            disabled = " (disabled)" if clone.meta.target_role == "Stopped" else ""
            lines.append(f"      * Stopped{disabled}: [ {' '.join(stopped)} ]")
    return lines


def apply_transition(state: ClusterState, transition: Transition,
                     config: ClusterConfig | None = None) -> ClusterState:
    """The state after every action of the transition succeeded (crm_simulate -S).

    With `config`, also the probes crm_simulate simulates (and vigil runs when a node
    joins): every primitive without a history on an online node is found stopped there."""
    resources = dict(state.resources)
    nodes = dict(state.nodes)
    if config is not None:
        for node in config.node_names:
            ns = nodes.get(node)
            if ns is None or ns.membership is not Membership.ONLINE:
                continue
            for rid in _probe_keys(config):
                if (node, rid) not in resources:
                    resources[(node, rid)] = ResourceStatus(
                        node, rid, RscState.STOPPED, "monitor", 7, state.now)
    for node, _ in transition.fence:
        if node in nodes:
            nodes[node] = replace(nodes[node], membership=Membership.OFFLINE)
        for here in [k for k in resources if k[0] == node]:
            resources[here] = replace(resources[here], state=RscState.STOPPED)
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


def _probe_keys(config: ClusterConfig) -> list[str]:
    """What status is kept under: primitive ids, and `<primitive>:<n>` for unique clones."""
    groups = {g.id: g.members for g in config.groups}
    unique: dict[str, int] = {}
    for c in config.clones:
        if c.unique:
            limit = c.clone_max if c.clone_max is not None else len(config.node_names)
            for m in groups.get(c.child, (c.child,)):
                unique[m] = limit
    keys: list[str] = []
    for r in config.resources:
        if r.id in unique:
            keys += [f"{r.id}:{i}" for i in range(unique[r.id])]
        else:
            keys.append(r.id)
    return keys
