"""Load a YAML cluster config into a `ClusterConfig`, or report every problem in it.

Validation is by hand rather than through a schema library so that each problem points
at the exact line of the offending key or value and says how to fix it (S5: bad input
gets a clear error naming where, and nothing is applied). Reading never stops at the
first problem: a bad value is recorded and replaced by its default so the rest of the
file is still checked, and the field is remembered as bad so cross-field checks that
involve it stay quiet instead of reporting a consequence of the same mistake.

Field paths name list items by their id when it is known (`resources[web].meta`) and by
their 0-based index otherwise (`nodes[2].address`). Lines and columns are 1-based.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from vigil.model.config import (
    ClusterConfig,
    ColocationConstraint,
    LocationConstraint,
    NodeConfig,
    Operations,
    OrderConstraint,
    Resource,
    ResourceMeta,
    StoreConfig,
    Timings,
)
from vigil.model.durations import (
    DURATION_HINT,
    describe,
    format_duration,
    is_bool,
    parse_duration,
    parse_score,
)

T = TypeVar("T")
Pos = tuple[int | None, int | None]
"""1-based (line, column); (None, None) when a problem has no place in the file."""
_NOWHERE: Pos = (None, None)
_FILE_START: Pos = (1, 1)

__all__ = ["ConfigInvalid", "Problem", "load_config_file", "load_config_text"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a config: where, which field, what is wrong and the fix."""

    file: str
    line: int | None
    column: int | None
    field: str
    message: str

    def __str__(self) -> str:
        place = self.file
        if self.line is not None:
            place += f":{self.line}"
            if self.column is not None:
                place += f":{self.column}"
        return ": ".join(part for part in (place, self.field, self.message) if part)


class ConfigInvalid(Exception):
    """A config was rejected; `problems` holds every problem found, sorted by line."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


def load_config_file(path: str | Path) -> ClusterConfig:
    """Read and validate a config file; raises `ConfigInvalid` (also if unreadable)."""
    name = str(path)
    try:
        # utf-8-sig: tolerate the byte-order mark some Windows editors write.
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise _file_problem(name, "no such file; `vigil init` writes a starting config") from None
    except IsADirectoryError:
        raise _file_problem(name, "is a directory; give the path of the YAML file") from None
    except PermissionError:
        raise _file_problem(name, "permission denied; make it readable by vigil") from None
    except UnicodeDecodeError as exc:
        message = f"not UTF-8 text (bad byte at offset {exc.start}); save it as UTF-8"
        raise _file_problem(name, message) from None
    except OSError as exc:
        raise _file_problem(name, f"cannot read: {exc.strerror or exc}") from None
    return load_config_text(text, name)


def _file_problem(name: str, message: str) -> ConfigInvalid:
    return ConfigInvalid([Problem(name, None, None, "", message)])


def load_config_text(text: str, filename: str = "<config>") -> ClusterConfig:
    """Validate YAML text; raises `ConfigInvalid` listing every problem found."""
    report = _Report(filename)
    document = _parse_yaml(text, report)
    config = None if report.problems else _read_config(report, document)
    if report.problems or config is None:
        raise ConfigInvalid(report.sorted())
    return config


# --- collecting problems -------------------------------------------------------------


class _Report:
    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []
        self.bad: set[str] = set()
        """Fields whose value was rejected: cross-field checks skip them."""

    def add(self, pos: Pos, field: str, message: str) -> None:
        self.problems.append(Problem(self.file, pos[0], pos[1], field, message))

    def reject(self, pos: Pos, field: str, message: str) -> None:
        self.add(pos, field, message)
        self.bad.add(field)

    def sorted(self) -> list[Problem]:
        unique = dict.fromkeys(self.problems)  # one mistake may be reached twice
        return sorted(unique, key=lambda p: (p.line or 0, p.column or 0))


def _parse_yaml(text: str, report: _Report) -> object:
    try:
        # The round-trip loader keeps the line and column of every key and list item.
        document = YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        report.add(_mark_pos(exc), "", _yaml_message(exc))
        return None
    except YAMLError as exc:
        report.add(_NOWHERE, "", f"invalid YAML: {exc}")
        return None
    if document is None:
        message = (
            "the config is empty; expected a mapping with at least `cluster:` and `nodes:`"
            " (`vigil init` writes a starting config)"
        )
        report.add(_NOWHERE, "", message)
    return document


def _mark_pos(exc: MarkedYAMLError) -> Pos:
    mark = exc.problem_mark or exc.context_mark
    return _NOWHERE if mark is None else (mark.line + 1, mark.column + 1)


def _yaml_message(exc: MarkedYAMLError) -> str:
    problem = str(exc.problem or exc.context or "syntax error")
    message = f"invalid YAML: {problem}"
    if "duplicate key" in problem:
        message += "; each key may appear once in a mapping: remove or merge the other one"
    elif "'\\t'" in problem:
        message += "; indent with spaces, not tabs"
    elif "mapping values are not allowed" in problem:
        message += "; check the indentation, and quote values that contain ': '"
    return message


# --- positions of YAML nodes ---------------------------------------------------------


def _start(node: object, fallback: Pos) -> Pos:
    lc = getattr(node, "lc", None)
    if lc is None or lc.line is None:
        return fallback
    return (lc.line + 1, lc.col + 1)


def _lc_pos(node: object, kind: str, index: object, fallback: Pos) -> Pos:
    """Position of a key ("key"), a value ("value") or a list item ("item")."""
    try:
        line, col = getattr(node.lc, kind)(index)  # type: ignore[attr-defined]
    except (AttributeError, KeyError, IndexError, TypeError):
        # Keys brought in by a `<<:` merge, or plain dicts, have no recorded position.
        return fallback
    return (line + 1, col + 1)


# --- reading one mapping -------------------------------------------------------------

# Keys people write from habit (Pacemaker, other tools) that difflib would not match.
_ALIASES = {
    "type": "agent",
    "class": "agent",
    "ops": "operations",
    "op": "operations",
    "with_resource": "with",
    "rsc": "resource",
    "uname": "name",
    "ip": "address",
    "host": "address",
    "mode": "type",
    "ttl": "lease_ttl",
}


class _Map:
    """One YAML mapping being read: its field path, allowed keys and key positions."""

    def __init__(
        self,
        report: _Report,
        node: Mapping[Any, object],
        path: str,
        keys: Sequence[str] | None,
        where: Pos,
    ) -> None:
        self.report = report
        self.node = node
        self.path = path
        self.where = where
        """Where the mapping starts: the place to report a missing key."""
        self.misspelt: set[str] = set()
        """Keys an unknown key probably meant: not reported again as missing."""
        if keys is None:  # free-form, e.g. params
            return
        for key in node:
            if key not in keys:
                guess = _guess(key, keys)
                self.report.add(self.key_pos(key), self.field(str(key)), _unknown(key, guess, keys))
                if guess is not None:
                    self.misspelt.add(guess)

    def field(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def has(self, key: str) -> bool:
        return key in self.node

    def key_pos(self, key: object) -> Pos:
        return _lc_pos(self.node, "key", key, self.where)

    def value_pos(self, key: str) -> Pos:
        return _lc_pos(self.node, "value", key, self.key_pos(key))

    def at(self, key: str) -> Pos:
        """The key's line if the file sets it, else the mapping's own line."""
        return self.key_pos(key) if self.has(key) else self.where

    def reject(self, key: str, message: str) -> None:
        self.report.reject(self.value_pos(key), self.field(key), message)

    def get(self, key: str, parse: Callable[[object], T], default: T) -> T:
        if key not in self.node:
            return default
        try:
            return parse(self.node[key])
        except ValueError as exc:
            self.reject(key, str(exc))
            return default

    def require(self, key: str, parse: Callable[[object], T], example: str) -> T | None:
        if key not in self.node:
            if key not in self.misspelt:
                message = f"missing required key '{key}'; add it, e.g. {example}"
                self.report.add(self.where, self.field(key), message)
            self.report.bad.add(self.field(key))
            return None
        try:
            return parse(self.node[key])
        except ValueError as exc:
            self.reject(key, str(exc))
            return None


def _guess(key: object, allowed: Sequence[str]) -> str | None:
    """The allowed key that an unknown one most likely meant, if any."""
    if not isinstance(key, str):
        return None
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    guess = close[0] if close else _ALIASES.get(key.lower())
    return guess if guess in allowed else None


def _unknown(key: object, guess: str | None, allowed: Sequence[str]) -> str:
    expected = f"expected one of: {', '.join(allowed)}"
    if not isinstance(key, str):
        return f"{describe(key)} is not a valid key; {expected}"
    if guess is not None:
        return f"unknown key '{key}' — did you mean '{guess}'? {expected}"
    return f"unknown key '{key}'; {expected}"


def _section(parent: _Map, key: str, keys: Sequence[str] | None, example: str) -> _Map:
    """A nested mapping; absent or empty reads as `{}` so that defaults apply."""
    raw = parent.node.get(key)
    if raw is None:
        return _Map(parent.report, {}, parent.field(key), keys, parent.at(key))
    if not isinstance(raw, dict):
        parent.reject(key, f"expected a mapping, e.g. {example}; got {describe(raw)}")
        return _Map(parent.report, {}, parent.field(key), keys, parent.at(key))
    return _Map(parent.report, raw, parent.field(key), keys, _start(raw, parent.at(key)))


@dataclass(frozen=True)
class _Item:
    """A mapping inside a list, with the label used in its field path."""

    node: Mapping[Any, object]
    path: str
    where: Pos


def _items(parent: _Map, key: str, id_key: str, example: str) -> list[_Item]:
    """The mappings of a list; absent or empty reads as no items."""
    raw = parent.node.get(key)
    if raw is None:
        return []
    if not isinstance(raw, list):
        parent.reject(key, f"expected a list of mappings, e.g. {example}; got {describe(raw)}")
        return []
    items = []
    for index, node in enumerate(raw):
        where = _lc_pos(raw, "item", index, parent.at(key))
        label = _label(node, id_key, index)
        path = f"{parent.field(key)}[{label}]"
        if isinstance(node, dict):
            items.append(_Item(node, path, _start(node, where)))
        else:
            message = f"expected a mapping, e.g. {example}; got {describe(node)}"
            parent.report.reject(where, path, message)
    return items


def _label(node: object, id_key: str, index: int) -> str:
    value = node.get(id_key) if isinstance(node, dict) else None
    return value if isinstance(value, str) and _NAME.fullmatch(value) else str(index)


# --- value parsers: each returns the clean value or raises ValueError(operator text) --

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_CLUSTER_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]*")
_PARAM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OCF_AGENT = re.compile(r"ocf:([A-Za-z0-9_.-]+):([A-Za-z0-9_.-]+)")
_PREFIX = re.compile(r"(/[A-Za-z0-9_.-]+)+")
_MIN_MONITOR_INTERVAL = 0.1
_ETCD_MAX_ELECTION_TIMEOUT = 50.0


def _text(value: object, expected: str) -> str:
    if isinstance(value, str):
        return str(value)  # drop ruamel's str subclasses
    quote = " (put it in quotes to make it text)" if isinstance(value, int | float) else ""
    raise ValueError(f"expected {expected}; got {describe(value)}{quote}")


def _name(value: object) -> str:
    expected = "a name of letters, digits, '_', '.' and '-' starting with a letter or digit"
    text = _text(value, expected)
    if not _NAME.fullmatch(text):
        raise ValueError(f"{text!r} is not a valid name; expected {expected}")
    return text


def _cluster_name(value: object) -> str:
    expected = "lowercase letters, digits, '_', '.' and '-', starting with a letter or digit"
    text = _text(value, f"a cluster name of {expected}")
    if not _CLUSTER_NAME.fullmatch(text):
        raise ValueError(f"{text!r} is not a valid cluster name; use {expected}, e.g. demo")
    return text


def _address(value: object) -> str:
    expected = "an IPv4 or IPv6 address such as 10.0.0.1 or fd00::1"
    text = _text(value, expected).strip()
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is not an IP address; expected {expected} (host names are not"
            " accepted: the agent listens on this address)"
        ) from None
    if address.is_unspecified or address.is_multicast:
        raise ValueError(
            f"{text} cannot be a node's address: other nodes connect to it; give the"
            " node's own unicast address"
        )
    return str(address)


def _port(value: object) -> int:
    if is_bool(value) or not isinstance(value, int):
        raise ValueError(f"expected a port number 1-65535; got {describe(value)}")
    if not 1 <= value <= 65535:
        raise ValueError(f"port {int(value)} is out of range; expected 1-65535")
    return int(value)


def _bool(value: object) -> bool:
    if not is_bool(value):
        raise ValueError(f"expected true or false; got {describe(value)}")
    return bool(value)


def _choice(*choices: str) -> Callable[[object], str]:
    """Enum parser; case-insensitive, returns the canonical spelling."""

    def parse(value: object) -> str:
        expected = f"one of: {', '.join(choices)}"
        text = _text(value, expected)
        for choice in choices:
            if text.strip().lower() == choice.lower():
                return choice
        raise ValueError(f"{text!r} is not valid; expected {expected}")

    return parse


def _positive(value: object) -> float:
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError(f"must be more than 0; expected {DURATION_HINT}")
    return seconds


def _monitor_interval(value: object) -> float:
    seconds = parse_duration(value)
    if 0 < seconds < _MIN_MONITOR_INTERVAL:
        raise ValueError(
            f"a monitor interval of {format_duration(seconds)} would run the agent"
            " continuously; use 0 to disable the monitor, or at least 100ms"
        )
    return seconds


def _lease_ttl(value: object) -> float:
    seconds = parse_duration(value)
    if seconds < 1 or not seconds.is_integer():
        better = format_duration(max(1, math.ceil(seconds)))
        raise ValueError(
            f"lease_ttl must be a whole number of seconds, at least 1s (etcd grants"
            f" leases in whole seconds); got {format_duration(seconds)}: use lease_ttl: {better}"
        )
    return seconds


def _migration_threshold(value: object) -> int:
    threshold = parse_score(value)
    if threshold < 1:
        raise ValueError(
            f"must be at least 1 (got {threshold}); use INFINITY to never move a resource"
            " because of its failures"
        )
    return threshold


def _agent(value: object) -> str:
    expected = "'process' or 'ocf:<provider>:<type>' (e.g. ocf:heartbeat:Dummy)"
    text = _text(value, expected).strip()
    if text == "process" or _OCF_AGENT.fullmatch(text):
        return text
    if text.lower().startswith("ocf"):
        raise ValueError(
            f"{text!r}: an OCF agent is named ocf:<provider>:<type>, e.g. "
            "ocf:heartbeat:Dummy (the provider is the directory under "
            "/usr/lib/ocf/resource.d)"
        )
    raise ValueError(f"unknown agent {text!r}; expected {expected}")


def _prefix(value: object) -> str:
    expected = "a key prefix such as /vigil: '/' then names, no trailing '/'"
    text = _text(value, expected)
    if not _PREFIX.fullmatch(text):
        raise ValueError(f"{text!r} is not a valid prefix; expected {expected}")
    return text


def _endpoint(value: object) -> str:
    expected = "an etcd client URL such as http://10.0.0.5:2379 or https://etcd1:2379"
    text = _text(value, expected).strip()
    parts = urlsplit(text)
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ValueError(f"{text!r} has an invalid port; expected {expected}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{text!r} is not a URL; expected {expected}")
    if parts.path.strip("/") or parts.query or parts.fragment:
        raise ValueError(f"{text!r}: give only scheme, host and port, e.g. http://10.0.0.5:2379")
    return text


def _param_value(value: object) -> str:
    if is_bool(value):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return str(float(value))
    if isinstance(value, str):
        return str(value)
    raise ValueError(
        f"expected a single value (text or number); got {describe(value)}"
        ' (write an empty string as "")'
    )


# --- sections ------------------------------------------------------------------------

_TOP_KEYS = ("cluster", "nodes", "store", "timings", "resources", "constraints")
_NODE_KEYS = ("name", "address", "api_port", "etcd_client_port", "etcd_peer_port")
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
_RESOURCE_KEYS = ("id", "agent", "params", "operations", "meta")
_OPERATION_KEYS = ("start", "stop", "monitor")
_META_KEYS = ("stickiness", "migration_threshold", "failure_timeout", "target_role")
_CONSTRAINT_KEYS = ("location", "colocation", "order")
_LOCATION_KEYS = ("id", "resource", "node", "score")
_COLOCATION_KEYS = ("id", "resource", "with", "score")
_ORDER_KEYS = ("id", "first", "then", "kind", "symmetrical")

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
    locations, colocations, orders = _read_constraints(top, resources, nodes)
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
        if name is not None:
            _check_unique(m, "name", name, seen, "node name")
        if name is not None and address is not None:
            nodes.append(NodeConfig(name, address, *ports))
            maps.append(m)
    _check_port_clashes(nodes, maps, store)
    return nodes


def _check_unique(m: _Map, key: str, value: str, seen: dict[str, Pos], what: str) -> None:
    if value in seen:
        first = seen[value][0]
        m.reject(key, f"{what} '{value}' is already used at line {first}; names must be unique")
    else:
        seen[value] = m.value_pos(key)


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


def _check_timings(report: _Report, t: Timings, tm: _Map, s: StoreConfig, sm: _Map) -> None:
    """Enforce the inequalities that make the lease (S2) and etcd settings workable."""

    def usable(*names: str) -> bool:
        return not any(name in report.bad for name in names)

    def blame(field: str, message: str, *candidates: tuple[_Map, str]) -> None:
        # Point at the first of the involved keys that the file actually sets.
        for m, key in candidates:
            if m.has(key):
                report.add(m.key_pos(key), m.field(key), message)
                return
        report.add(candidates[0][0].where, field, message)

    ttl, ka, margin = t.lease_ttl, t.keepalive_interval, t.lease_margin
    hb, election = s.etcd_heartbeat_interval, s.etcd_election_timeout
    fmt = format_duration
    if usable("timings.keepalive_interval", "timings.lease_ttl") and ka > ttl / 3 + 1e-9:
        blame(
            "timings.keepalive_interval",
            f"keepalive_interval ({fmt(ka)}) must be at most lease_ttl / 3"
            f" ({fmt(ttl)} / 3 = {fmt(ttl / 3)}) so a lease survives two lost keepalives;"
            f" use keepalive_interval: {fmt(math.floor(ttl * 1000 / 3) / 1000)}"
            f" or lease_ttl: {fmt(math.ceil(3 * ka))}",
            (tm, "keepalive_interval"),
            (tm, "lease_ttl"),
        )
    names = ("timings.keepalive_interval", "timings.lease_margin", "timings.lease_ttl")
    if usable(*names) and ka + margin >= ttl - 1e-9:
        fix = f"lease_ttl: {fmt(math.floor(ka + margin) + 1)}"
        if ttl > ka:
            fix = f"lease_margin: {fmt(round((ttl - ka) / 2, 3))} or {fix}"
        blame(
            "timings.lease_margin",
            f"keepalive_interval + lease_margin ({fmt(ka)} + {fmt(margin)} ="
            f" {fmt(ka + margin)}) must be less than lease_ttl ({fmt(ttl)}): a node stops"
            f" its resources when less than lease_margin of its lease is left, so it would"
            f" stop them between keepalives; use {fix}",
            (tm, "lease_margin"),
            (tm, "keepalive_interval"),
            (tm, "lease_ttl"),
        )
    if usable("timings.lease_ttl", "store.etcd_election_timeout") and ttl < 1.5 * election - 1e-9:
        blame(
            "timings.lease_ttl",
            f"lease_ttl ({fmt(ttl)}) must be at least 1.5 x store.etcd_election_timeout"
            f" (1.5 x {fmt(election)} = {fmt(1.5 * election)}): etcd silently lengthens"
            f" shorter leases, so a lost node would keep its lease longer than vigil"
            f" assumes; use lease_ttl: {fmt(math.ceil(1.5 * election - 1e-9))} or"
            f" etcd_election_timeout: {fmt(math.floor(ttl * 1000 / 1.5) / 1000)}",
            (tm, "lease_ttl"),
            (sm, "etcd_election_timeout"),
        )
    tolerance = ttl - margin - ka
    if (
        usable(*names, "store.etcd_election_timeout")
        and ka + margin < ttl
        and ka <= ttl / 3 + 1e-9
        and ttl >= 1.5 * election - 1e-9
        and tolerance < 2 * election - 1e-9
    ):
        blame(
            "timings.lease_ttl",
            f"a node can go only {fmt(tolerance)} without store contact (lease_ttl -"
            f" lease_margin - keepalive_interval) before it must stop its resources, but"
            f" replacing a lost etcd leader can take 2 x etcd_election_timeout"
            f" ({fmt(2 * election)}): every node would stop its resources when the etcd"
            f" leader dies; use lease_ttl: {fmt(math.ceil(2 * election + margin + ka))} or"
            f" etcd_election_timeout: {fmt(math.floor(tolerance * 1000 / 2) / 1000)}",
            (tm, "lease_ttl"),
            (sm, "etcd_election_timeout"),
            (tm, "lease_margin"),
        )
    if usable("store.etcd_election_timeout", "store.etcd_heartbeat_interval") and (
        election < 5 * hb - 1e-9
    ):
        blame(
            "store.etcd_election_timeout",
            f"etcd_election_timeout ({fmt(election)}) must be at least 5 x"
            f" etcd_heartbeat_interval (5 x {fmt(hb)} = {fmt(5 * hb)}), or etcd refuses to"
            f" start; use etcd_election_timeout: {fmt(5 * hb)} or"
            f" etcd_heartbeat_interval: {fmt(math.floor(election * 1000 / 5) / 1000)}",
            (sm, "etcd_election_timeout"),
            (sm, "etcd_heartbeat_interval"),
        )
    if usable("store.etcd_election_timeout") and election > _ETCD_MAX_ELECTION_TIMEOUT:
        blame(
            "store.etcd_election_timeout",
            f"etcd_election_timeout ({fmt(election)}) is above etcd's limit of 50s; use at"
            " most 50s (1s suits a LAN)",
            (sm, "etcd_election_timeout"),
        )


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


# --- constraints ---------------------------------------------------------------------


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
