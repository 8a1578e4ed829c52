"""The `resources` section of a config: each resource's agent, params, operations and meta.

Internal to the config loader (`vigil.model.load`).
"""

from __future__ import annotations

from collections.abc import Mapping

from vigil.model.config import Operations, Resource, ResourceMeta, Timings
from vigil.model.durations import describe, parse_duration, parse_score
from vigil.model.problems import Pos
from vigil.model.values import (
    _PARAM_NAME,
    _agent,
    _bool,
    _choice,
    _migration_threshold,
    _monitor_interval,
    _name,
    _param_value,
    _positive,
)
from vigil.model.yaml_map import _check_unique, _items, _lc_pos, _Map, _section

_RESOURCE_KEYS = ("id", "agent", "params", "operations", "meta", "utilization")
_OPERATION_KEYS = ("start", "stop", "monitor", "monitor_promoted", "promote", "demote", "notify")
_META_KEYS = ("stickiness", "migration_threshold", "failure_timeout", "target_role",
              "is_managed", "maintenance", "priority", "multiple_active")
_ON_FAIL = ("ignore", "block", "stop", "restart", "standby", "fence", "demote")


def _read_resources(top: _Map, timings: Timings) -> dict[str, Resource]:
    example = "resources: [{id: web, agent: ocf:heartbeat:Dummy}]"
    resources: dict[str, Resource] = {}
    seen: dict[str, Pos] = {}
    for item in _items(top, "resources", "id", example):
        m = _Map(top.report, item.node, item.path, _RESOURCE_KEYS, item.where)
        rid = m.require("id", _name, "id: web")
        agent = m.require("agent", _agent, "agent: ocf:heartbeat:Dummy")
        params = _read_params(m)
        if agent == "process":
            _check_command(m, params)
        ops = _read_operations(m, timings)
        meta = _read_meta(m)
        utilization = _read_amounts(m, "utilization", "utilization: {cpu: 2, memory: 512}")
        if rid is not None:
            _check_unique(m, "id", rid, seen, "resource id")
        if rid is not None and agent is not None and rid not in resources:
            resources[rid] = Resource(rid, agent, params, ops, meta, utilization)
    return resources


def _read_amounts(parent: _Map, key: str, example: str) -> dict[str, int]:
    """A mapping of names to non-negative integers (utilization, capacity)."""
    m = _section(parent, key, None, example)
    out: dict[str, int] = {}
    for name, value in m.node.items():
        if not isinstance(name, str) or not _PARAM_NAME.fullmatch(name):
            m.report.reject(m.key_pos(name), m.field(str(name)),
                            f"{describe(name)} is not a valid name; use letters, digits, '_'")
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            m.reject(name, f"expected a whole number >= 0, e.g. {example}; got {describe(value)}")
            continue
        out[name] = int(value)
    return out


def _read_params(rm: _Map) -> dict[str, str]:
    m = _section(rm, "params", None, 'params: {command: "sleep 1000"}')
    params: dict[str, str] = {}
    for key, value in m.node.items():
        if not isinstance(key, str) or not _PARAM_NAME.fullmatch(key):
            m.report.reject(
                m.key_pos(key),
                m.field(str(key)),
                f"{describe(key)} is not a valid parameter name; use letters,"
                " digits and '_' (agents receive it as OCF_RESKEY_<name>)",
            )
            continue
        try:
            params[key] = _param_value(value)
        except ValueError as exc:
            m.reject(key, str(exc))
    return params


def _check_command(rm: _Map, params: Mapping[str, str]) -> None:
    example = 'params: {command: "python3 -m http.server 8080"}'
    if rm.field("params") in rm.report.bad or rm.field("params.command") in rm.report.bad:
        return
    if "command" not in params:
        rm.report.add(
            rm.at("params"),
            rm.field("params.command"),
            f"agent 'process' needs the command line to run; add {example}",
        )
    elif not params["command"].strip():
        rm.report.add(
            _lc_pos(rm.node.get("params"), "value", "command", rm.at("params")),
            rm.field("params.command"),
            f"the command is empty; give the command line to run, e.g. {example}",
        )


def _read_operations(rm: _Map, t: Timings) -> Operations:
    m = _section(rm, "operations", _OPERATION_KEYS, "operations: {monitor: {interval: 10s}}")
    keys = ("timeout", "on_fail")
    start = _section(m, "start", keys, "start: {timeout: 20s}")
    stop = _section(m, "stop", keys, "stop: {timeout: 20s}")
    monitor = _section(m, "monitor", ("interval", *keys), "monitor: {interval: 10s}")
    promoted = _section(m, "monitor_promoted", ("interval", *keys),
                        "monitor_promoted: {interval: 11s}")
    promote = _section(m, "promote", keys, "promote: {timeout: 20s}")
    demote = _section(m, "demote", keys, "demote: {timeout: 20s}")
    notify = _section(m, "notify", ("timeout",), "notify: {timeout: 20s}")
    on_fail = {}
    for op, om in (("start", start), ("stop", stop), ("monitor", monitor),
                   ("monitor_promoted", promoted), ("promote", promote), ("demote", demote)):
        value = om.get("on_fail", _choice(*_ON_FAIL), None)
        if value is not None:
            on_fail[op] = value
    default = Operations(0, 0, 0, 0)
    return Operations(
        start_timeout=start.get("timeout", _positive, t.start_timeout),
        stop_timeout=stop.get("timeout", _positive, t.stop_timeout),
        monitor_interval=monitor.get("interval", _monitor_interval, t.monitor_interval),
        monitor_timeout=monitor.get("timeout", _positive, t.monitor_timeout),
        promote_timeout=promote.get("timeout", _positive, default.promote_timeout),
        demote_timeout=demote.get("timeout", _positive, default.demote_timeout),
        notify_timeout=notify.get("timeout", _positive, default.notify_timeout),
        monitor_promoted_interval=promoted.get("interval", _monitor_interval, 0.0),
        on_fail=on_fail,  # type: ignore[arg-type]
        monitor_promoted_timeout=promoted.get("timeout", _positive, 0.0),
    )


_ROLE_ALIASES = {"master": "Promoted", "slave": "Unpromoted"}


def _target_role(value: object) -> str:
    if isinstance(value, str) and value.strip().lower() in _ROLE_ALIASES:
        return _ROLE_ALIASES[value.strip().lower()]
    return _choice("Started", "Stopped", "Unpromoted", "Promoted")(value)


def _read_meta(rm: _Map) -> ResourceMeta:
    """Resource, group or clone meta; `explicit` records which keys the file sets."""
    m = _section(rm, "meta", _META_KEYS, "meta: {stickiness: 100}")
    default = ResourceMeta()
    role: str = m.get("target_role", _target_role, str(default.target_role))
    multiple: str = m.get("multiple_active",
                          _choice("stop_start", "stop_only", "block", "stop_unexpected"),
                          str(default.multiple_active))
    return ResourceMeta(
        stickiness=m.get("stickiness", parse_score, default.stickiness),
        migration_threshold=m.get(
            "migration_threshold", _migration_threshold, default.migration_threshold
        ),
        failure_timeout=m.get("failure_timeout", parse_duration, default.failure_timeout),
        target_role=role,  # type: ignore[arg-type]
        is_managed=m.get("is_managed", _bool, default.is_managed),
        maintenance=m.get("maintenance", _bool, default.maintenance),
        priority=m.get("priority", parse_score, default.priority),
        multiple_active=multiple,  # type: ignore[arg-type]
        explicit=frozenset(k for k in _META_KEYS if m.has(k)),
    )
