"""The built-in `process` agent: one long-running command, run with `/bin/sh -c`.

Parameters: `command` (required), `cwd` (default /), `env` ("K=V K2='v 2'"),
`stop_signal` (default TERM), `start_wait` (seconds the process must stay up before
start succeeds, default 0.2).

All state lives on disk, so an agent that restarts adopts what it started:

- the process runs in its own session (process group = its pid), detached from vigil,
  with stdout/stderr appended to `<state_dir>/log/<rid>.log`;
- `<run_dir>/<rid>.pid` records its pid, its start time in clock ticks since boot
  (from /proc, immune to wall-clock steps) and its psutil create time (for people).
  A pid whose start time differs is someone else's process that reuses the number.

The node agent is the parent until it restarts, so monitor and stop reap it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
import subprocess
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import psutil

from vigil.agents.base import (
    BUILTIN_ACTIONS_XML,
    NodeContext,
    OcfRc,
    OpResult,
    ResourceAgent,
)
from vigil.agents.subprocess_run import clean_environment, tail_text
from vigil.model.config import Resource

SHELL = "/bin/sh"
POLL = 0.02
LOG_TAIL_BYTES = 2048
DEFAULT_START_WAIT = 0.2

_children: dict[int, subprocess.Popen[bytes]] = {}
"""Processes this agent process forked, kept so they can be reaped (and no Popen is
garbage-collected while its child runs) until their pidfile is removed."""


# --- parameters ---------------------------------------------------------------------


@dataclass(frozen=True)
class ProcessParams:
    command: str
    cwd: str = "/"
    env: dict[str, str] = field(default_factory=dict)
    stop_signal: signal.Signals = signal.SIGTERM
    start_wait: float = DEFAULT_START_WAIT


def parse_signal(text: str) -> signal.Signals:
    """'TERM', 'SIGTERM', 'term' or '15' -> signal.SIGTERM; ValueError otherwise."""
    name = text.strip().upper()
    if name.isdigit():
        return signal.Signals(int(name))
    if not name.startswith("SIG"):
        name = "SIG" + name
    try:
        return signal.Signals[name]
    except KeyError:
        raise ValueError(f"unknown signal {text!r}") from None


def parse_env(text: str) -> dict[str, str]:
    """'K=V K2="v 2"' -> {'K': 'V', 'K2': 'v 2'} (shell-style quoting)."""
    env: dict[str, str] = {}
    for word in shlex.split(text):
        name, sep, value = word.partition("=")
        if not sep or not name.isidentifier():
            raise ValueError(f"env: {word!r} is not NAME=VALUE")
        env[name] = value
    return env


def parse_params(params: dict[str, str]) -> ProcessParams:
    """Validate the resource's parameters; ValueError names the first bad one."""
    known = {"command", "cwd", "env", "stop_signal", "start_wait"}
    unknown = sorted(set(params) - known)
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)}; known: {sorted(known)}")
    command = params.get("command", "").strip()
    if not command:
        raise ValueError("parameter 'command' is required")
    try:
        stop_signal = parse_signal(params.get("stop_signal", "TERM"))
    except ValueError as exc:
        raise ValueError(f"stop_signal: {exc}") from None
    try:
        start_wait = float(params.get("start_wait", DEFAULT_START_WAIT))
    except ValueError:
        raise ValueError(f"start_wait: {params['start_wait']!r} is not a number") from None
    if not 0 <= start_wait < 3600:
        raise ValueError(f"start_wait: {start_wait} is out of range [0, 3600)")
    return ProcessParams(
        command=command,
        cwd=params.get("cwd") or "/",
        env=parse_env(params.get("env", "")),
        stop_signal=stop_signal,
        start_wait=start_wait,
    )


# --- /proc ------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcStat:
    state: str
    """R, S, D, Z (zombie), X (dead), T, ..."""
    pgrp: int
    start_ticks: int
    """Start time in clock ticks after boot (field 22 of /proc/<pid>/stat)."""

    @property
    def alive(self) -> bool:
        return self.state not in ("Z", "X", "x")


def parse_stat(text: str) -> ProcStat:
    """Parse /proc/<pid>/stat; comm (field 2) may contain spaces and parentheses."""
    rest = text[text.rindex(")") + 2 :].split()
    # rest[0] is field 3 (state); field N is rest[N - 3].
    return ProcStat(state=rest[0], pgrp=int(rest[2]), start_ticks=int(rest[19]))


def read_stat(pid: int) -> ProcStat | None:
    try:
        return parse_stat(Path(f"/proc/{pid}/stat").read_text())
    except (OSError, ValueError, IndexError):
        return None


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes whose process group is `pgid`."""
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = read_stat(int(entry))
            if stat is not None and stat.pgrp == pgid and stat.alive:
                members.append(int(entry))
    return members


# --- pidfile ----------------------------------------------------------------------


@dataclass(frozen=True)
class PidRecord:
    """One line, `<pid> <create time> <start ticks>`: the first word is the pid, as
    tools that read pidfiles expect."""

    pid: int
    create_time: float
    """psutil's create time (seconds since the epoch), for people: it moves when the
    wall clock is stepped, so identity is decided by `start_ticks`."""
    start_ticks: int
    """Start time in clock ticks after boot, from /proc/<pid>/stat."""

    def to_text(self) -> str:
        return f"{self.pid} {self.create_time!r} {self.start_ticks}\n"

    @classmethod
    def from_text(cls, text: str) -> PidRecord:
        words = text.split()
        if len(words) != 3:
            raise ValueError(f"expected '<pid> <create time> <start ticks>', got {text!r}")
        return cls(pid=int(words[0]), create_time=float(words[1]), start_ticks=int(words[2]))

    def stat_if_ours(self) -> ProcStat | None:
        """The process's stat if the pid still names the process we started."""
        stat = read_stat(self.pid)
        return stat if stat is not None and stat.start_ticks == self.start_ticks else None


class CorruptPidfile(Exception):
    pass


def _reap(pid: int) -> int | None:
    """Reap `pid` if this process started it and it exited; its exit status when known.

    Only children registered in `_children` are waited for: anything else with that pid
    is not ours to reap (an adopted process's parent is init; a pid may also have been
    reused by a child of asyncio's watcher).
    """
    child = _children.get(pid)
    return child.poll() if child is not None else None  # kept, to tell later how it ended


def _has_exited(pid: int) -> bool:
    """Whether our child `pid` has exited, without reaping it (WNOWAIT)."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _describe_exit(status: int | None) -> str:
    if status is None:
        return "exited"
    if status < 0:
        try:
            return f"was killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"was killed by signal {-status}"
    return f"exited with status {status}"


# --- the agent --------------------------------------------------------------------


class ProcessAgent(ResourceAgent):
    def __init__(self, resource: Resource, ctx: NodeContext) -> None:
        self.resource = resource
        self.ctx = ctx

    @property
    def rid(self) -> str:
        return self.resource.id

    @property
    def pidfile(self) -> Path:
        return self.ctx.run_dir / f"{self.rid}.pid"

    @property
    def logfile(self) -> Path:
        return self.ctx.state_dir / "log" / f"{self.rid}.log"

    async def run(self, op: str, timeout: float, interval: float = 0.0) -> OpResult:
        began = time.monotonic()
        try:
            if op in ("monitor", "probe"):
                rc, text = self._monitor()
                op = "monitor"
            elif op == "start":
                rc, text = await self._start(timeout)
            elif op == "stop":
                rc, text = await self._stop(timeout)
            elif op == "validate-all":
                rc, text = self._validate()
            elif op == "meta-data":
                rc, text = OcfRc.SUCCESS, META_DATA
            else:
                rc, text = OcfRc.ERR_UNIMPLEMENTED, f"process agent has no action {op!r}"
        except CorruptPidfile as exc:
            rc, text = OcfRc.ERR_GENERIC, str(exc)
        except OSError as exc:
            rc, text = OcfRc.ERR_GENERIC, f"{op} of {self.rid}: {exc}"
        return OpResult(op, int(rc), text, time.monotonic() - began)

    # -- helpers

    def _read_pidfile(self) -> PidRecord | None:
        try:
            text = self.pidfile.read_text()
        except FileNotFoundError:
            return None
        try:
            return PidRecord.from_text(text)
        except ValueError as exc:
            raise CorruptPidfile(
                f"pidfile {self.pidfile} is unreadable ({exc}); check that no instance of "
                f"{self.rid} runs, then remove it"
            ) from None

    def _remove_pidfile(self, record: PidRecord) -> None:
        self.pidfile.unlink(missing_ok=True)
        _children.pop(record.pid, None)

    def _write_pidfile(self, record: PidRecord) -> None:
        tmp = self.pidfile.with_name(self.pidfile.name + ".tmp")
        tmp.write_text(record.to_text())
        os.replace(tmp, self.pidfile)

    def _log_tail(self, since: int = 0) -> str:
        try:
            with self.logfile.open("rb") as f:
                size = f.seek(0, os.SEEK_END)
                f.seek(max(since, size - LOG_TAIL_BYTES - 1))
                return tail_text(f.read(), LOG_TAIL_BYTES)
        except OSError:
            return ""

    def _validate(self) -> tuple[int, str]:
        try:
            params = parse_params(dict(self.resource.params))
        except ValueError as exc:
            return OcfRc.ERR_CONFIGURED, str(exc)
        if not Path(params.cwd).is_dir():
            return OcfRc.ERR_INSTALLED, f"cwd {params.cwd} is not a directory"
        if not os.access(SHELL, os.X_OK):
            return OcfRc.ERR_INSTALLED, f"{SHELL} is not executable"
        return OcfRc.SUCCESS, ""

    # -- monitor

    def _monitor(self) -> tuple[int, str]:
        record = self._read_pidfile()
        if record is None:
            return OcfRc.NOT_RUNNING, "not running"
        status = _reap(record.pid)
        stat = record.stat_if_ours()
        if stat is not None and stat.alive:
            return OcfRc.SUCCESS, f"running (pid {record.pid})"
        if stat is None and read_stat(record.pid) is not None:
            why = f"process {record.pid} is gone (its pid now belongs to another process)"
        else:
            why = f"process {record.pid} {_describe_exit(status)}"
        tail = self._log_tail()
        text = f"{tail.rstrip()}\n{why}" if tail.strip() else why
        return OcfRc.NOT_RUNNING, text

    # -- start

    async def _start(self, timeout: float) -> tuple[int, str]:
        rc, text = self._validate()
        if rc != OcfRc.SUCCESS:
            return rc, text
        params = parse_params(dict(self.resource.params))
        previous = self._read_pidfile()
        if previous is not None:
            _reap(previous.pid)
            stat = previous.stat_if_ours()
            if stat is not None and stat.alive:
                return OcfRc.SUCCESS, f"already running (pid {previous.pid})"
            _children.pop(previous.pid, None)  # a dead instance: start afresh

        self.ctx.run_dir.mkdir(parents=True, exist_ok=True)
        self.logfile.parent.mkdir(parents=True, exist_ok=True)
        env = clean_environment(("LANG", "LC_ALL", "LC_CTYPE"))
        env.update({"VIGIL_RESOURCE": self.rid, "VIGIL_NODE": self.ctx.node})
        env.update(params.env)
        with self.logfile.open("ab") as log:
            since = log.seek(0, os.SEEK_END)
            stamp = datetime.now().astimezone().isoformat(timespec="seconds")
            log.write(f"--- vigil {stamp}: starting {self.rid}: {params.command}\n".encode())
            log.flush()
            child = subprocess.Popen(
                [SHELL, "-c", params.command],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=params.cwd,
                env=env,
                start_new_session=True,
                close_fds=True,
            )
        _children[child.pid] = child
        # Not reaped yet, so /proc/<pid> exists even if the command already exited.
        stat = read_stat(child.pid)
        try:
            create_time = float(psutil.Process(child.pid).create_time())
        except psutil.Error:
            create_time = time.time()
        record = PidRecord(
            pid=child.pid,
            create_time=create_time,
            start_ticks=stat.start_ticks if stat is not None else -1,
        )
        self._write_pidfile(record)

        deadline = time.monotonic() + min(params.start_wait, 0.8 * timeout)
        while not _has_exited(child.pid) and time.monotonic() < deadline:
            await asyncio.sleep(min(POLL, max(0.0, deadline - time.monotonic())))
        if not _has_exited(child.pid):
            return OcfRc.SUCCESS, f"started (pid {child.pid})"

        # Exited within start_wait: a failed start. Leave nothing behind: kill what is
        # left of its group while the unreaped zombie still pins the group's number.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signal.SIGKILL)
        status = child.wait()
        self._remove_pidfile(record)
        why = (
            f"{self.rid}: command {_describe_exit(status)} within "
            f"{params.start_wait:g}s of starting (log {self.logfile})"
        )
        tail = self._log_tail(since)
        return OcfRc.ERR_GENERIC, f"{tail.rstrip()}\n{why}" if tail.strip() else why

    # -- stop

    def _gone(self, record: PidRecord) -> bool:
        _reap(record.pid)
        stat = record.stat_if_ours()
        main_alive = stat is not None and stat.alive
        return not main_alive and not group_members(record.pid)

    def _signal(self, record: PidRecord, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(record.pid, sig)
        stat = record.stat_if_ours()
        if stat is not None and stat.alive and stat.pgrp != record.pid:
            # The command left its process group (setsid); signal it directly too.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(record.pid, sig)

    async def _wait_gone(self, record: PidRecord, deadline: float) -> bool:
        while not self._gone(record):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            await asyncio.sleep(min(POLL, remaining))
        return True

    async def _stop(self, timeout: float) -> tuple[int, str]:
        begin = time.monotonic()
        record = self._read_pidfile()
        if record is None:
            return OcfRc.SUCCESS, "not running"
        _reap(record.pid)
        if record.stat_if_ours() is None and read_stat(record.pid) is not None:
            # The pid (and maybe a group of that number) belongs to another process now;
            # ours is long gone. The kernel does not reuse a pid while a process group of
            # that number exists, so there can be no leftovers of ours either.
            self._remove_pidfile(record)
            return OcfRc.SUCCESS, f"process {record.pid} was already gone"
        if self._gone(record):
            self._remove_pidfile(record)
            return OcfRc.SUCCESS, f"process {record.pid} was already gone"

        try:
            params = parse_params(dict(self.resource.params))
            stop_signal = params.stop_signal
        except ValueError:
            stop_signal = signal.SIGTERM
        grace = min(2.0, 0.25 * timeout)
        self._signal(record, stop_signal)
        if await self._wait_gone(record, begin + timeout - grace):
            how = f"stopped pid {record.pid} with {stop_signal.name}"
        else:
            self._signal(record, signal.SIGKILL)
            if not await self._wait_gone(record, begin + timeout):
                left = [p for p in [record.pid, *group_members(record.pid)] if read_stat(p)]
                return OcfRc.ERR_GENERIC, (
                    f"{self.rid}: processes {sorted(set(left))} still alive after SIGKILL"
                )
            how = (
                f"stopped pid {record.pid} with SIGKILL: it ignored {stop_signal.name} "
                f"for {timeout - grace:.1f}s"
            )
        self._remove_pidfile(record)
        return OcfRc.SUCCESS, f"{how} after {time.monotonic() - begin:.2f}s"


META_DATA = """<?xml version="1.0"?>
<resource-agent name="process" version="1.0">
  <version>1.1</version>
  <shortdesc lang="en">A long-running command (vigil built-in)</shortdesc>
  <longdesc lang="en">Runs a command with /bin/sh -c in its own session, logs its output
to the node's log directory and tracks it with a pidfile that survives agent restarts.
</longdesc>
  <parameters>
    <parameter name="command" required="1">
      <shortdesc lang="en">Command line, run with /bin/sh -c</shortdesc>
      <content type="string"/>
    </parameter>
    <parameter name="cwd">
      <shortdesc lang="en">Working directory</shortdesc>
      <content type="string" default="/"/>
    </parameter>
    <parameter name="env">
      <shortdesc lang="en">Extra environment, NAME=VALUE words (shell quoting)</shortdesc>
      <content type="string" default=""/>
    </parameter>
    <parameter name="stop_signal">
      <shortdesc lang="en">Signal sent to the process group to stop it</shortdesc>
      <content type="string" default="TERM"/>
    </parameter>
    <parameter name="start_wait">
      <shortdesc lang="en">Seconds the process must stay up for start to succeed</shortdesc>
      <content type="string" default="0.2"/>
    </parameter>
  </parameters>
""" + BUILTIN_ACTIONS_XML
