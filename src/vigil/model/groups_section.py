"""The `groups` and `clones` sections: containers of resources defined under `resources:`.

A primitive belongs to at most one group, a primitive or group to at most one clone, and
ids of primitives, groups and clones share one namespace. A Promoted/Unpromoted
target role only makes sense inside a promotable clone.

Internal to the config loader (`vigil.model.load`).
"""

from __future__ import annotations

from collections.abc import Mapping

from vigil.model.config import Clone, Group, Resource
from vigil.model.durations import describe
from vigil.model.problems import Pos
from vigil.model.resources_section import _read_meta
from vigil.model.values import _bool, _name
from vigil.model.yaml_map import _check_unique, _items, _lc_pos, _Map

_GROUP_KEYS = ("id", "members", "meta")
_CLONE_KEYS = ("id", "resource", "unique", "clone_max", "clone_node_max", "interleave",
               "ordered", "notify", "promotable", "promoted_max", "promoted_node_max", "meta")


def _count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"expected a whole number >= 0; got {describe(value)}")
    return int(value)


def _read_groups(top: _Map, resources: Mapping[str, Resource]) -> dict[str, Group]:
    example = "groups: [{id: web-stack, members: [ip, web]}]"
    groups: dict[str, Group] = {}
    seen: dict[str, Pos] = {}
    owner: dict[str, str] = {}
    for item in _items(top, "groups", "id", example):
        m = _Map(top.report, item.node, item.path, _GROUP_KEYS, item.where)
        gid = m.require("id", _name, "id: web-stack")
        members = _read_members(m, resources, owner, gid or "?")
        meta = _read_meta(m)
        if gid is None:
            continue
        if gid in resources:
            m.reject("id", f"'{gid}' is already a resource id; groups, clones and "
                     "resources share one namespace: pick another id")
            continue
        _check_unique(m, "id", gid, seen, "group id")
        if members and gid not in groups:
            groups[gid] = Group(gid, tuple(members), meta)
    return groups


def _read_members(m: _Map, resources: Mapping[str, Resource], owner: dict[str, str],
                  gid: str) -> list[str]:
    raw = m.node.get("members")
    if not isinstance(raw, list) or not raw:
        if "members" not in m.misspelt:
            m.report.reject(m.at("members"), m.field("members"),
                            "a group needs a list of resource ids, e.g. members: [ip, web]")
        return []
    out: list[str] = []
    for index, value in enumerate(raw):
        where = _lc_pos(raw, "item", index, m.value_pos("members"))
        field = f"{m.field('members')}[{index}]"
        if not isinstance(value, str) or value not in resources:
            known = ", ".join(resources) or "none"
            m.report.reject(where, field, f"{describe(value)} is not a resource defined under "
                            f"resources: (defined: {known})")
        elif value in owner:
            m.report.reject(where, field, f"'{value}' is already a member of group "
                            f"'{owner[value]}'; a resource belongs to at most one group")
        else:
            owner[value] = gid
            out.append(value)
    return out


def _read_clones(top: _Map, resources: Mapping[str, Resource],
                 groups: Mapping[str, Group]) -> dict[str, Clone]:
    example = "clones: [{id: web-clone, resource: web}]"
    clones: dict[str, Clone] = {}
    seen: dict[str, Pos] = {}
    cloned: dict[str, str] = {}
    in_group = {member: g.id for g in groups.values() for member in g.members}
    for item in _items(top, "clones", "id", example):
        m = _Map(top.report, item.node, item.path, _CLONE_KEYS, item.where)
        cid = m.require("id", _name, "id: web-clone")
        child = m.require("resource", _name, "resource: web")
        promotable = m.get("promotable", _bool, False)
        clone = Clone(
            id=cid or "?",
            child=child or "?",
            clone_max=m.get("clone_max", _count, None),
            clone_node_max=m.get("clone_node_max", _count, 1),
            unique=m.get("unique", _bool, False),
            interleave=m.get("interleave", _bool, False),
            ordered=m.get("ordered", _bool, False),
            notify=m.get("notify", _bool, False),
            promotable=promotable,
            promoted_max=m.get("promoted_max", _count, 1),
            promoted_node_max=m.get("promoted_node_max", _count, 1),
            meta=_read_meta(m),
        )
        if cid is not None and (cid in resources or cid in groups):
            m.reject("id", f"'{cid}' is already a resource or group id; pick another id")
            continue
        if child is not None:
            if child not in resources and child not in groups:
                m.reject("resource", f"no resource or group named '{child}'; a clone copies "
                         "a resource defined under resources: or a group under groups:")
                continue
            if child in in_group:
                m.reject("resource", f"'{child}' is a member of group '{in_group[child]}'; "
                         f"clone the group instead (resource: {in_group[child]})")
                continue
            if child in cloned:
                m.reject("resource", f"'{child}' is already cloned by '{cloned[child]}'")
                continue
        if clone.clone_node_max < 1:
            m.reject("clone_node_max", "must be at least 1")
        elif clone.clone_node_max > 1 and not clone.unique:
            m.reject("clone_node_max", "anonymous clone instances on one node would be the "
                     "same resource; set unique: true to run several per node")
        if promotable:
            _check_promotable(m, child, resources, groups)
        if cid is None or child is None:
            continue
        _check_unique(m, "id", cid, seen, "clone id")
        cloned[child] = cid
        clones.setdefault(cid, clone)
    return clones


def _check_promotable(m: _Map, child: str | None, resources: Mapping[str, Resource],
                      groups: Mapping[str, Group]) -> None:
    if child is None:
        return
    if child in groups:
        m.reject("promotable", f"'{child}' is a group: promotable clones of groups are not "
                 "supported; make a promotable clone of the primitive and colocate the "
                 "others with its Promoted role")
        return
    members = (child,)
    for rid in members:
        rsc = resources.get(rid)
        if rsc is not None and rsc.agent_class != "ocf":
            m.reject("resource", f"'{rid}' uses agent {rsc.agent}: only OCF agents can be "
                     "promoted (they implement promote and demote)")


def _check_roles(top: _Map, resources: Mapping[str, Resource], groups: Mapping[str, Group],
                 clones: Mapping[str, Clone]) -> None:
    """target_role Promoted/Unpromoted only for (members of) promotable clones."""
    promotable: set[str] = set()
    for c in clones.values():
        if c.promotable:
            promotable.add(c.id)
            promotable.add(c.child)
            promotable.update(groups[c.child].members if c.child in groups else ())
    where = {"resources": resources, "groups": groups, "clones": clones}
    for key, defined in where.items():
        for item in _items_quiet_with_meta(top, key):
            ident, meta_node, path = item
            if ident not in defined or ident in promotable:
                continue
            role = meta_node.get("target_role")
            if isinstance(role, str) and role.strip().lower() in (
                    "promoted", "unpromoted", "master", "slave"):
                m = _Map(top.report, meta_node, f"{path}.meta", None, (None, None))
                m.reject("target_role", f"target_role {role} is only for resources in a "
                         "promotable clone; expected one of: Started, Stopped")


def _items_quiet_with_meta(top: _Map, key: str) -> list[tuple[str, Mapping[str, object], str]]:
    raw = top.node.get(key)
    out = []
    if isinstance(raw, list):
        for node in raw:
            if isinstance(node, dict) and isinstance(node.get("id"), str) \
                    and isinstance(node.get("meta"), dict):
                out.append((str(node["id"]), node["meta"], f"{key}[{node['id']}]"))
    return out


def _check_promotable_refs(top: _Map, clones: Mapping[str, Clone]) -> None:
    """promote/demote actions and Promoted/Unpromoted roles only on promotable clones."""
    promotable = {c.id for c in clones.values() if c.promotable}
    promotable |= {c.child for c in clones.values() if c.promotable}
    section = top.node.get("constraints")
    if not isinstance(section, dict):
        return
    checks = {"order": (("first", "first_action"), ("then", "then_action")),
              "colocation": (("resource", "role"), ("with", "with_role")),
              "location": (("resource", "role"),)}
    for kind, pairs in checks.items():
        raw = section.get(kind)
        if not isinstance(raw, list):
            continue
        for index, item in enumerate(raw):
            if not isinstance(item, dict):
                continue
            label = item.get("id") if isinstance(item.get("id"), str) else str(index)
            m = _Map(top.report, item, f"constraints.{kind}[{label}]", None, (None, None))
            for rkey, akey in pairs:
                value = item.get(akey)
                if kind == "order" and akey == "then_action" and value is None:
                    value = item.get("first_action") if rkey == "then" else None
                    if value in ("promote", "demote") and item.get("then") not in promotable:
                        m.report.reject(_lc_pos(item, "key", "first_action", (None, None)),
                                        f"{m.path}.then_action",
                                        f"then_action defaults to first_action ({value}), but "
                                        f"'{item.get('then')}' is not promotable; add "
                                        "then_action: start")
                    continue
                if not isinstance(value, str):
                    continue
                role_like = value.strip().lower() in ("promote", "demote", "promoted",
                                                      "unpromoted", "master", "slave")
                if role_like and item.get(rkey) not in promotable:
                    m.reject(akey, f"{value} needs a promotable clone, and "
                             f"'{item.get(rkey)}' is not one")
