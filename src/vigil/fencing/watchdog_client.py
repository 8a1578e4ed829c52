"""The agent's side of the node watchdog: start (or reuse) it, feed it, disarm it.

The watchdog (`python -m vigil.fencing.watchdog`) runs in its own session so it outlives
the agent; one per node state directory, found through `<state_dir>/watchdog.pid`
(`<pid> <create time> <start ticks>`, like the process agent's pidfiles). Messages go as
datagrams to `<state_dir>/watchdog.sock`; sending never blocks and never raises into the
agent's loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vigil.agents.process import PidRecord
from vigil.fencing.watchdog_policy import feed_message

log = logging.getLogger("vigil.watchdog")

MODULE = "vigil.fencing.watchdog"
UNIX_PATH_MAX = 107
"""Longest AF_UNIX path (sun_path is 108 bytes with its terminating NUL)."""


@dataclass(frozen=True)
class WatchdogPaths:
    state_dir: Path

    @property
    def socket(self) -> Path:
        return self.state_dir / "watchdog.sock"

    @property
    def pidfile(self) -> Path:
        return self.state_dir / "watchdog.pid"

    @property
    def record(self) -> Path:
        """Written each time the watchdog fires (the last firing)."""
        return self.state_dir / "watchdog-fired.json"

    @property
    def log(self) -> Path:
        return self.state_dir / "watchdog.log"

    @property
    def run_dir(self) -> Path:
        return self.state_dir / "run"


def unix_address(path: Path) -> tuple[str, int | None]:
    """An AF_UNIX address for `path`; a long path goes through an open directory fd
    (`/proc/self/fd/<fd>/<name>`), returned so the caller can close it."""
    if len(os.fsencode(str(path))) <= UNIX_PATH_MAX:
        return str(path), None
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    return f"/proc/self/fd/{fd}/{path.name}", fd


def live_watchdog(paths: WatchdogPaths) -> int | None:
    """The pid of the live watchdog of this state dir, if any (identity-checked)."""
    try:
        record = PidRecord.from_text(paths.pidfile.read_text())
    except (OSError, ValueError):
        return None
    stat = record.stat_if_ours()
    return record.pid if stat is not None and stat.alive else None


class WatchdogError(Exception):
    pass


class WatchdogClient:
    """The node agent's handle on its watchdog."""

    def __init__(self, state_dir: Path, timeout: float, device: str = "") -> None:
        self.paths = WatchdogPaths(state_dir.absolute())
        self.timeout = timeout
        self.device = device
        self._sock: socket.socket | None = None
        self._address: str | None = None
        self._dir_fd: int | None = None
        self._child: subprocess.Popen[bytes] | None = None
        self._failing = False

    def running_pid(self) -> int | None:
        return live_watchdog(self.paths)

    async def ensure_running(self, wait: float = 10.0) -> int:
        """Start the watchdog, or reuse the live one (telling it our timeout); return its
        pid once it listens. WatchdogError if it cannot start (the log tail says why)."""
        pid = self.running_pid()
        if pid is not None:
            log.info("reusing the node watchdog (pid %d)", pid)
            self._send(f"timeout {self.timeout!r}")
            return pid
        self.paths.state_dir.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", MODULE, "--state-dir", str(self.paths.state_dir),
                   "--timeout", repr(self.timeout)]
        if self.device:
            command += ["--device", self.device]
        with self.paths.log.open("ab") as out:
            since = out.seek(0, os.SEEK_END)
            child = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                cwd="/", env=_environment(), start_new_session=True, close_fds=True)
        self._child = child
        deadline = time.monotonic() + wait
        while True:
            pid = self.running_pid()
            if pid is not None and self.paths.socket.exists():
                if pid != child.pid:  # another starter won the race: ours exited
                    self._send(f"timeout {self.timeout!r}")
                log.info("node watchdog running (pid %d, timeout %gs%s)", pid, self.timeout,
                         f", device {self.device}" if self.device else "")
                return pid
            status = child.poll()
            if status not in (None, 0):
                raise WatchdogError(
                    f"the watchdog exited with status {status}: {self._log_tail(since)}")
            if time.monotonic() > deadline:
                if child.poll() is None:
                    child.kill()
                    child.wait()
                raise WatchdogError(
                    f"the watchdog did not start within {wait:g}s: {self._log_tail(since)}")
            await asyncio.sleep(0.01)

    def feed(self, deadline: float) -> bool:
        """Resources may run until `deadline` (time.monotonic()). False if not delivered."""
        return self._send(feed_message(deadline))

    def disarm(self) -> bool:
        """Nothing runs (or may run) on this node: the watchdog must not fire."""
        return self._send("disarm")

    async def stop(self, wait: float = 5.0) -> bool:
        """Tell the watchdog to exit and wait until it has. An armed watchdog fires
        before it exits: disarm it first after stopping the resources."""
        pid = self.running_pid()
        if pid is not None:
            self._send("exit")
            deadline = time.monotonic() + wait
            while self.running_pid() is not None and time.monotonic() < deadline:
                self._reap()
                await asyncio.sleep(0.01)
        self._reap()
        gone = self.running_pid() is None
        if not gone:
            log.warning("the node watchdog (pid %s) did not exit within %gs", pid, wait)
        self.close()
        return gone

    def fired(self) -> dict[str, Any] | None:
        """The record of the watchdog's last firing, if any."""
        try:
            data = json.loads(self.paths.record.read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def close(self) -> None:
        """Release the client's socket (the watchdog keeps running)."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._dir_fd is not None:
            os.close(self._dir_fd)
            self._dir_fd = None
        self._address = None

    # -- internals

    def _send(self, text: str) -> bool:
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._sock.setblocking(False)
            if self._address is None:
                self._address, self._dir_fd = unix_address(self.paths.socket)
            self._sock.sendto(text.encode(), self._address)
        except OSError as exc:
            # ENOENT/ECONNREFUSED: no watchdog; EAGAIN: it does not read (frozen).
            level = logging.DEBUG if self._failing else logging.WARNING
            log.log(level, "cannot reach the node watchdog at %s (%s): %r not delivered",
                    self.paths.socket, exc.strerror or exc, text)
            self._failing = True
            return False
        if self._failing:
            log.info("node watchdog reachable again")
            self._failing = False
        return True

    def _reap(self) -> None:
        if self._child is not None and self._child.poll() is not None:
            self._child = None

    def _log_tail(self, since: int) -> str:
        try:
            with self.paths.log.open("rb") as f:
                f.seek(since)
                text = f.read()[-2000:].decode(errors="replace").strip()
        except OSError:
            text = ""
        return text or f"(nothing in {self.paths.log})"


def _environment() -> dict[str, str]:
    """The agent's environment (the lab tags a node's processes through it), plus the
    directory vigil is imported from, so `-m` finds it however the agent was started."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    paths = env.get("PYTHONPATH", "").split(os.pathsep) if env.get("PYTHONPATH") else []
    if root not in paths:
        env["PYTHONPATH"] = os.pathsep.join([root, *paths])
    return env
