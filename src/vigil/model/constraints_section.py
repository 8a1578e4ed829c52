"""The `constraints` section of a config: location, colocation and order constraints,
the resources and nodes they name, their ids, and loops of order constraints.

Internal to the config loader (`vigil.model.load`).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from vigil.model.config import (
    ColocationConstraint,
    LocationConstraint,
    NodeConfig,
    OrderConstraint,
    Resource,
)
from vigil.model.durations import parse_score
from vigil.model.problems import _Report
from vigil.model.values import _bool, _choice, _name
from vigil.model.yaml_map import _Item, _items, _Map, _section

_CONSTRAINT_KEYS = ("location", "colocation", "order")
_LOCATION_KEYS = ("id", "resource", "node", "score")
_COLOCATION_KEYS = ("id", "resource", "with", "score")
_ORDER_KEYS = ("id", "first", "then", "kind", "symmetrical")


class _Refs:
    """What constraints may name, and the ids already taken."""

    def __init__(
        self, top: _Map, resources: Mapping[str, Resource], nodes: Iterable[NodeConfig]
    ) -> None:
        self.resources = list(resources)
        self.nodes = [n.name for n in nodes]
        # Any text given as an id counts as defined, even if rejected, so that one bad
        # id is reported once rather than again at every constraint naming it.
        self.known_resources = set(self.resources) | _raw_ids(top, "resources", "id")
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
    top: _Map, resources: Mapping[str, Resource], nodes: Sequence[NodeConfig]
) -> tuple[list[LocationConstraint], list[ColocationConstraint], list[OrderConstraint]]:
    m = _section(top, "constraints", _CONSTRAINT_KEYS, "constraints: {location: []}")
    refs = _Refs(top, resources, nodes)
    locations = []
    for item in _items(m, "location", "id", "location: [{resource: web, node: n1, score: 10}]"):
        if (location := _read_location(m, item, refs)) is not None:
            locations.append(location)
    colocations = []
    for item in _items(
        m, "colocation", "id", "colocation: [{resource: web, with: ip, score: INFINITY}]"
    ):
        if (colocation := _read_colocation(m, item, refs)) is not None:
            colocations.append(colocation)
    orders = []
    for item in _items(m, "order", "id", "order: [{first: ip, then: web}]"):
        if (order := _read_order(m, item, refs)) is not None:
            orders.append((order, item))
    _check_order_loops(m.report, orders)
    return locations, colocations, [order for order, _ in orders]


def _constraint_id(m: _Map, refs: _Refs, default: str, default_form: str) -> str:
    cid = m.get("id", _name, None)
    refs.claim(m, cid or default, cid is not None, default_form)
    return cid or default


def _read_location(cm: _Map, item: _Item, refs: _Refs) -> LocationConstraint | None:
    m = _Map(cm.report, item.node, item.path, _LOCATION_KEYS, item.where)
    rsc = m.require("resource", _name, "resource: web")
    node = m.require("node", _name, "node: n1")
    score = m.require("score", parse_score, "score: 100 (or INFINITY, -INFINITY)")
    refs.resource(m, "resource", rsc)
    refs.node(m, "node", node)
    if rsc is None or node is None or score is None:
        return None
    cid = _constraint_id(m, refs, f"location-{rsc}-{node}", "location-<resource>-<node>")
    return LocationConstraint(cid, rsc, node, score)


def _read_colocation(cm: _Map, item: _Item, refs: _Refs) -> ColocationConstraint | None:
    m = _Map(cm.report, item.node, item.path, _COLOCATION_KEYS, item.where)
    rsc = m.require("resource", _name, "resource: web")
    with_rsc = m.require("with", _name, "with: ip")
    score = m.require("score", parse_score, "score: INFINITY")
    refs.resource(m, "resource", rsc)
    refs.resource(m, "with", with_rsc)
    if rsc is not None and rsc == with_rsc:
        m.reject("with", f"'{rsc}' cannot be colocated with itself; name another resource")
    if rsc is None or with_rsc is None or score is None or rsc == with_rsc:
        return None
    default_id = f"colocation-{rsc}-{with_rsc}"
    cid = _constraint_id(m, refs, default_id, "colocation-<resource>-<with>")
    return ColocationConstraint(cid, rsc, with_rsc, score)


def _read_order(cm: _Map, item: _Item, refs: _Refs) -> OrderConstraint | None:
    m = _Map(cm.report, item.node, item.path, _ORDER_KEYS, item.where)
    first = m.require("first", _name, "first: ip")
    then = m.require("then", _name, "then: web")
    kind = m.get("kind", _choice("Mandatory", "Optional"), "Mandatory")
    symmetrical = m.get("symmetrical", _bool, True)
    refs.resource(m, "first", first)
    refs.resource(m, "then", then)
    if first is not None and first == then:
        m.reject("then", f"'{first}' cannot be ordered after itself; name another resource")
    if first is None or then is None or first == then:
        return None
    cid = _constraint_id(m, refs, f"order-{first}-{then}", "order-<first>-<then>")
    return OrderConstraint(
        cid, first, then, "Optional" if kind == "Optional" else "Mandatory", symmetrical
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
