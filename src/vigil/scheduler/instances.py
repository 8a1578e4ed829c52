"""Expanding groups and clones into instances: the things the scheduler places.

An instance is one copy of one primitive: a plain primitive (`web`), a group member
(`ip`), or a member of a clone instance (`db:0`, `ip:2` for a cloned group). Every
instance has the effective meta (the primitive's, completed by its group's and
clone's) and the id under which the node reports it (`run_id`): anonymous clone
instances are reported under the primitive id on each node, unique ones as `p:<n>`.

Anonymous instance numbers follow where the clone runs: the nodes where it is
possibly active, in config node order, get instances 0, 1, ...; instances beyond
`clone_max` found running are orphans that only get stopped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from vigil.model.config import Clone, ClusterConfig, Group, Resource, ResourceMeta
from vigil.model.state import ClusterState, Membership, RscState

_POSSIBLY_ACTIVE = (RscState.STARTED, RscState.FAILED, RscState.STOP_FAILED)


@dataclass(frozen=True)
class Instance:
    id: str
    """The scheduler's name: `web`, `db:0`, `ip:2` (member ip of group instance 2)."""
    run_id: str
    """What the executor runs and the state is keyed by."""
    rsc: Resource
    """The primitive, with the effective meta."""
    item: str
    """The top-level config item: the primitive, its group, or its clone."""
    clone: Clone | None = None
    number: int = -1
    """Clone instance number (-1 outside clones)."""
    orphan: bool = False
    """A clone instance beyond clone_max found running: it only gets stopped."""
    group: Group | None = None
    member: int = 0
    """Index in its group (0 outside groups)."""
    head: str = ""
    """Instance id of its group instance's first member (itself outside groups)."""
    prev: str | None = None
    """Instance id of the group member before it."""
    home: str | None = None
    """Anonymous clone instances: the node whose copy this instance is (None: new)."""

    @property
    def meta(self) -> ResourceMeta:
        return self.rsc.meta

    @property
    def primitive(self) -> str:
        return self.rsc.id


@dataclass(frozen=True)
class Layout:
    """Where each config id's instances are."""

    instances: tuple[Instance, ...]
    of_item: Mapping[str, tuple[str, ...]]
    """Config id (primitive, group, clone) -> all its instance ids, in order."""
    heads: Mapping[str, tuple[str, ...]]
    """Config id -> the instances that stand for it in placement (group: first members)."""
    tails: Mapping[str, tuple[str, ...]]
    """Config id -> the instances whose start completes it (group: last members)."""
    clone_of: Mapping[str, Clone]
    """Primitive or group id (and the clone id itself) -> its clone."""
    group_of: Mapping[str, Group]
    """Primitive id -> its group."""


def _number(state: ClusterState, nodes: Sequence[str], primitives: Sequence[str]) -> list[str]:
    """Nodes where any of the primitives is possibly active (never offline ones)."""
    out = []
    for node in nodes:
        ns = state.nodes.get(node)
        if ns is not None and ns.membership is Membership.OFFLINE:
            continue
        if any(state.state_of(node, p) in _POSSIBLY_ACTIVE for p in primitives):
            out.append(node)
    return out


def _unique_orphans(state: ClusterState, primitive: str, count: int) -> list[int]:
    numbers: set[int] = set()
    for (_, rid), st in state.resources.items():
        head, sep, tail = rid.rpartition(":")
        if sep and head == primitive and tail.isdigit() and int(tail) >= count \
                and st.state in _POSSIBLY_ACTIVE:
            numbers.add(int(tail))
    return sorted(numbers)


def effective_meta(rsc: Resource, group: Group | None, clone: Clone | None) -> Resource:
    meta = rsc.meta
    if group is not None:
        meta = meta.inherit(group.meta)
    if clone is not None:
        meta = meta.inherit(clone.meta)
    return rsc if meta is rsc.meta else replace(rsc, meta=meta)


def layout(config: ClusterConfig, state: ClusterState, nodes: Sequence[str]) -> Layout:
    prims: dict[str, Resource] = {}
    for r in config.resources:
        prims.setdefault(r.id, r)
    groups = {g.id: g for g in config.groups if all(m in prims for m in g.members)}
    group_of: dict[str, Group] = {}
    for g in groups.values():
        for m in g.members:
            group_of.setdefault(m, g)
    clone_of: dict[str, Clone] = {}
    for c in config.clones:
        if c.child in prims or c.child in groups:
            clone_of.setdefault(c.child, c)
            clone_of.setdefault(c.id, c)
            for m in groups[c.child].members if c.child in groups else ():
                clone_of.setdefault(m, c)

    instances: list[Instance] = []
    of_item: dict[str, list[str]] = {}
    heads: dict[str, list[str]] = {}
    tails: dict[str, list[str]] = {}

    def add(inst: Instance, keys: Sequence[str]) -> None:
        instances.append(inst)
        for key in keys:
            of_item.setdefault(key, []).append(inst.id)

    def unit(members: Sequence[str], group: Group | None, clone: Clone | None, number: int,
             suffix: str, run_suffix: str, orphan: bool, home: str | None) -> None:
        prev: str | None = None
        head = f"{members[0]}{suffix}"
        item = clone.id if clone else group.id if group else members[0]
        for index, m in enumerate(members):
            iid = f"{m}{suffix}"
            rsc = effective_meta(prims[m], group, clone)
            inst = Instance(iid, f"{m}{run_suffix}", rsc, item, clone, number, orphan, group,
                            index, head, prev, home)
            keys = [m] + ([group.id] if group else []) + ([clone.id] if clone else [])
            add(inst, keys)
            prev = iid
        for key in ([group.id] if group else []) + ([clone.id] if clone else []) + [members[0]]:
            heads.setdefault(key, []).append(head)
        for key in ([group.id] if group else []) + ([clone.id] if clone else []):
            tails.setdefault(key, []).append(f"{members[-1]}{suffix}")
        for m in members:
            tails.setdefault(m, []).append(f"{m}{suffix}")
            if m != members[0]:
                heads.setdefault(m, []).append(f"{m}{suffix}")

    seen: set[str] = set()
    for r in config.resources:
        item_id = r.id
        if r.id in clone_of:
            item_id = clone_of[r.id].id
        elif r.id in group_of:
            item_id = group_of[r.id].id
        if item_id in seen:
            continue
        seen.add(item_id)
        if r.id in clone_of:
            c = clone_of[r.id]
            members = list(groups[c.child].members) if c.child in groups else [c.child]
            group = groups.get(c.child)
            count = c.clone_max if c.clone_max is not None else len(nodes)
            if c.unique:
                numbers = list(range(count)) + _unique_orphans(state, members[0], count)
                for n in numbers:
                    unit(members, group, c, n, f":{n}", f":{n}", n >= count, None)
            else:
                homes = _number(state, nodes, members)
                total = max(count, len(homes))
                for n in range(total):
                    home = homes[n] if n < len(homes) else None
                    unit(members, group, c, n, f":{n}", "", n >= count, home)
        elif r.id in group_of:
            g = group_of[r.id]
            unit(list(g.members), g, None, -1, "", "", False, None)
        else:
            unit([r.id], None, None, -1, "", "", False, None)
    return Layout(
        tuple(instances),
        {k: tuple(v) for k, v in of_item.items()},
        {k: tuple(v) for k, v in heads.items()},
        {k: tuple(v) for k, v in tails.items()},
        clone_of,
        group_of,
    )
