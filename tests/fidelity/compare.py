"""Reading crm_simulate's summary lines back into `Change`s, and vigil's side of a case."""

from __future__ import annotations

import re
from pathlib import Path

from crm import what_if_args

from vigil.cli.simulate_cmds import what_if
from vigil.model.cib import import_cib_file
from vigil.scheduler import schedule
from vigil.scheduler.summary import (
    Change,
    Fence,
    apply_transition,
    format_summary,
    status_lines,
    summarize,
)

_RSC_LINE = re.compile(r"  \* (\S+)\s+(\S+)\s+\(\s*(.*?)\s*\)(?:  (.*))?")
_FENCE_LINE = re.compile(r"  \* Fence \((\w+)\) (\S+) '(.*)'")


def parse_summary(lines: list[str]) -> tuple[list[Fence], list[Change]]:
    fences: list[Fence] = []
    changes: list[Change] = []
    for line in lines:
        m = _FENCE_LINE.fullmatch(line)
        if m:
            fences.append(Fence(m.group(2), m.group(3), m.group(1)))
            continue
        m = _RSC_LINE.fullmatch(line)
        if m is None:
            raise ValueError(f"not a Transition Summary line: {line!r}")
        tail = m.group(4) or ""
        blocked = tail.endswith("(blocked)") or tail == "blocked"
        reason = tail.removeprefix("due to ").removesuffix(" (blocked)")
        reason = "" if reason == "blocked" else reason
        changes.append(Change(m.group(1), m.group(2), m.group(3), reason, blocked))
    return fences, changes


def stonith_ids(cib: Path) -> set[str]:
    text = cib.read_text()
    return set(re.findall(r'<primitive id="([^"]+)" class="stonith"', text))


def expected_for_vigil(cib: Path, golden: list[str]) -> list[str]:
    """crm_simulate's lines without its stonith resources (vigil's fence devices are not
    resources; docs/pacemaker.md), laid out again as crm_simulate would lay them out."""
    fences, changes = parse_summary(golden)
    skip = stonith_ids(cib)
    return format_summary(fences, [c for c in changes if c.resource not in skip])


_OPTION = {"--node-down": "node_down", "--node-up": "node_up", "--node-fail": "node_fail",
           "--op-inject": "op_fail"}


def vigil_summary(cib: Path) -> list[str]:
    return vigil_run(cib)[0]


def vigil_run(cib: Path) -> tuple[list[str], list[str]]:
    """vigil's Transition Summary and its revised status (every action succeeded)."""
    imported = import_cib_file(cib, now=1_800_000_000.0)
    args = what_if_args(cib)
    changes: dict[str, tuple[str, ...]] = {}
    for option, value in zip(args[::2], args[1::2], strict=True):
        key = _OPTION[option]
        changes[key] = (*changes.get(key, ()), value)
    state = what_if(imported.config, imported.state, **changes)
    transition = schedule(imported.config, state)
    after = apply_transition(state, transition, imported.config)
    return (summarize(imported.config, state, transition),
            status_lines(imported.config, after))


def vigil_status(cib: Path) -> list[str]:
    imported = import_cib_file(cib, now=1_800_000_000.0)
    return status_lines(imported.config, imported.state)


def expected_status(golden: list[str]) -> list[str]:
    """crm_simulate's status without stonith resources (not resources in vigil)."""
    return [line for line in golden if "\t(stonith:" not in line]
