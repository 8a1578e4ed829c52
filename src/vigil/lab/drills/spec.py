"""Reading drill files: every problem with file:line:column, the field and a fix, as the
cluster config loader reports them (it reuses the loader's mapping reader).

The config fragment in `setup.config` is checked by the config loader itself, inside a
stand-in cluster of the drill's size, and its problems are placed back in the drill file.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from vigil.lab.drills.model import (
    ACTIONS,
    CONDITIONS,
    EXPECTATIONS,
    FAULTS,
    HEALS,
    SELECTORS,
    Drill,
    Expectation,
    Setup,
    Step,
)
from vigil.model.durations import describe, is_bool, parse_duration
from vigil.model.load import load_config_text
from vigil.model.problems import ConfigInvalid, Pos, Problem, _Report
from vigil.model.values import _NAME
from vigil.model.yaml_map import _items, _lc_pos, _Map, _section, _start

__all__ = ["DrillInvalid", "LabFacts", "config_text", "load_drill_file", "load_drill_text",
           "load_drills"]

DrillInvalid = ConfigInvalid
"""Raised with every problem of a drill file (same type as a config's problems)."""

_TOP_KEYS = ("name", "description", "tags", "setup", "steps", "expect")
_SETUP_KEYS = ("nodes", "witness", "links", "fencing", "config", "service", "vip", "timeout")
_STEP_KINDS = ("wait", "until", "fault", "heal", "do")
_STEP_KEYS = (*_STEP_KINDS, "node", "resource", "link", "groups", "percent", "period", "count",
              "timeout", "mark", "as")
_NOWHERE: Pos = (None, None)


@dataclass(frozen=True)
class LabFacts:
    """The lab's values for the placeholders of a config (`${vip}` ...); stand-ins are
    used to validate a drill before any lab exists. Same names as `vigil lab up`."""

    vip: str = "198.18.1.100"
    vip2: str = "198.18.1.101"
    nic: str = "eth1"
    subnet: str = "198.18.1.0/24"
    port: int = 80
    service: str = "python3 -I -S lab_service.py 80"
    lab_dir: str = "/dev/shm/vigil-lab/drill"

    def values(self) -> dict[str, str]:
        return {"vip": self.vip, "vip2": self.vip2, "nic": self.nic, "subnet": self.subnet,
                "port": str(self.port), "service": self.service, "lab_dir": self.lab_dir}


STANDARD_CONFIG = """\
store:
  etcd_heartbeat_interval: 25ms
  etcd_election_timeout: 250ms
heartbeat:
  interval: 50ms
  timeout: 250ms
resources:
  - id: vip
    agent: vip
    params: {ip: "${vip}", cidr_netmask: "24", nic: "${nic}", arp_count: "3"}
    operations:
      monitor: {interval: 500ms, timeout: 5s}
  - id: web
    agent: process
    params: {command: "${service}", start_wait: "0.05"}
    operations:
      monitor: {interval: 500ms, timeout: 5s}
constraints:
  colocation:
    - {resource: web, with: vip, score: INFINITY}
  order:
    - {first: vip, then: web, kind: Mandatory}
"""
"""The web service every drill runs unless it gives its own `setup.config`: the lab's
VIP and its service (answers with the node's name), always together, VIP first."""


def fill(fragment: str, facts: LabFacts) -> str:
    """Substitute the lab's `${name}` placeholders (other `$` text stays)."""
    return string.Template(fragment).safe_substitute(facts.values())


def node_names(setup: Setup) -> list[str]:
    return [f"n{i + 1}" for i in range(setup.nodes)]


def config_text(setup: Setup, facts: LabFacts) -> str:
    """The whole config the lab would run for this drill (stand-in hosts)."""
    from vigil.lab.lab_config import merge

    nodes: list[dict[str, Any]] = [
        {"name": n, "address": f"198.18.1.{11 + i}"} for i, n in enumerate(node_names(setup))]
    if setup.witness:
        nodes.append({"name": "w1", "address": "198.18.1.5", "role": "witness"})
    fence = None
    if setup.fencing:
        fence = {"id": "lab", "agent": "/bin/true",
                 "host_map": {n: n for n in node_names(setup)}}
    return merge(setup.config or STANDARD_CONFIG, nodes=nodes, key_file="/dev/null",
                 hb_port=7999, fence_device=fence, values=facts.values(), source="setup.config")


def field_pos(fragment: object, field: str) -> Pos | None:
    """Where a config problem's field (`resources[web].meta.x`) sits in the fragment's
    YAML document, walking the same path the loader names; None if it is not there
    (e.g. a key the lab added)."""
    node = fragment
    pos: Pos | None = None
    for part in field.split("."):
        m = re.fullmatch(r"([A-Za-z0-9_]+)(?:\[([^\]]+)\])?", part)
        if m is None or not isinstance(node, dict) or m.group(1) not in node:
            return pos
        key, label = m.group(1), m.group(2)
        pos = _lc_pos(node, "key", key, pos or (None, None))
        node = node[key]
        if label is None:
            continue
        if not isinstance(node, list):
            return pos
        index = next((i for i, item in enumerate(node) if isinstance(item, dict) and
                      label in (item.get("id"), item.get("name"))), None)
        if index is None and label.isdigit() and int(label) < len(node):
            index = int(label)
        if index is None:
            return pos
        pos = _lc_pos(node, "item", index, pos)
        node = node[index]
    return pos


# --- loading ---------------------------------------------------------------------------


def load_drills(paths: Iterable[str | Path]) -> list[Drill]:
    """Every drill of the files and directories given (a directory: its *.yaml, sorted);
    raises DrillInvalid with the problems of all files at once."""
    drills: list[Drill] = []
    problems: list[Problem] = []
    for path in paths:
        p = Path(path)
        files = sorted([*p.glob("*.yaml"), *p.glob("*.yml")]) if p.is_dir() else [p]
        if p.is_dir() and not files:
            problems.append(Problem(str(p), None, None, "", "no *.yaml drill files here"))
        for f in files:
            try:
                drills.append(load_drill_file(f))
            except DrillInvalid as e:
                problems.extend(e.problems)
    seen: dict[str, str] = {}
    for d in drills:
        if d.name in seen:
            problems.append(Problem(d.file, None, None, "name",
                                    f"drill name '{d.name}' is also used by {seen[d.name]};"
                                    " give each drill its own name"))
        seen.setdefault(d.name, d.file)
    if problems:
        raise DrillInvalid(problems)
    return drills


def load_drill_file(path: str | Path) -> Drill:
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DrillInvalid([Problem(name, None, None, "", "no such drill file")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DrillInvalid([Problem(name, None, None, "", f"cannot read: {exc}")]) from None
    return load_drill_text(text, name)


def load_drill_text(text: str, filename: str = "<drill>") -> Drill:
    report = _Report(filename)
    try:
        document = YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        pos = _NOWHERE if mark is None else (mark.line + 1, mark.column + 1)
        raise DrillInvalid([Problem(filename, pos[0], pos[1], "",
                                    f"invalid YAML: {exc.problem or exc.context}")]) from None
    except YAMLError as exc:
        raise DrillInvalid([Problem(filename, None, None, "", f"invalid YAML: {exc}")]) from None
    if not isinstance(document, dict):
        raise DrillInvalid([Problem(filename, 1, 1, "", "a drill is a mapping with name, "
                                    "description, setup, steps and expect; got "
                                    + describe(document))])
    drill = _read(report, document, filename)
    if report.problems or drill is None:
        raise DrillInvalid(report.sorted())
    return drill


def _read(report: _Report, document: dict[object, object], filename: str) -> Drill | None:
    top = _Map(report, document, "", _TOP_KEYS, _start(document, (1, 1)))
    name = top.require("name", _drill_name, "name: power-off-active")
    description = top.require("description", _text, "description: Power off the node ...")
    tags: tuple[str, ...] = top.get("tags", _tags, ())
    setup = _read_setup(top)
    steps = _read_steps(top, setup)
    expect = _read_expect(top, setup, steps)
    if name is None or description is None:
        return None
    return Drill(name, description.strip(), setup, tuple(steps), tuple(expect), tags, filename)


def _drill_name(value: object) -> str:
    text = _text(value)
    if not _NAME.fullmatch(text):
        raise ValueError(f"{text!r} is not a valid drill name; use letters, digits, '-', '_'"
                         ", e.g. power-off-active")
    return text


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected text; got {describe(value)}")
    return str(value)


def _tags(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"expected a list of words, e.g. [ci]; got {describe(value)}")
    return tuple(str(v) for v in value)


def _int_in(low: int, high: int) -> Callable[[object], int]:
    def parse(value: object) -> int:
        if is_bool(value) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"expected a whole number from {low} to {high}; got "
                             f"{describe(value)}")
        return int(value)
    return parse


def _bool(value: object) -> bool:
    if not is_bool(value):
        raise ValueError(f"expected true or false; got {describe(value)}")
    return bool(value)


def _read_setup(top: _Map) -> Setup:
    m = _section(top, "setup", _SETUP_KEYS, "setup: {nodes: 3}")
    d = Setup()
    nodes = m.get("nodes", _int_in(2, 5), d.nodes)
    config = m.get("config", _text, None)
    config_line = None
    if config is not None:
        # A block scalar (`config: |`) starts on the line after its key.
        raw = m.node.get("config")
        style = getattr(raw, "style", None) if raw is not None else None
        key_line = m.key_pos("config")[0]
        if key_line is not None:
            config_line = key_line + 1 if style in ("|", ">") else key_line
    setup = Setup(
        nodes=nodes,
        witness=m.get("witness", _bool, d.witness),
        links=m.get("links", _int_in(1, 3), d.links),
        fencing=m.get("fencing", _bool, d.fencing),
        config=config,
        config_line=config_line,
        service=m.get("service", _resource_id, d.service),
        vip=m.get("vip", _resource_id, d.vip),
        timeout=m.get("timeout", _positive, d.timeout),
    )
    if m.field("nodes") not in m.report.bad and m.field("config") not in m.report.bad:
        _check_config(m, setup)
    return setup


def _resource_id(value: object) -> str:
    text = _text(value)
    if not _NAME.fullmatch(text):
        raise ValueError(f"{text!r} is not a valid resource id")
    return text


def _positive(value: object) -> float:
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError(f"expected a positive duration such as 30s; got {describe(value)}")
    return seconds


def _check_config(m: _Map, setup: Setup) -> None:
    """The fragment must make a valid config in a cluster of the drill's size (as the lab
    would complete it), and hold the service and VIP resources the drill names."""
    try:
        text = config_text(setup, LabFacts())
    except Exception as exc:  # the lab's merge: YAML errors with their position in text
        m.reject("config", str(exc))
        return
    try:
        config = load_config_text(text, m.report.file)
    except ConfigInvalid as exc:
        fragment = YAML(typ="rt").load(fill(setup.config or STANDARD_CONFIG, LabFacts()))
        for p in exc.problems:
            inner = field_pos(fragment, p.field) if setup.config is not None else None
            if inner is not None and inner[0] is not None and setup.config_line is not None:
                # A block scalar's lines are indented one step past its key.
                key_col = m.key_pos("config")[1] or 1
                col = None if inner[1] is None else inner[1] + key_col + 1
                where: Pos = (setup.config_line + inner[0] - 1, col)
            else:
                where = m.at("config")
            m.report.reject(where, m.field(f"config: {p.field}"), p.message)
        return
    ids = [r.id for r in config.resources]
    for key, rid in (("service", setup.service), ("vip", setup.vip)):
        if rid not in ids:
            m.reject(key if m.has(key) else "config",
                     f"the config has no resource '{rid}' for setup.{key}; resources: "
                     + ", ".join(ids) + f" (set setup.{key} to the right id)")


def _read_steps(top: _Map, setup: Setup) -> list[Step]:
    steps: list[Step] = []
    if not top.has("steps"):
        top.require("steps", _text, "steps: [{fault: power-off, node: owner}]")
        return steps
    names = node_names(setup) + (["w1"] if setup.witness else [])
    saved: set[str] = set()
    marks: set[str] = {"start", "end"}
    for index, item in enumerate(_items(top, "steps", "mark", "{wait: 2s}")):
        m = _Map(top.report, item.node, item.path, _STEP_KEYS, item.where)
        kinds = [k for k in _STEP_KINDS if m.has(k)]
        if len(kinds) != 1:
            m.report.add(m.where, m.path, "a step has exactly one of "
                         + ", ".join(_STEP_KINDS) + (f"; it has {', '.join(kinds)}" if kinds
                                                     else ""))
            continue
        kind = kinds[0]
        step = _read_step(m, kind, index, names, saved, marks)
        if step is not None:
            steps.append(step)
    return steps


def _choice(options: Iterable[str], what: str) -> Callable[[object], str]:
    allowed = tuple(options)

    def parse(value: object) -> str:
        text = _text(value)
        if text not in allowed:
            raise ValueError(f"unknown {what} '{text}'; expected one of: {', '.join(allowed)}")
        return text
    return parse


def _read_step(m: _Map, kind: str, index: int, names: list[str], saved: set[str],
               marks: set[str]) -> Step | None:
    seconds = 0.0
    if kind == "wait":
        what = "pause"
        seconds = m.get("wait", _positive, 0.0)
    elif kind == "until":
        what = m.get("until", _choice(CONDITIONS, "condition"), "")
        seconds = m.get("timeout", _positive, 60.0)
    elif kind == "fault":
        what = m.get("fault", _choice(FAULTS, "fault"), "")
    elif kind == "heal":
        what = m.get("heal", _choice(HEALS, "fault to undo"), "")
    else:
        what = m.get("do", _choice(ACTIONS, "action"), "")
    mark = m.get("mark", _drill_name, f"step{index + 1}")
    if mark in ("start", "end"):
        m.reject("mark", f"'{mark}' is reserved (the drill's start and end); pick another name")
    elif mark in marks:
        m.reject("mark", f"mark '{mark}' is used twice; marks name one step each")
    marks.add(mark)

    def node(value: object) -> str:
        return _selector(value, names, saved)
    step = Step(
        kind=kind, what=what, seconds=seconds,
        node=m.get("node", node, None),
        resource=m.get("resource", _resource_id, None),
        link=m.get("link", _int_in(1, 3), None),
        groups=m.get("groups", lambda v: _groups(v, names, saved), ()),
        percent=m.get("percent", _int_in(1, 100), None),
        period=m.get("period", _positive, None),
        count=m.get("count", _int_in(1, 1000), None),
        mark=mark, save_as=m.get("as", _variable, None),
        line=m.where[0],
    )
    if step.save_as is not None:
        saved.add(step.save_as)
    _check_step_needs(m, step)
    return step if what else None


def _check_step_needs(m: _Map, step: Step) -> None:
    needs_node = {"power-off", "hang", "agent-crash", "resource-kill", "link-down", "flap",
                  "isolate-store", "monitor-fail", "stop-fail", "stop-hang"}
    needs_resource = {"resource-kill", "monitor-fail", "stop-fail", "stop-hang"}
    if step.kind == "fault":
        if step.what in needs_node and step.node is None and not m.has("node") \
                and "node" not in m.misspelt:
            m.report.add(m.where, m.field("node"), f"fault {step.what} needs `node:` (a node "
                         "name, owner, dc, etcd-leader, other or a $variable)")
        if step.what in needs_resource and step.resource is None:
            m.report.add(m.where, m.field("resource"),
                         f"fault {step.what} needs `resource:` (a resource id)")
        if step.what == "partition" and not step.groups:
            m.report.add(m.where, m.field("groups"), "partition needs `groups:`, e.g. "
                         "[[owner], [other, dc]]; unlisted nodes join the last group")
        if step.what == "asymmetric" and (step.node is None or not step.groups):
            m.report.add(m.where, m.path, "asymmetric needs `node:` (whose packets are "
                         "dropped) and `groups: [[nodes it cannot reach]]`")
        if step.what == "loss" and step.percent is None:
            m.report.add(m.where, m.field("percent"), "loss needs `percent:`, e.g. 20")
    if step.kind == "do":
        if step.what in ("move", "clear", "cleanup") and step.resource is None:
            m.report.add(m.where, m.field("resource"), f"{step.what} needs `resource:`")
        if step.what in ("standby", "unstandby", "stop-node", "start-node") and \
                step.node is None:
            m.report.add(m.where, m.field("node"), f"{step.what} needs `node:`")
    if step.kind == "until" and step.what in ("node-online", "node-offline", "fenced",
                                              "moved-from") \
            and step.node is None:
        m.report.add(m.where, m.field("node"), f"until {step.what} needs `node:`")


def _variable(value: object) -> str:
    text = _text(value)
    if not re.fullmatch(r"[a-z][a-z0-9_]*", text):
        raise ValueError(f"{text!r} is not a variable name; use lowercase letters, digits"
                         " and '_', e.g. victim (then refer to it as $victim)")
    return text


def _selector(value: object, names: list[str], saved: set[str]) -> str:
    text = _text(value)
    if text in names or text in SELECTORS:
        return text
    if text.startswith("$"):
        if text[1:] in saved:
            return text
        raise ValueError(f"{text} is not set by an earlier step; add `as: {text[1:]}` to the"
                         " step that picks that node")
    raise ValueError(f"unknown node '{text}'; expected a node ({', '.join(names)}), one of "
                     f"{', '.join(SELECTORS)}, or a $variable set by `as:`")


def _groups(value: object, names: list[str], saved: set[str]) -> tuple[tuple[str, ...], ...]:
    example = "[[owner], [n2, n3]]"
    if not isinstance(value, list) or not value or \
            not all(isinstance(g, list) and g for g in value):
        raise ValueError(f"expected a list of node lists, e.g. {example}; got {describe(value)}")
    return tuple(tuple(_selector(n, names, saved) for n in g) for g in value)


def _read_expect(top: _Map, setup: Setup, steps: list[Step]) -> list[Expectation]:
    out: list[Expectation] = []
    raw = top.node.get("expect")
    if raw is None:
        top.require("expect", _text, "expect: [{outage: {after: fault, at_most: 2s}}]")
        return out
    if not isinstance(raw, list):
        top.reject("expect", f"expected a list of expectations; got {describe(raw)}")
        return out
    names = node_names(setup) + (["w1"] if setup.witness else [])
    saved = {s.save_as for s in steps if s.save_as}
    marks = {"start", "end", *(s.mark for s in steps)}
    for index, item in enumerate(raw):
        where = _lc_pos(raw, "item", index, top.at("expect"))
        path = f"expect[{index}]"
        if isinstance(item, str):
            item = {item: True}
        if not isinstance(item, dict) or len(item) != 1:
            top.report.add(where, path, "each expectation is one key, e.g. "
                           "`- outage: {after: fault, at_most: 2s}` or `- never_split`")
            continue
        m = _Map(top.report, item, path, tuple(EXPECTATIONS), _start(item, where))
        kind = str(next(iter(item)))
        if kind not in EXPECTATIONS:
            continue
        args = _expect_args(m, kind, names, saved, marks)
        if args is not None:
            out.append(Expectation(kind, args, where[0]))
    return out


def _expect_args(m: _Map, kind: str, names: list[str], saved: set[str],
                 marks: set[str]) -> dict[str, object] | None:
    required, optional = EXPECTATIONS[kind]
    raw = m.node[kind]
    if raw is True or raw is None:
        raw = {}
    if not isinstance(raw, dict):
        m.reject(kind, f"expected a mapping of {', '.join(required + optional) or 'nothing'}"
                 f"; got {describe(raw)}")
        return None
    a = _Map(m.report, raw, m.field(kind), required + optional,
             _start(raw, m.value_pos(kind)))
    args: dict[str, object] = {}
    parsers = {
        "at_most": _count if kind == "moves" else parse_duration,
        "after": _choice(sorted(marks), "mark"),
        "until": _choice(sorted(marks), "mark"), "resource": _resource_id,
        "at_least": _fraction, "node": lambda v: _node_ref(v, names, saved),
    }
    for key in required:
        value = a.require(key, parsers[key], f"{key}: ...")
        if value is None:
            return None
        args[key] = value
    for key in optional:
        if a.has(key):
            value = a.get(key, parsers[key], None)
            if value is None:
                return None
            args[key] = value
    return args


def _node_ref(value: object, names: list[str], saved: set[str]) -> str:
    """Expectations name a node or a `$variable`: selectors like `owner` change meaning
    during a drill, so a step must pin the node first (`as: victim`)."""
    text = _text(value)
    if text in SELECTORS:
        raise ValueError(f"'{text}' changes during a drill; pin it in the step that acts on "
                         f"it (`as: victim`) and write $victim here")
    return _selector(text, names, saved)


def _count(value: object) -> int:
    if is_bool(value) or not isinstance(value, int) or value < 0:
        raise ValueError(f"expected a whole number >= 0; got {describe(value)}")
    return int(value)


def _fraction(value: object) -> float:
    if is_bool(value) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ValueError(f"expected a fraction from 0 to 1, e.g. 0.9; got {describe(value)}")
    return float(value)
