"""Run one agent action as a child process, with a hard deadline.

The contract (after Trio's `_subprocess.py`): the child runs in its own session and
process group; on timeout (or cancellation) the whole group gets SIGTERM, a short grace,
then SIGKILL; the child is always reaped. Failing to execute the program is a result
(rc EXEC_ERROR), never an exception.

Output (stdout and stderr combined) goes to an anonymous temporary file rather than a
pipe: agents such as `ocf:heartbeat:anything` start daemons that may inherit the
descriptor, and a pipe would then never reach EOF (or, once we close our end, kill the
daemon with SIGPIPE on its next write). Only the last `OUTPUT_TAIL_BYTES` are kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, NamedTuple

from vigil.agents.base import OcfRc

OUTPUT_TAIL_BYTES = 4096
KILL_WAIT = 5.0
"""How long to wait for the child to die after SIGKILL before giving up on it (a process
in uninterruptible sleep, e.g. on a dead NFS server, ignores even SIGKILL)."""

SANE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PASSED_THROUGH = ("HOME", "TZ", "TMPDIR", "USER", "LOGNAME")
"""The only variables of vigil's own environment a child sees by default (no venv
variables, no PYTHONPATH, no credentials vigil itself was given)."""

_background_reapers: set[asyncio.Task[int]] = set()


class ActionRun(NamedTuple):
    rc: int
    output: str
    """Tail of the combined stdout/stderr, plus vigil's own note on abnormal ends."""
    duration: float
    timed_out: bool


def clean_environment(extra: tuple[str, ...] = ()) -> dict[str, str]:
    """A minimal environment: a sane PATH plus a few of vigil's own variables."""
    env = {k: os.environ[k] for k in (*PASSED_THROUGH, *extra) if k in os.environ}
    # The lab tags every process of a test node (to power it off); keep the tag.
    env.update({k: v for k, v in os.environ.items() if k.startswith("VIGIL_LAB_")})
    env["PATH"] = SANE_PATH
    return env


def kill_grace(timeout: float) -> float:
    """Seconds between SIGTERM and SIGKILL for an action with this timeout."""
    return max(0.0, min(2.0, 0.1 * timeout))


def tail_text(data: bytes, limit: int = OUTPUT_TAIL_BYTES) -> str:
    """The last `limit` bytes of `data` as text, starting at a line boundary when cut."""
    if len(data) > limit:
        data = data[-limit:]
        newline = data.find(b"\n")
        if 0 <= newline < len(data) - 1:
            data = data[newline + 1 :]
        return "[...]\n" + data.decode("utf-8", errors="replace")
    return data.decode("utf-8", errors="replace")


def _read_tail(out: IO[bytes]) -> bytes:
    out.flush()
    size = out.seek(0, os.SEEK_END)
    out.seek(max(0, size - OUTPUT_TAIL_BYTES - 1))
    return out.read()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _append(text: str, note: str) -> str:
    if text and not text.endswith("\n"):
        text += "\n"
    return text + note


async def _wait(proc: asyncio.subprocess.Process, timeout: float) -> bool:
    """True once `proc` has exited (and been reaped) within `timeout` seconds."""
    try:
        await asyncio.wait_for(proc.wait(), timeout)
    except TimeoutError:
        return False
    return True


async def _terminate(proc: asyncio.subprocess.Process, grace: float) -> str:
    """SIGTERM the group, wait `grace`, SIGKILL the group, reap. Returns a note."""
    pgid = proc.pid
    _signal_group(pgid, signal.SIGTERM)
    if grace > 0 and await _wait(proc, grace):
        # The leader is gone; members that ignored SIGTERM must not outlive the action.
        _signal_group(pgid, signal.SIGKILL)
        return "process group terminated with SIGTERM"
    _signal_group(pgid, signal.SIGKILL)
    if await _wait(proc, KILL_WAIT):
        return "process group killed with SIGKILL"
    # Still not dead (uninterruptible sleep): keep reaping in the background.
    task = asyncio.ensure_future(proc.wait())
    _background_reapers.add(task)
    task.add_done_callback(_background_reapers.discard)
    return f"pid {pgid} survived SIGKILL for {KILL_WAIT:.0f}s (uninterruptible sleep?)"


def _feed_stdin(stdin: asyncio.StreamWriter, data: bytes) -> None:
    """Hand `data` to the child's stdin and close it, without waiting: the transport
    writes what the pipe takes now and the rest as the child reads; a child that exits
    without reading just closes the pipe (no error, no blocking)."""
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        stdin.write(data)
        stdin.close()


async def run_action(
    argv: Sequence[str],
    env: Mapping[str, str],
    timeout: float,
    cwd: str | Path | None = None,
    stdin_data: bytes | None = None,
) -> ActionRun:
    """Run `argv` with exactly `env` as its environment and stdin from /dev/null, or
    from a pipe carrying `stdin_data` (then closed) when given: fence agents read their
    parameters, passwords included, from stdin, so they never touch a file.

    rc is the exit status; OcfRc.TIMEOUT when the deadline passed (timed_out=True);
    OcfRc.EXEC_ERROR when the program could not be executed; OcfRc.ERR_GENERIC when the
    child died of a signal it was not sent by us.
    """
    start = time.monotonic()
    with tempfile.TemporaryFile() as out:
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL if stdin_data is None else asyncio.subprocess.PIPE,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                env=dict(env),
                cwd=cwd,
                start_new_session=True,
            )
        except OSError as exc:
            what = exc.strerror or str(exc)
            where = exc.filename if exc.filename is not None else argv[0] if argv else "?"
            if cwd is not None and str(where) == str(cwd):
                message = f"cannot run {argv[0]}: working directory {cwd}: {what}"
            else:
                message = f"cannot execute {where}: {what}"
            return ActionRun(OcfRc.EXEC_ERROR, message, time.monotonic() - start, False)

        if stdin_data is not None and proc.stdin is not None:
            _feed_stdin(proc.stdin, stdin_data)
        timed_out = False
        note = ""
        try:
            if not await _wait(proc, timeout):
                timed_out = True
                note = await _terminate(proc, kill_grace(timeout))
        except asyncio.CancelledError:
            # Cancelled by the caller: no grace, but never leave the group behind.
            _signal_group(proc.pid, signal.SIGKILL)
            task = asyncio.ensure_future(proc.wait())
            _background_reapers.add(task)
            task.add_done_callback(_background_reapers.discard)
            raise
        duration = time.monotonic() - start
        output = tail_text(_read_tail(out))

    if timed_out:
        note = f"vigil: action timed out after {timeout:g}s; {note}"
        return ActionRun(OcfRc.TIMEOUT, _append(output, note), duration, True)
    rc = proc.returncode
    assert rc is not None
    if rc < 0:
        try:
            name = signal.Signals(-rc).name
        except ValueError:
            name = f"signal {-rc}"
        note = f"vigil: {argv[0]} was killed by {name}"
        return ActionRun(OcfRc.ERR_GENERIC, _append(output, note), duration, False)
    return ActionRun(rc, output, duration, False)
