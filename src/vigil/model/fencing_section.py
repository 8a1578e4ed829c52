"""The `fencing`, `heartbeat`, `watchdog` and `no_quorum_policy` sections.

Internal to the config loader (`vigil.model.load`).
"""

from __future__ import annotations

from collections.abc import Sequence

from vigil.model.config import (
    FenceDevice,
    FencingConfig,
    HeartbeatConfig,
    NodeConfig,
    WatchdogConfig,
)
from vigil.model.durations import describe, format_duration
from vigil.model.problems import Pos
from vigil.model.values import _bool, _choice, _name, _param_value, _port, _positive, _text
from vigil.model.yaml_map import _check_unique, _items, _Map, _section

_FENCING_KEYS = ("action", "retries", "devices", "levels")
_DEVICE_KEYS = ("id", "agent", "params", "secret_files", "hosts", "host_map", "timeout")
_HEARTBEAT_KEYS = ("enabled", "port", "interval", "timeout", "key_file")
_WATCHDOG_KEYS = ("timeout", "device")


def _retries(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10:
        raise ValueError(f"expected a whole number from 0 to 10; got {describe(value)}")
    return value


def _path(value: object) -> str:
    text = _text(value, "an absolute path")
    if not text.startswith("/"):
        raise ValueError(f"{text!r} is not an absolute path; e.g. /etc/vigil/ipmi.password")
    return text


def _agent_program(value: object) -> str:
    text = _text(value, "a fence agent program, e.g. fence_ipmilan")
    if not text or (" " in text) or ("/" in text and not text.startswith("/")):
        raise ValueError(f"{text!r}: give a program name (fence_ipmilan) or an absolute path")
    return text


def _node_list(m: _Map, key: str, nodes: Sequence[str]) -> tuple[str, ...]:
    raw = m.node.get(key)
    if raw is None:
        return ()
    if not isinstance(raw, list):
        m.reject(key, f"expected a list of node names, e.g. {key}: [db1, db2]")
        return ()
    out = []
    for value in raw:
        name = str(value)
        if name not in nodes:
            m.reject(key, f"no node named '{name}'; defined nodes: {', '.join(nodes)}")
            continue
        out.append(name)
    return tuple(out)


def _read_device(item_m: _Map, nodes: Sequence[str]) -> FenceDevice | None:
    did = item_m.require("id", _name, "id: ipmi-db1")
    agent = item_m.require("agent", _agent_program, "agent: fence_ipmilan")
    params: dict[str, str] = {}
    pm = _section(item_m, "params", None, "params: {ip: 10.0.1.11, username: admin}")
    for key, value in pm.node.items():
        try:
            params[str(key)] = _param_value(value)
        except ValueError as e:
            pm.reject(str(key), str(e))
    secrets: dict[str, str] = {}
    sm = _section(item_m, "secret_files", None, "secret_files: {password: /etc/vigil/ipmi.pw}")
    for key, value in sm.node.items():
        try:
            secrets[str(key)] = _path(value)
        except ValueError as e:
            sm.reject(str(key), str(e))
        if str(key) in params:
            sm.reject(str(key), f"'{key}' is also under params; give a secret only as a file")
    hosts = _node_list(item_m, "hosts", nodes)
    host_map: dict[str, str] = {}
    hm = _section(item_m, "host_map", None, 'host_map: {db1: "1", db2: "2"}')
    for key, value in hm.node.items():
        if str(key) not in nodes:
            hm.report.reject(hm.key_pos(key), hm.field(str(key)),
                             f"no node named '{key}'; defined nodes: {', '.join(nodes)}")
            continue
        host_map[str(key)] = _param_value(value)
    timeout = item_m.get("timeout", _positive, 20.0)
    if did is None or agent is None:
        return None
    return FenceDevice(did, agent, params, secrets, hosts, host_map, timeout)


def _read_fencing(top: _Map, nodes: list[NodeConfig]) -> FencingConfig:
    members = [n.name for n in nodes if n.role == "member"]
    m = _section(top, "fencing", _FENCING_KEYS, "fencing: {devices: [...]}")
    action = m.get("action", _choice("reboot", "off"), "reboot")
    retries = m.get("retries", _retries, 2)
    devices: list[FenceDevice] = []
    seen: dict[str, Pos] = {}
    example = "devices: [{id: ipmi-db1, agent: fence_ipmilan, hosts: [db1]}]"
    for item in _items(m, "devices", "id", example):
        dm = _Map(m.report, item.node, item.path, _DEVICE_KEYS, item.where)
        device = _read_device(dm, members)
        if device is not None:
            _check_unique(dm, "id", device.id, seen, "fence device id")
            devices.append(device)
    ids = {d.id for d in devices}
    levels: dict[str, tuple[tuple[str, ...], ...]] = {}
    lm = _section(m, "levels", None, "levels: {db1: [[ipmi-db1], [pdu]]}")
    for node, raw in lm.node.items():
        if str(node) not in members:
            lm.report.reject(lm.key_pos(node), lm.field(str(node)),
                             f"no node named '{node}'; defined nodes: {', '.join(members)}")
            continue
        if not isinstance(raw, list) or not all(isinstance(x, list) and x for x in raw):
            lm.reject(str(node), "expected a list of levels, each a non-empty list of device "
                      "ids, e.g. [[ipmi-db1], [pdu-a, pdu-b]]")
            continue
        unknown = [str(d) for lvl in raw for d in lvl if str(d) not in ids]
        if unknown:
            lm.reject(str(node), f"no fence device {', '.join(map(repr, unknown))}; devices: "
                      f"{', '.join(sorted(ids)) or 'none'}")
            continue
        levels[str(node)] = tuple(tuple(str(d) for d in lvl) for lvl in raw)
    return FencingConfig(tuple(devices), levels, action, retries)  # type: ignore[arg-type]


def _read_heartbeat(top: _Map, nodes: list[NodeConfig]) -> HeartbeatConfig:
    m = _section(top, "heartbeat", _HEARTBEAT_KEYS, "heartbeat: {key_file: /etc/vigil/cluster.key}")
    d = HeartbeatConfig()
    hb = HeartbeatConfig(
        enabled=m.get("enabled", _bool, d.enabled),
        port=m.get("port", _port, d.port),
        interval=m.get("interval", _positive, d.interval),
        timeout=m.get("timeout", _positive, d.timeout),
        key_file=m.get("key_file", _path, d.key_file),
    )
    if hb.timeout < 3 * hb.interval - 1e-9 and m.field("timeout") not in m.report.bad:
        m.report.reject(m.at("timeout"), m.field("timeout"),
                        f"timeout ({format_duration(hb.timeout)}) must be at least 3 x interval "
                        f"({format_duration(hb.interval)}) so one lost packet is not a "
                        f"failure; use timeout: {format_duration(3 * hb.interval)}")
    counts = {len(n.heartbeat_addresses) for n in nodes if n.role == "member"}
    if len(counts) > 1:
        top.report.reject(top.at("nodes"), "nodes", "every node needs the same number of links "
                          "(link i of one node talks to link i of the others); found "
                          f"{', '.join(str(c) for c in sorted(counts))}")
    return hb


def _read_watchdog(top: _Map) -> WatchdogConfig:
    m = _section(top, "watchdog", _WATCHDOG_KEYS, "watchdog: {timeout: 2s}")
    d = WatchdogConfig()
    return WatchdogConfig(m.get("timeout", _positive, d.timeout),
                          m.get("device", _path, d.device))


def _read_no_quorum_policy(top: _Map, fencing: FencingConfig, nodes: list[NodeConfig]) -> str:
    policy = top.get("no_quorum_policy", _choice("stop", "freeze"), "stop")
    if policy == "freeze":
        bare = [n.name for n in nodes if n.role == "member" and not fencing.topology(n.name)]
        if bare:
            top.reject("no_quorum_policy", "freeze keeps resources running without quorum, "
                       "which is safe only if the quorate side can fence this node first; no "
                       f"fence device covers {', '.join(bare)} (add one under fencing.devices, "
                       "or use no_quorum_policy: stop)")
    return policy
