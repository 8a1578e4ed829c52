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
    _choice,
    _migration_threshold,
    _monitor_interval,
    _name,
    _param_value,
    _positive,
)
from vigil.model.yaml_map import _check_unique, _items, _lc_pos, _Map, _section

_RESOURCE_KEYS = ("id", "agent", "params", "operations", "meta")
_OPERATION_KEYS = ("start", "stop", "monitor")
_META_KEYS = ("stickiness", "migration_threshold", "failure_timeout", "target_role")


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
        if rid is not None:
            _check_unique(m, "id", rid, seen, "resource id")
        if rid is not None and agent is not None and rid not in resources:
            resources[rid] = Resource(rid, agent, params, ops, meta)
    return resources


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
    start = _section(m, "start", ("timeout",), "start: {timeout: 20s}")
    stop = _section(m, "stop", ("timeout",), "stop: {timeout: 20s}")
    monitor = _section(m, "monitor", ("interval", "timeout"), "monitor: {interval: 10s}")
    return Operations(
        start_timeout=start.get("timeout", _positive, t.start_timeout),
        stop_timeout=stop.get("timeout", _positive, t.stop_timeout),
        monitor_interval=monitor.get("interval", _monitor_interval, t.monitor_interval),
        monitor_timeout=monitor.get("timeout", _positive, t.monitor_timeout),
    )


def _read_meta(rm: _Map) -> ResourceMeta:
    m = _section(rm, "meta", _META_KEYS, "meta: {stickiness: 100}")
    default = ResourceMeta()
    role = m.get("target_role", _choice("Started", "Stopped"), str(default.target_role))
    return ResourceMeta(
        stickiness=m.get("stickiness", parse_score, default.stickiness),
        migration_threshold=m.get(
            "migration_threshold", _migration_threshold, default.migration_threshold
        ),
        failure_timeout=m.get("failure_timeout", parse_duration, default.failure_timeout),
        target_role="Stopped" if role == "Stopped" else "Started",
    )
