"""What the node watchdog kills when it fires: every resource process named by a
pidfile in `<state_dir>/run/`.

Two kinds of pidfile live there:

- the built-in `process` agent's, `<pid> <create time> <start ticks>`: its process runs in
  its own session, so its process group is its pid. The group is killed when the pid
  still names that process (same start ticks in /proc/<pid>/stat) or when the pid is
  gone but members of the group live on (the kernel reuses no pid while a group of that
  number exists, so they are ours). A pid that now names another process is left alone.
- anything else (OCF agents get `HA_VARRUN=<state_dir>/run`, so `anything` and friends
  write plain pidfiles there): the first word is a pid; the process and its process
  group are killed if it is alive — unless it is the watchdog, the agent, or in one of
  their process groups.

Kill rounds repeat until nothing named is alive or `wait` runs out; whatever survives
SIGKILL (D state) is reported, and the watchdog then lets the kernel device reboot.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from vigil.agents.process import PidRecord, ProcStat, read_stat

KillFn = Callable[[int, int], None]
"""os.kill / os.killpg: (pid or pgid, signal)."""

KILL_WAIT = 2.0
"""How long kill rounds go on before survivors are reported."""
POLL = 0.005


class ProcTable:
    """Every process's stat, read in one pass over /proc."""

    def __init__(self, stats: dict[int, ProcStat]) -> None:
        self.stats = stats
        self.groups: dict[int, list[int]] = {}
        for pid, stat in sorted(stats.items()):
            if stat.alive:
                self.groups.setdefault(stat.pgrp, []).append(pid)

    @classmethod
    def read(cls) -> ProcTable:
        stats = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                stat = read_stat(int(entry))
                if stat is not None:
                    stats[int(entry)] = stat
        return cls(stats)

    def stat(self, pid: int) -> ProcStat | None:
        return self.stats.get(pid)


@dataclass(frozen=True)
class Target:
    pidfile: str
    pid: int | None
    """The process to SIGKILL itself, if alive."""
    group: int | None
    """The process group to SIGKILL, if any."""

    def alive(self, table: ProcTable) -> list[int]:
        """Live (non-zombie) processes of this target."""
        pids = set(table.groups.get(self.group, ())) if self.group is not None else set()
        if self.pid is not None:
            stat = table.stat(self.pid)
            if stat is not None and stat.alive:
                pids.add(self.pid)
        return sorted(pids)


@dataclass
class KillReport:
    killed: dict[str, list[int]] = field(default_factory=dict)
    """Pidfile name -> processes that got SIGKILL."""
    skipped: dict[str, str] = field(default_factory=dict)
    """Pidfile name -> why it was left alone."""
    survivors: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    duration: float = 0.0


def pidfiles(run_dir: Path) -> list[Path]:
    """`*.pid`, and `*.pid.tmp` (written just before it is renamed into place)."""
    try:
        names = sorted(p for p in run_dir.iterdir()
                       if p.name.endswith((".pid", ".pid.tmp")) and p.is_file())
    except FileNotFoundError:
        return []
    return names


def find_targets(run_dir: Path, protect: Iterable[int], table: ProcTable | None = None
                 ) -> tuple[list[Target], dict[str, str]]:
    """Pidfiles in `run_dir` that name something alive, and those left alone (why)."""
    table = table if table is not None else ProcTable.read()
    protected = {p for p in protect if p > 0}
    protected_groups = {os.getpgrp()}
    for pid in protected:
        stat = table.stat(pid)
        if stat is not None:
            protected_groups.add(stat.pgrp)
    targets: list[Target] = []
    skipped: dict[str, str] = {}
    for path in pidfiles(run_dir):
        try:
            text = path.read_text()
        except OSError as exc:
            skipped[path.name] = f"unreadable: {exc}"
            continue
        target, why = _target(path.name, text, table, protected, protected_groups)
        if target is not None and target.alive(table):
            targets.append(target)
        elif why:
            skipped[path.name] = why
    return targets, skipped


def _target(name: str, text: str, table: ProcTable, protected: set[int],
            protected_groups: set[int]) -> tuple[Target | None, str]:
    words = text.split()
    if len(words) == 3:
        try:
            record = PidRecord.from_text(text)
        except ValueError:
            pass
        else:
            stat = table.stat(record.pid)
            if stat is not None and stat.start_ticks != record.start_ticks:
                return None, f"pid {record.pid} now belongs to another process"
            pid = record.pid if stat is not None else None
            return Target(name, pid, record.pid if record.pid > 1 else None), ""
    try:
        pid = int(words[0]) if words else 0
    except ValueError:
        return None, f"no pid in {text[:40]!r}"
    if pid <= 1:
        return None, f"no usable pid in {text[:40]!r}"
    if pid in protected or pid == os.getpid():
        return None, f"pid {pid} is the watchdog or the agent"
    stat = table.stat(pid)
    if stat is None or not stat.alive:
        return None, ""
    if stat.pgrp == 0:
        return None, f"pid {pid} is a kernel thread"
    group = stat.pgrp if stat.pgrp > 1 and stat.pgrp not in protected_groups else None
    return Target(name, pid, group), ""


def kill_resources(run_dir: Path, protect: Iterable[int], *, kill: KillFn = os.kill,
                   killpg: KillFn = os.killpg, wait: float = KILL_WAIT,
                   clock: Callable[[], float] = time.monotonic) -> KillReport:
    """SIGKILL every resource process named in `run_dir`, in rounds until none is alive
    or `wait` has passed. Never raises for a process or a file."""
    protect = list(protect)
    began = clock()
    report = KillReport()
    denied: set[str] = set()
    while True:
        table = ProcTable.read()
        targets, skipped = find_targets(run_dir, protect, table)
        targets = [t for t in targets if t.pidfile not in denied]
        report.skipped.update({k: v for k, v in skipped.items() if k not in report.killed})
        if not targets:
            break
        if clock() - began > wait:
            report.survivors = sorted({p for t in targets for p in t.alive(table)})
            break
        for t in targets:
            seen = report.killed.setdefault(t.pidfile, [])
            seen.extend(p for p in t.alive(table) if p not in seen)
            if not _sigkill(t, kill, killpg, report):
                # Not ours to kill: resources run as us (or we are root).
                denied.add(t.pidfile)
                report.skipped[t.pidfile] = f"not permitted to kill {report.killed.pop(t.pidfile)}"
        time.sleep(POLL)
    report.duration = clock() - began
    return report


def _sigkill(t: Target, kill: KillFn, killpg: KillFn, report: KillReport) -> bool:
    """SIGKILL the target's group and pid; False if every attempt was refused (EPERM)."""
    refused = attempts = 0
    for fn, what, num in ((killpg, "group", t.group), (kill, "pid", t.pid)):
        if num is None:
            continue
        attempts += 1
        try:
            fn(num, signal.SIGKILL)
        except ProcessLookupError:
            pass
        except OSError as exc:
            refused += isinstance(exc, PermissionError)
            message = f"SIGKILL to {what} {num} ({t.pidfile}): {exc}"
            if message not in report.errors:
                report.errors.append(message)
    return refused < attempts
