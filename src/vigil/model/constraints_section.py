"""The `constraints` section of a config: location, colocation and order constraints,
the resources and nodes they name, their ids, and loops of order constraints.

Internal to the config loader (`vigil.model.load`).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from vigil.model.config import (
    ColocationConstraint,
    ColocationSetConstraint,
    LocationConstraint,
    NodeConfig,
    OrderConstraint,
    OrderSetConstraint,
    ResourceSet,
    Rule,
    RuleExpression,
)
from vigil.model.durations import parse_score
from vigil.model.problems import _Report
from vigil.model.values import _bool, _choice, _name, _param_value
from vigil.model.yaml_map import _Item, _items, _lc_pos, _Map, _section, _start

_CONSTRAINT_KEYS = ("location", "colocation", "order")
_LOCATION_KEYS = ("id", "resource", "node", "score", "rules", "role")
_COLOCATION_KEYS = ("id", "resource", "with", "score", "role", "with_role", "sets")
_ORDER_KEYS = ("id", "first", "then", "kind", "symmetrical", "first_action", "then_action",
               "sets")
_RULE_KEYS = ("score", "score_attribute", "boolean_op", "expressions")
_EXPR_KEYS = ("attribute", "op", "value", "type", "rule")
_SET_KEYS = ("resources", "sequential", "require_all", "role", "action")
_ROLES = ("Started", "Unpromoted", "Promoted", "Stopped")
_ACTIONS = ("start", "stop", "promote", "demote")
_KINDS = ("Mandatory", "Optional", "Serialize")
_RULE_OPS = ("lt", "gt", "lte", "gte", "eq", "ne", "defined", "not_defined")
_RULE_TYPES = ("string", "integer", "number", "version")


def _role(value: object) -> str:
    aliases = {"master": "Promoted", "slave": "Unpromoted"}
    if isinstance(value, str) and value.strip().lower() in aliases:
        return aliases[value.strip().lower()]
    return _choice(*_ROLES)(value)


@dataclass
class _Constraints:
    locations: list[LocationConstraint] = field(default_factory=list)
    colocations: list[ColocationConstraint] = field(default_factory=list)
    orders: list[OrderConstraint] = field(default_factory=list)
    order_sets: list[OrderSetConstraint] = field(default_factory=list)
    colocation_sets: list[ColocationSetConstraint] = field(default_factory=list)


class _Refs:
    """What constraints may name, and the ids already taken."""

    def __init__(
        self, top: _Map, resources: Mapping[str, object], nodes: Iterable[NodeConfig]
    ) -> None:
        self.resources = list(resources)
        self.nodes = [n.name for n in nodes]
        # Any text given as an id counts as defined, even if rejected, so that one bad
        # id is reported once rather than again at every constraint naming it.
        self.known_resources = (set(self.resources) | _raw_ids(top, "resources", "id")
                                | _raw_ids(top, "groups", "id") | _raw_ids(top, "clones", "id"))
        self.known_nodes = set(self.nodes) | _raw_ids(top, "nodes", "name")
        self.ids: dict[str, str] = {}
        for item in _items_quiet(top, "resources"):
            rid = item.get("id")
            if isinstance(rid, str) and rid in resources:
                self.ids.setdefault(rid, f"resource '{rid}'")

    def resource(self, m: _Map, key: str, value: str | None) -> None:
        if value is not None and value not in self.known_resources:
            m.reject(key, _missing(value, "resource", self.resources, "resources:"))

    def node(self, m: _Map, key: str, value: str | None) -> None:
        if value is not None and value not in self.known_nodes:
            m.reject(key, _missing(value, "node", self.nodes, "nodes:"))

    def claim(self, m: _Map, cid: str, explicit: bool, default_form: str) -> None:
        owner = self.ids.get(cid)
        if owner is None:
            self.ids[cid] = f"{m.path} (line {m.where[0]})"
            return
        if explicit:
            m.reject("id", f"id '{cid}' is already used by {owner}; ids must be unique")
        else:
            m.report.add(
                m.where,
                m.field("id"),
                f"this constraint's default id '{cid}' ({default_form}) is already"
                f" used by {owner}; merge the two, or give this one a unique `id:`",
            )


def _items_quiet(top: _Map, key: str) -> list[Mapping[Any, object]]:
    raw = top.node.get(key)
    return [n for n in raw if isinstance(n, dict)] if isinstance(raw, list) else []


def _raw_ids(top: _Map, key: str, id_key: str) -> set[str]:
    ids = (n.get(id_key) for n in _items_quiet(top, key))
    return {str(i) for i in ids if isinstance(i, str)}


def _missing(value: str, what: str, defined: Sequence[str], section: str) -> str:
    if not defined:
        return f"no {what}s are defined; add '{value}' under {section} or remove this constraint"
    close = difflib.get_close_matches(value, defined, n=1, cutoff=0.6)
    guess = f" — did you mean '{close[0]}'?" if close else ";"
    return f"no {what} named '{value}'{guess} defined {what}s: {', '.join(defined)}"


def _read_constraints(
    top: _Map, resources: Mapping[str, object], nodes: Sequence[NodeConfig]
) -> _Constraints:
    """`resources`: every id a constraint may name (primitives, groups, clones)."""
    m = _section(top, "constraints", _CONSTRAINT_KEYS, "constraints: {location: []}")
    refs = _Refs(top, resources, nodes)
    out = _Constraints()
    for item in _items(m, "location", "id", "location: [{resource: web, node: n1, score: 10}]"):
        if (location := _read_location(m, item, refs)) is not None:
            out.locations.append(location)
    for item in _items(
        m, "colocation", "id", "colocation: [{resource: web, with: ip, score: INFINITY}]"
    ):
        if "sets" in item.node:
            if (cset := _read_colocation_set(m, item, refs)) is not None:
                out.colocation_sets.append(cset)
        elif (colocation := _read_colocation(m, item, refs)) is not None:
            out.colocations.append(colocation)
    orders = []
    for item in _items(m, "order", "id", "order: [{first: ip, then: web}]"):
        if "sets" in item.node:
            if (oset := _read_order_set(m, item, refs)) is not None:
                out.order_sets.append(oset)
        elif (order := _read_order(m, item, refs)) is not None:
            orders.append((order, item))
    _check_order_loops(m.report, orders)
    out.orders = [order for order, _ in orders]
    return out


def _constraint_id(m: _Map, refs: _Refs, default: str, default_form: str) -> str:
    cid = m.get("id", _name, None)
    refs.claim(m, cid or default, cid is not None, default_form)
    return cid or default


def _read_location(cm: _Map, item: _Item, refs: _Refs) -> LocationConstraint | None:
    m = _Map(cm.report, item.node, item.path, _LOCATION_KEYS, item.where)
    rsc = m.require("resource", _name, "resource: web")
    role = m.get("role", _role, None)
    refs.resource(m, "resource", rsc)
    if m.has("rules"):
        extra = next((key for key in ("node", "score") if m.has(key)), None)
        if extra is not None:
            m.reject(extra, "give either node and score, or rules (each rule has its "
                     "own score), not both")
        rules = _read_rules(m, m.node.get("rules"), m.field("rules"))
        if rsc is None or not rules:
            return None
        cid = _constraint_id(m, refs, f"location-{rsc}-rules", "location-<resource>-rules")
        return LocationConstraint(cid, rsc, "", 0, tuple(rules), role)  # type: ignore[arg-type]
    node = m.require("node", _name, "node: n1 (or rules: [...])")
    score = m.require("score", parse_score, "score: 100 (or INFINITY, -INFINITY)")
    refs.node(m, "node", node)
    if rsc is None or node is None or score is None:
        return None
    cid = _constraint_id(m, refs, f"location-{rsc}-{node}", "location-<resource>-<node>")
    return LocationConstraint(cid, rsc, node, score, (), role)  # type: ignore[arg-type]


def _read_rules(parent: _Map, raw: object, path: str) -> list[Rule]:
    example = "rules: [{score: 100, expressions: [{attribute: rack, op: eq, value: r1}]}]"
    if not isinstance(raw, list) or not raw:
        parent.report.reject(parent.where, path, f"expected a list of rules, e.g. {example}")
        return []
    rules = []
    for index, node in enumerate(raw):
        where = _lc_pos(raw, "item", index, parent.where)
        rule = _read_rule(parent, node, f"{path}[{index}]", where, top_level=True)
        if rule is not None:
            rules.append(rule)
    return rules


def _read_rule(parent: _Map, node: object, path: str, where: Any,
               top_level: bool) -> Rule | None:
    if not isinstance(node, dict):
        parent.report.reject(where, path, "expected a mapping with expressions:")
        return None
    m = _Map(parent.report, node, path, _RULE_KEYS, _start(node, where))
    score = m.get("score", parse_score, None)
    score_attribute = m.get("score_attribute", _name, "")
    if top_level and score is None and not score_attribute:
        m.report.reject(m.where, m.field("score"),
                        "a rule needs score: (e.g. score: 100) or score_attribute: NAME")
    boolean_op = m.get("boolean_op", _choice("and", "or"), "and")
    raw = node.get("expressions")
    if not isinstance(raw, list) or not raw:
        m.report.reject(m.at("expressions"), m.field("expressions"),
                        "expected a list of expressions, e.g. expressions: "
                        "[{attribute: rack, op: eq, value: r1}]")
        return None
    exprs: list[RuleExpression | Rule] = []
    for index, e in enumerate(raw):
        epath = f"{m.field('expressions')}[{index}]"
        ewhere = _lc_pos(raw, "item", index, m.where)
        expr = _read_expression(m, e, epath, ewhere)
        if expr is not None:
            exprs.append(expr)
    if len(exprs) != len(raw):
        return None
    return Rule(score or 0, tuple(exprs), boolean_op, score_attribute)  # type: ignore[arg-type]


def _read_expression(parent: _Map, node: object, path: str,
                     where: Any) -> RuleExpression | Rule | None:
    if not isinstance(node, dict):
        parent.report.reject(where, path, "expected a mapping like "
                             "{attribute: rack, op: eq, value: r1}")
        return None
    m = _Map(parent.report, node, path, _EXPR_KEYS, _start(node, where))
    if m.has("rule"):
        return _read_rule(m, node["rule"], m.field("rule"), m.value_pos("rule"), False)
    attribute = m.require("attribute", _attribute, "attribute: rack")
    op = m.require("op", _choice(*_RULE_OPS), "op: eq")
    kind = m.get("type", _choice(*_RULE_TYPES), "string")
    value = m.get("value", _param_value, None)
    if op is not None and op not in ("defined", "not_defined") and value is None:
        m.report.reject(m.where, m.field("value"), f"op {op} compares with a value; add "
                        "value: ...")
        return None
    if attribute is None or op is None:
        return None
    return RuleExpression(attribute, op, value or "", kind)  # type: ignore[arg-type]


def _attribute(value: object) -> str:
    if isinstance(value, str) and value.startswith("#"):
        if value in ("#uname", "#id", "#kind"):
            return str(value)
        raise ValueError(f"unknown built-in attribute {value!r}; expected #uname")
    return _name(value)


def _read_colocation(cm: _Map, item: _Item, refs: _Refs) -> ColocationConstraint | None:
    m = _Map(cm.report, item.node, item.path, _COLOCATION_KEYS, item.where)
    rsc = m.require("resource", _name, "resource: web")
    with_rsc = m.require("with", _name, "with: ip")
    score = m.require("score", parse_score, "score: INFINITY")
    role = m.get("role", _role, None)
    with_role = m.get("with_role", _role, None)
    refs.resource(m, "resource", rsc)
    refs.resource(m, "with", with_rsc)
    if rsc is not None and rsc == with_rsc:
        m.reject("with", f"'{rsc}' cannot be colocated with itself; name another resource")
    if rsc is None or with_rsc is None or score is None or rsc == with_rsc:
        return None
    default_id = f"colocation-{rsc}-{with_rsc}"
    cid = _constraint_id(m, refs, default_id, "colocation-<resource>-<with>")
    return ColocationConstraint(cid, rsc, with_rsc, score, role, with_role)  # type: ignore[arg-type]


def _read_sets(m: _Map, refs: _Refs, with_action: bool) -> list[ResourceSet]:
    raw = m.node.get("sets")
    example = "sets: [{resources: [a, b]}, {resources: [c]}]"
    if not isinstance(raw, list) or not raw:
        m.reject("sets", f"expected a list of resource sets, e.g. {example}")
        return []
    out = []
    for index, node in enumerate(raw):
        where = _lc_pos(raw, "item", index, m.value_pos("sets"))
        path = f"{m.field('sets')}[{index}]"
        if not isinstance(node, dict):
            m.report.reject(where, path, f"expected a mapping, e.g. {example}")
            continue
        keys = _SET_KEYS if with_action else tuple(k for k in _SET_KEYS if k != "action")
        sm = _Map(m.report, node, path, keys, _start(node, where))
        members = node.get("resources")
        if not isinstance(members, list) or not members:
            sm.report.reject(sm.at("resources"), sm.field("resources"),
                             "expected a list of resource ids, e.g. resources: [a, b]")
            continue
        names = []
        for value in members:
            try:
                names.append(_name(value))
            except ValueError as exc:
                sm.reject("resources", str(exc))
                continue
            refs.resource(sm, "resources", names[-1])
        out.append(ResourceSet(
            tuple(names),
            sm.get("sequential", _bool, True),
            sm.get("require_all", _bool, True),
            sm.get("role", _role, None),  # type: ignore[arg-type]
            sm.get("action", _choice(*_ACTIONS), None) if with_action else None,  # type: ignore[arg-type]
        ))
    return out if len(out) == len(raw) else []


def _read_colocation_set(cm: _Map, item: _Item, refs: _Refs) -> ColocationSetConstraint | None:
    m = _Map(cm.report, item.node, item.path, ("id", "score", "sets"), item.where)
    cid = m.require("id", _name, "id: my-set")
    score = m.require("score", parse_score, "score: INFINITY")
    sets = _read_sets(m, refs, with_action=False)
    if cid is None or score is None or not sets:
        return None
    refs.claim(m, cid, True, "")
    return ColocationSetConstraint(cid, tuple(sets), score)


def _read_order_set(cm: _Map, item: _Item, refs: _Refs) -> OrderSetConstraint | None:
    m = _Map(cm.report, item.node, item.path, ("id", "kind", "symmetrical", "sets"), item.where)
    cid = m.require("id", _name, "id: my-set")
    kind = m.get("kind", _choice(*_KINDS), "Mandatory")
    symmetrical = m.get("symmetrical", _bool, kind != "Serialize")
    sets = _read_sets(m, refs, with_action=True)
    if cid is None or not sets:
        return None
    refs.claim(m, cid, True, "")
    return OrderSetConstraint(cid, tuple(sets), kind, symmetrical)  # type: ignore[arg-type]


def _read_order(cm: _Map, item: _Item, refs: _Refs) -> OrderConstraint | None:
    m = _Map(cm.report, item.node, item.path, _ORDER_KEYS, item.where)
    first = m.require("first", _name, "first: ip")
    then = m.require("then", _name, "then: web")
    kind = m.get("kind", _choice(*_KINDS), "Mandatory")
    symmetrical = m.get("symmetrical", _bool, kind != "Serialize")
    first_action = m.get("first_action", _choice(*_ACTIONS), "start")
    then_action = m.get("then_action", _choice(*_ACTIONS), first_action)
    refs.resource(m, "first", first)
    refs.resource(m, "then", then)
    if first is not None and first == then:
        m.reject("then", f"'{first}' cannot be ordered after itself; name another resource")
    if first is None or then is None or first == then:
        return None
    cid = _constraint_id(m, refs, f"order-{first}-{then}", "order-<first>-<then>")
    return OrderConstraint(
        cid, first, then, kind, symmetrical, first_action, then_action  # type: ignore[arg-type]
    )


def _check_order_loops(report: _Report, orders: Sequence[tuple[OrderConstraint, _Item]]) -> None:
    """A loop of order constraints means no resource in it could ever start first."""
    after: dict[str, list[str]] = {}
    for order, item in orders:
        path = _path_back_to(order.then, order.first, after)
        if path is None:
            after.setdefault(order.first, []).append(order.then)
            continue
        loop = " -> ".join([order.first, *path])
        report.add(
            item.where,
            item.path,
            f"order constraints form a loop ({loop}): none of these resources could"
            " start first; remove one of them",
        )


def _path_back_to(start: str, goal: str, after: Mapping[str, list[str]]) -> list[str] | None:
    """Resources from `start` to `goal` following `first -> then` edges, if any."""
    stack: list[list[str]] = [[start]]
    visited = set()
    while stack:
        path = stack.pop()
        if path[-1] == goal:
            return path
        if path[-1] in visited:
            continue
        visited.add(path[-1])
        stack.extend([*path, nxt] for nxt in after.get(path[-1], []))
    return None
