"""The node watchdog process: self-fencing when the agent dies, hangs or loses its lease.

    python -m vigil.fencing.watchdog --state-dir D [--timeout S] [--device PATH]

A small process in its own session (it outlives the agent) that kills the node's
resource processes (`watchdog_kill`) when the agent stops feeding it or its lease view
ends (`watchdog_policy`), records why in `<state_dir>/watchdog-fired.json`, and — with a
kernel watchdog device — lets the machine reboot when a kill fails. One per state dir:
it holds an exclusive lock on `<state_dir>/watchdog.pid` for its whole life. SIGINT and
SIGHUP are ignored; SIGTERM (like the `exit` message) makes an armed watchdog fire first.

The agent's side is `WatchdogClient` (re-exported here).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import logging
import math
import os
import select
import signal
import socket
import struct
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from types import FrameType

import psutil

from vigil.agents.process import PidRecord, read_stat
from vigil.fencing.watchdog_client import (
    WatchdogClient,
    WatchdogError,
    WatchdogPaths,
    live_watchdog,
    unix_address,
)
from vigil.fencing.watchdog_device import KernelDevice
from vigil.fencing.watchdog_kill import KILL_WAIT, KillFn, kill_resources
from vigil.fencing.watchdog_policy import (
    Action,
    Event,
    Exit,
    Feed,
    Fire,
    Fired,
    Ping,
    Quit,
    SetTimeout,
    StopPinging,
    Tick,
    WatchdogState,
    parse_message,
    step,
)

__all__ = ["KernelDevice", "Watchdog", "WatchdogClient", "WatchdogError", "main"]

log = logging.getLogger("vigil.watchdog")

IDLE = 1.0
"""Longest sleep without messages (seconds)."""
LOCK_WAIT = 1.0
"""How long a starting watchdog waits for the pidfile lock (its predecessor may be
exiting); then another watchdog guards the state dir and this one exits."""
MAX_PROTECTED = 16
_UCRED = struct.Struct("3i")


class Watchdog:
    """The watchdog process's shell around `watchdog_policy.step`."""

    def __init__(self, state_dir: Path, timeout: float, device: str = "", *,
                 kill: KillFn = os.kill, killpg: KillFn = os.killpg,
                 kill_wait: float = KILL_WAIT,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.paths = WatchdogPaths(state_dir.absolute())
        self.device = KernelDevice(device, math.ceil(timeout)) if device else None
        self.state = WatchdogState(timeout)
        self.kill, self.killpg, self.kill_wait, self.clock = kill, killpg, kill_wait, clock
        self.protect: dict[int, None] = {os.getppid(): None}
        """The agent (our parent at start, then whoever feeds us): never killed."""
        self.done = False
        self.magic_close = True
        self.firing = False
        self.sock: socket.socket | None = None
        self._lock_fd: int | None = None
        self._dir_fd: int | None = None
        self._terminate = False

    # -- life

    def start(self) -> bool:
        """Lock the pidfile, listen, open the device, then write the pidfile (ready).
        False if another watchdog guards this state dir; OSError if something fails."""
        self.paths.state_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.paths.pidfile, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        give_up = time.monotonic() + LOCK_WAIT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > give_up:
                    os.close(fd)
                    return False
                time.sleep(0.02)
        self._lock_fd = fd
        self.paths.socket.unlink(missing_ok=True)
        address, self._dir_fd = unix_address(self.paths.socket)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        sock.bind(address)
        os.chmod(address, 0o600)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        sock.setblocking(False)
        self.sock = sock
        if self.device is not None:
            self.device.open()
            self.state = WatchdogState(self.state.timeout, self.device.ping_interval)
        me = os.getpid()
        own = read_stat(me)
        record = PidRecord(me, float(psutil.Process(me).create_time()),
                           own.start_ticks if own is not None else -1)
        os.ftruncate(fd, 0)
        os.pwrite(fd, record.to_text().encode(), 0)
        log.info("guarding %s (timeout %gs%s), disarmed", self.paths.state_dir,
                 self.state.timeout, f", device {self.device.path}" if self.device else "")
        return True

    def close(self) -> None:
        if self.device is not None:
            self.device.close(self.magic_close and not self.state.doomed)
        if self.sock is not None:
            self.sock.close()
            self.sock = None
            self.paths.socket.unlink(missing_ok=True)
        if self._dir_fd is not None:
            os.close(self._dir_fd)
            self._dir_fd = None
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._lock_fd, 0)
            os.close(self._lock_fd)
            self._lock_fd = None

    def run(self) -> int:
        assert self.sock is not None, "start() first"
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        signal.signal(signal.SIGTERM, self._on_sigterm)
        sock_fd = self.sock.fileno()
        try:
            self.handle(Tick())
            while not self.done:
                now = self.clock()
                wake = self.state.next_wake(now)
                wait = IDLE if wake is None else min(IDLE, max(0.0, wake - now))
                ready, _, _ = select.select([sock_fd, wake_r], [], [], wait)
                if wake_r in ready:
                    with contextlib.suppress(OSError):
                        os.read(wake_r, 512)
                if self._terminate:
                    self.handle(Exit("SIGTERM"))
                    continue
                if sock_fd in ready:
                    self._receive()
                if not self.done:
                    self.handle(Tick())
        finally:
            signal.set_wakeup_fd(-1)
            os.close(wake_r)
            os.close(wake_w)
        log.info("exiting")
        return 0

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        self._terminate = True

    # -- events and actions

    def handle(self, event: Event) -> None:
        was_armed = self.state.armed
        self.state, actions = step(self.state, event, self.clock())
        if isinstance(event, Feed) and not was_armed and self.state.armed:
            log.info("armed: resources may run for %.2fs (lease view), %gs without a feed",
                     event.deadline - self.clock(), self.state.timeout)
        elif was_armed and not self.state.armed and not self.state.exiting and not any(
                isinstance(a, Fire) for a in actions):
            log.info("disarmed")
        for action in actions:
            self._perform(action)

    def _perform(self, action: Action) -> None:
        if isinstance(action, Fire):
            self._fire(action.reason)
        elif isinstance(action, Ping):
            if self.device is not None:
                self.device.ping()
        elif isinstance(action, StopPinging):
            where = self.device.path if self.device else "the device"
            log.critical("%s: no more pings; the kernel reboots the machine within %ss",
                         where, self.device.timeout if self.device else "?")
        elif isinstance(action, Quit):
            self.done = True
            self.magic_close = action.magic_close

    def _fire(self, reason: str) -> None:
        now, wall = self.clock(), time.time()
        due = min(self.state.deadline, self.state.last_feed + self.state.timeout)
        due = now if self.state.exiting or not math.isfinite(due) else min(due, now)
        log.warning("firing: %s", reason)
        self.firing = True
        report = kill_resources(self.paths.run_dir, list(self.protect), kill=self.kill,
                                killpg=self.killpg, wait=self.kill_wait, clock=self.clock)
        self.firing = False
        self.handle(Fired(len(report.survivors)))
        killed = ", ".join(f"{name} {pids}" for name, pids in report.killed.items())
        log.warning("fired (%s): killed %s in %.3fs%s", reason, killed or "nothing",
                    report.duration,
                    f"; STILL ALIVE: {report.survivors}" if report.survivors else "")
        for line in report.errors:
            log.error("%s", line)
        device = "none"
        if self.device is not None:
            device = "stopped pinging" if self.state.doomed else "pinging"
        record = {
            "time": datetime.fromtimestamp(wall).astimezone().isoformat(timespec="milliseconds"),
            "unix_time": wall,
            "monotonic": now,
            "due": due,
            "late": now - due,
            "reason": reason,
            "watchdog_pid": os.getpid(),
            "killed": report.killed,
            "skipped": report.skipped,
            "survivors": report.survivors,
            "errors": report.errors,
            "kill_duration": report.duration,
            "device": device,
            "fires": self.state.fires,
        }
        tmp = self.paths.record.with_name(self.paths.record.name + ".tmp")
        try:
            tmp.write_text(json.dumps(record, indent=2) + "\n")
            os.replace(tmp, self.paths.record)
        except OSError as exc:
            log.error("cannot write %s: %s", self.paths.record, exc)

    def _receive(self) -> None:
        assert self.sock is not None
        while not self.done:
            try:
                data, ancillary, _, _ = self.sock.recvmsg(512, socket.CMSG_SPACE(_UCRED.size))
            except (BlockingIOError, InterruptedError):
                return
            sender = _sender(ancillary)
            if sender is not None:
                pid, uid = sender
                if uid not in (0, os.getuid()):
                    log.warning("ignoring a message from uid %d (pid %d)", uid, pid)
                    continue
                self.protect.pop(pid, None)
                self.protect[pid] = None
                while len(self.protect) > MAX_PROTECTED:
                    del self.protect[next(iter(self.protect))]
            try:
                event = parse_message(data.decode(errors="replace"))
            except ValueError as exc:
                log.warning("ignoring a message: %s", exc)
                continue
            if isinstance(event, SetTimeout) and event.timeout != self.state.timeout:
                log.info("timeout now %gs (was %gs)", event.timeout, self.state.timeout)
            self.handle(event)


def _sender(ancillary: list[tuple[int, int, bytes]]) -> tuple[int, int] | None:
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid, uid, _gid = _UCRED.unpack(data[: _UCRED.size])
            return pid, uid
    return None


def _harden() -> None:
    """Best effort: the OOM killer should pick anything but the watchdog."""
    with contextlib.suppress(OSError):
        Path("/proc/self/oom_score_adj").write_text("-1000\n")


def main(argv: Sequence[str] | None = None) -> int:
    for sig in (signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    parser = argparse.ArgumentParser(
        prog="python -m vigil.fencing.watchdog",
        description="Kill the node's resources when the vigil agent stops feeding.")
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--timeout", type=float, default=2.0,
                        help="fire after this many seconds without a feed (default 2)")
    parser.add_argument("--device", default="", help="kernel watchdog, e.g. /dev/watchdog")
    parser.add_argument("--kill-wait", type=float, default=KILL_WAIT,
                        help="how long kill rounds go on before giving up (default 2)")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr,
        format="%(asctime)s vigil-watchdog[%(process)d] %(levelname)s %(message)s")
    if not (args.timeout > 0 and math.isfinite(args.timeout)):
        parser.error(f"--timeout {args.timeout} is not a positive number")
    watchdog = Watchdog(args.state_dir, args.timeout, args.device, kill_wait=args.kill_wait)
    try:
        if not watchdog.start():
            log.info("another watchdog (pid %s) guards %s; exiting",
                     live_watchdog(watchdog.paths), watchdog.paths.state_dir)
            return 0
        _harden()
    except OSError as exc:
        log.error("cannot start: %s", exc)
        watchdog.close()
        return 2
    try:
        return watchdog.run()
    except BaseException:
        log.exception("crashed")
        watchdog.magic_close = False  # a crashed watchdog lets the kernel device expire
        if watchdog.state.armed or watchdog.firing:  # and leaves nothing unguarded
            with contextlib.suppress(BaseException):
                watchdog._fire("watchdog crashed while armed")
        return 3
    finally:
        watchdog.close()


if __name__ == "__main__":
    sys.exit(main())
