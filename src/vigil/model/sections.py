"""The top level of a config and its cluster-wide sections: `cluster`, `store`, `nodes`
and `timings`; `resources` and `constraints` have their own modules.

Internal to the config loader (`vigil.model.load`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import fields

from vigil.model.config import ClusterConfig, NodeConfig, StoreConfig, Timings
from vigil.model.constraints_section import _read_constraints
from vigil.model.durations import describe, parse_duration
from vigil.model.fencing_section import (
    _read_fencing,
    _read_heartbeat,
    _read_no_quorum_policy,
    _read_watchdog,
)
from vigil.model.groups_section import (
    _check_promotable_refs,
    _check_roles,
    _read_clones,
    _read_groups,
)
from vigil.model.problems import Pos, _Report
from vigil.model.resources_section import _read_amounts, _read_resources
from vigil.model.timing_rules import _check_timings
from vigil.model.values import (
    _NAME,
    _address,
    _bool,
    _choice,
    _cluster_name,
    _endpoint,
    _lease_ttl,
    _monitor_interval,
    _name,
    _param_value,
    _port,
    _positive,
    _prefix,
)
from vigil.model.yaml_map import _check_unique, _items, _lc_pos, _Map, _section, _start

_FILE_START: Pos = (1, 1)

_TOP_KEYS = ("cluster", "nodes", "store", "timings", "resources", "groups", "clones",
             "constraints", "fencing", "heartbeat", "watchdog", "no_quorum_policy",
             "placement_strategy", "symmetric_cluster", "batch_limit", "maintenance_mode")
_NODE_KEYS = ("name", "address", "api_port", "etcd_client_port", "etcd_peer_port", "links",
              "role", "attributes", "capacity")
_PORT_KEYS = ("api_port", "etcd_client_port", "etcd_peer_port")
_STORE_KEYS = (
    "type",
    "endpoints",
    "prefix",
    "etcd_heartbeat_interval",
    "etcd_election_timeout",
    "request_timeout",
)
_TIMING_KEYS = tuple(f.name for f in fields(Timings))

# How each timing is parsed; the rules that relate timings are in `_check_timings`.
_TIMING_PARSERS: dict[str, Callable[[object], float]] = {
    "lease_ttl": _lease_ttl,
    "keepalive_interval": _positive,
    "lease_margin": _positive,
    "self_fence_timeout": parse_duration,
    "shutdown_timeout": _positive,
    "start_timeout": _positive,
    "stop_timeout": _positive,
    "monitor_interval": _monitor_interval,
    "monitor_timeout": _positive,
}


def _read_config(report: _Report, document: object) -> ClusterConfig | None:
    if not isinstance(document, dict):
        message = (
            f"the top level must be a mapping with keys such as cluster:, nodes:,"
            f" resources:; got {describe(document)}"
        )
        report.add(_start(document, _FILE_START), "", message)
        return None
    top = _Map(report, document, "", _TOP_KEYS, _start(document, _FILE_START))
    name = top.require("cluster", _cluster_name, "cluster: demo")
    store, store_map = _read_store(top)
    nodes = _read_nodes(top, store)
    timings, timings_map = _read_timings(top)
    _check_timings(report, timings, timings_map, store, store_map)
    resources = _read_resources(top, timings)
    groups = _read_groups(top, resources)
    clones = _read_clones(top, resources, groups)
    _check_roles(top, resources, groups, clones)
    named = {**dict.fromkeys(resources), **dict.fromkeys(groups), **dict.fromkeys(clones)}
    cons = _read_constraints(top, named, nodes)
    _check_promotable_refs(top, clones)
    locations, colocations, orders = cons.locations, cons.colocations, cons.orders
    strategy = top.get("placement_strategy",
                       _choice("default", "utilization", "balanced", "minimal"), "default")
    symmetric = top.get("symmetric_cluster", _bool, True)
    batch_limit = top.get("batch_limit", _count, 0)
    maintenance = top.get("maintenance_mode", _bool, False)
    fencing = _read_fencing(top, nodes)
    heartbeat = _read_heartbeat(top, nodes)
    watchdog = _read_watchdog(top)
    no_quorum_policy = _read_no_quorum_policy(top, fencing, nodes)
    if name is None or report.problems:
        return None
    return ClusterConfig(
        name=name,
        nodes=tuple(nodes),
        store=store,
        timings=timings,
        resources=tuple(resources.values()),
        locations=tuple(locations),
        colocations=tuple(colocations),
        orders=tuple(orders),
        fencing=fencing,
        heartbeat=heartbeat,
        watchdog=watchdog,
        no_quorum_policy=no_quorum_policy,  # type: ignore[arg-type]
        groups=tuple(groups.values()),
        clones=tuple(clones.values()),
        order_sets=tuple(cons.order_sets),
        colocation_sets=tuple(cons.colocation_sets),
        placement_strategy=strategy,  # type: ignore[arg-type]
        symmetric_cluster=symmetric,
        batch_limit=batch_limit,
        maintenance_mode=maintenance,
    )


def _read_store(top: _Map) -> tuple[StoreConfig, _Map]:
    m = _section(top, "store", _STORE_KEYS, "store: {type: embedded}")
    default = StoreConfig()
    mode = m.get("type", _choice("embedded", "external"), str(default.mode))
    endpoints = _read_endpoints(m, mode)
    store = StoreConfig(
        mode="external" if mode == "external" else "embedded",
        endpoints=endpoints,
        prefix=m.get("prefix", _prefix, default.prefix),
        etcd_heartbeat_interval=m.get(
            "etcd_heartbeat_interval", _positive, default.etcd_heartbeat_interval
        ),
        etcd_election_timeout=m.get(
            "etcd_election_timeout", _positive, default.etcd_election_timeout
        ),
        request_timeout=m.get("request_timeout", _positive, default.request_timeout),
    )
    return store, m


def _read_endpoints(m: _Map, mode: str) -> tuple[str, ...]:
    example = "endpoints: [http://10.0.0.5:2379, http://10.0.0.6:2379]"
    raw = m.node.get("endpoints")
    if m.field("type") in m.report.bad:
        return ()  # unknown mode: whether endpoints belong is unknowable
    if mode == "embedded":
        if m.has("endpoints"):
            m.reject(
                "endpoints",
                "endpoints are only used with `type: external`; remove"
                " them, or set type: external to use an existing etcd cluster",
            )
        return ()
    if not m.has("endpoints") or raw is None or raw == []:
        m.report.reject(
            m.at("endpoints"),
            m.field("endpoints"),
            f"type: external needs the etcd client URLs; add {example}",
        )
        return ()
    if not isinstance(raw, list):
        m.reject("endpoints", f"expected a list of URLs, e.g. {example}; got {describe(raw)}")
        return ()
    endpoints = []
    for index, value in enumerate(raw):
        try:
            endpoints.append(_endpoint(value))
        except ValueError as exc:
            where = _lc_pos(raw, "item", index, m.value_pos("endpoints"))
            m.report.reject(where, f"{m.field('endpoints')}[{index}]", str(exc))
    return tuple(endpoints)


def _read_nodes(top: _Map, store: StoreConfig) -> list[NodeConfig]:
    example = "nodes: [{name: n1, address: 10.0.0.1}]"
    if not top.has("nodes") or top.node["nodes"] in (None, []):
        message = f"at least one node is required; add e.g. {example}"
        top.report.reject(top.at("nodes"), "nodes", message)
        return []
    nodes: list[NodeConfig] = []
    maps: list[_Map] = []
    seen: dict[str, Pos] = {}
    for item in _items(top, "nodes", "name", example):
        m = _Map(top.report, item.node, item.path, _NODE_KEYS, item.where)
        name = m.require("name", _name, "name: n1")
        address = m.require("address", _address, "address: 10.0.0.1")
        ports = [m.get(key, _port, getattr(NodeConfig, key)) for key in _PORT_KEYS]
        links = _read_links(m)
        role = m.get("role", _choice("member", "witness"), "member")
        attributes = _read_attributes(m)
        capacity = _read_amounts(m, "capacity", "capacity: {cpu: 8, memory: 16384}")
        if name is not None:
            _check_unique(m, "name", name, seen, "node name")
        if name is not None and address is not None:
            api, client, peer = ports
            nodes.append(NodeConfig(name, address, api, client, peer, links,
                                    role, attributes, capacity))  # type: ignore[arg-type]
            maps.append(m)
    _check_port_clashes(nodes, maps, store)
    return nodes


def _read_attributes(m: _Map) -> dict[str, str]:
    a = _section(m, "attributes", None, "attributes: {rack: r1}")
    out: dict[str, str] = {}
    for key, value in a.node.items():
        if not isinstance(key, str) or not _NAME.fullmatch(key):
            a.report.reject(a.key_pos(key), a.field(str(key)),
                            f"{describe(key)} is not a valid attribute name")
            continue
        try:
            out[key] = _param_value(value)
        except ValueError as exc:
            a.reject(key, str(exc))
    return out


def _count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"expected a whole number >= 0; got {describe(value)}")
    return int(value)


def _read_links(m: _Map) -> tuple[str, ...]:
    raw = m.node.get("links")
    if raw is None:
        return ()
    if not isinstance(raw, list) or not raw:
        m.reject("links", "expected a list of addresses, one per network link, e.g. "
                 "links: [10.0.0.11, 192.168.50.11]")
        return ()
    out = []
    for value in raw:
        try:
            out.append(_address(value))
        except ValueError as e:
            m.reject("links", str(e))
    return tuple(out)


def _check_port_clashes(nodes: list[NodeConfig], maps: list[_Map], store: StoreConfig) -> None:
    """No two listeners (any node's API, and etcd's when embedded) share address and port."""
    keys = _PORT_KEYS if store.mode == "embedded" else ("api_port",)
    taken: dict[tuple[str, int], str] = {}
    for node, m in zip(nodes, maps, strict=True):
        for key in keys:
            port = getattr(node, key)
            if m.field(key) in m.report.bad:
                continue
            owner = taken.get((node.address, port))
            if owner is None:
                taken[(node.address, port)] = m.field(key)
                continue
            free = _free_port(port, 1 if key == "api_port" else 10, node.address, taken)
            default = "" if m.has(key) else f" (the default for {key})"
            m.report.reject(
                m.at(key),
                m.field(key),
                f"port {port}{default} on {node.address} is already used by {owner}; every"
                f" listener on an address needs its own port, e.g. {key}: {free}",
            )


def _free_port(port: int, step: int, address: str, taken: Mapping[tuple[str, int], str]) -> int:
    """A port to suggest: the `vigil init` scheme steps etcd ports by 10 so that a
    node's client and peer ports (2379, 2380) never collide with the next node's."""
    used = {p for (a, p) in taken if a == address}
    candidates = range(port + step, 65536, step)
    return next((p for p in candidates if p not in used), port)


def _read_timings(top: _Map) -> tuple[Timings, _Map]:
    m = _section(top, "timings", _TIMING_KEYS, "timings: {lease_ttl: 2s}")
    default = Timings()
    values = {
        key: m.get(key, parse, getattr(default, key)) for key, parse in _TIMING_PARSERS.items()
    }
    return Timings(**values), m
