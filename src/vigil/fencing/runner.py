"""Run fence devices (fence-agents protocol), walk fencing topologies, verify devices.

The protocol (ClusterLabs fence-agents, `doc/FenceAgentAPI.md` and `fencing.py`): the
agent reads `key=value` lines on stdin, the last value of a key wins, unknown keys are
ignored. Exit 0 is success; `status` exits 0 for on, 2 for off, 1 on error; `monitor`
may exit 2 for "reachable, port off" on single-port devices. `fencing.py` strips each
line and one pair of surrounding double quotes from each value, so values that would be
changed by that are sent quoted, and values can never hold a newline.

Secrets (passwords) are read from their files at call time, go to the agent only on
stdin, and are replaced by `***` in everything vigil keeps: `fencing.py` echoes unknown
options back ("Ignoring unknown option 'password=...'"), so the captured output is
redacted before it is stored, logged or described.

Topology follows Pacemaker: levels are tried in order; a level succeeds only when every
one of its devices does (tried one after another, stopping at the first failure); a
`reboot` on a level of several devices is done as `off` on all, then `on` on all, and
counts as done once every `off` succeeded. When every level failed, the whole topology
is retried `FencingConfig.retries` times.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import stat
import time
from collections.abc import Awaitable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from vigil.agents.base import OcfRc
from vigil.agents.subprocess_run import clean_environment, run_action
from vigil.model.config import FenceDevice, FencingConfig

log = logging.getLogger(__name__)

AGENT_DIRS = (Path("/usr/sbin"), Path("/usr/local/sbin"), Path("/sbin"))
STATUS_ON = 0
STATUS_OFF = 2
ACTIONS = frozenset(
    {"on", "off", "reboot", "status", "monitor", "list", "list-status", "metadata",
     "validate-all"})
NODE_ACTIONS = frozenset({"on", "off", "reboot", "status"})
"""Actions aimed at one node: they get `plug` (and `nodename`)."""
FENCE_ACTIONS = frozenset({"off", "reboot", "on"})
REDACTED = "***"
PARTIAL_SECRET_MIN = 4
"""A cut-off secret tail this long at the start of truncated output is hidden too."""
_OWN_KEYS = frozenset({"action", "option"})
_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ ")
_UNHELPFUL = ("Please use '-h' for usage",)


class FenceError(Exception):
    """A fence device cannot be run as configured (the message says why and what to do)."""


class FenceAgentNotFound(FenceError):
    pass


class FenceSecretError(FenceError):
    pass


@dataclass(frozen=True)
class FenceResult:
    device: str
    action: str
    node: str
    """The target node ("" for device-wide actions: monitor, list, metadata)."""
    ok: bool
    rc: int
    output: str
    """Tail of what the agent printed, secrets replaced by `***`."""
    duration: float
    timed_out: bool = False
    agent: str = ""
    timeout: float = 0.0

    @property
    def power(self) -> str | None:
        """"on"/"off" for a successful `status`, else None."""
        if self.action != "status" or not self.ok:
            return None
        return "on" if self.rc == STATUS_ON else "off"

    @property
    def problem(self) -> str:
        """What went wrong, in a few words ("" when ok)."""
        if self.ok:
            return ""
        if self.timed_out:
            return f"timed out after {self.timeout or self.duration:g}s"
        if self.rc == OcfRc.EXEC_ERROR:  # vigil's own message: whole (it says what to do)
            return last_line(self.output, limit=4096) or "could not be run"
        line = last_line(self.output)
        return f"rc {self.rc}: {line}" if line else f"rc {self.rc}"

    def describe(self) -> str:
        """One line for events: "fence_ipmilan (ipmi-db1) off db1: ok in 1.2s"."""
        who = f"{self.agent} ({self.device})" if self.agent else self.device
        what = " ".join(x for x in (who, self.action, self.node) if x)
        if self.ok:
            return f"{what}: {self.power or 'ok'} in {self.duration:.1f}s"
        if self.timed_out or self.rc == OcfRc.EXEC_ERROR:
            return f"{what}: {self.problem}"
        return f"{what}: failed, {self.problem}"


def last_line(output: str, limit: int = 200) -> str:
    """The most telling line of an agent's output (the last one, minus boilerplate)."""
    lines = [_TIMESTAMP.sub("", ln.strip()) for ln in output.splitlines() if ln.strip()]
    lines = [ln for ln in lines if not any(u in ln for u in _UNHELPFUL)]
    if not lines:
        return ""
    line = lines[-1]
    return line if len(line) <= limit else line[: limit - 3] + "..."


# -- running one device -------------------------------------------------------------------

def resolve_agent(agent: str) -> Path:
    """The program of a fence device: an absolute path, or a name found in /usr/sbin,
    /usr/local/sbin, /sbin, then PATH."""
    hint = "; fence-agents programs come with `apt-get install fence-agents`"
    if not agent:
        raise FenceAgentNotFound("fence device has no agent program")
    path = Path(agent)
    if path.is_absolute():
        if _is_executable(path):
            return path
        raise FenceAgentNotFound(f"fence agent {agent} does not exist or is not an "
                                 f"executable file" + (hint if _is_stock(agent) else ""))
    if "/" in agent:
        raise FenceAgentNotFound(f"fence agent {agent!r}: give a program name or an "
                                 "absolute path")
    searched: list[Path] = []
    for d in (*AGENT_DIRS, *(Path(p) for p in os.environ.get("PATH", "").split(os.pathsep)
                             if p)):
        if d not in searched:
            searched.append(d)
    for d in searched:
        if _is_executable(d / agent):
            return d / agent
    raise FenceAgentNotFound(f"fence agent {agent} not found in "
                             f"{', '.join(map(str, searched))}" + hint)


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _agent_name(device: FenceDevice) -> str:
    return Path(device.agent).name


def _is_stock(agent: str) -> bool:
    return Path(agent).name.startswith("fence_")


def read_secret(device: str, param: str, filename: str) -> str:
    """The value in a secret file: a regular file no group or other can access, one line
    (a trailing newline is dropped). Errors name the file, never the content."""
    where = f"fence device {device}: secret file {filename} (parameter {param})"
    try:
        fd = os.open(filename, os.O_RDONLY | os.O_CLOEXEC | os.O_NOCTTY)
    except OSError as exc:
        raise FenceSecretError(f"{where}: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise FenceSecretError(f"{where} is not a regular file")
        if st.st_mode & 0o077:
            raise FenceSecretError(
                f"{where} can be accessed by group or others (mode "
                f"{stat.S_IMODE(st.st_mode):04o}); run: chmod 600 {filename}")
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read()
    except OSError as exc:
        raise FenceSecretError(f"{where}: {exc.strerror}") from None
    finally:
        os.close(fd)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise FenceSecretError(f"{where} is not valid UTF-8") from None
    text = text.removesuffix("\n").removesuffix("\r")
    if not text:
        raise FenceSecretError(f"{where} is empty")
    if any(c in text for c in "\r\n\0"):
        raise FenceSecretError(f"{where} holds more than one line")
    return text


def read_secrets(device: FenceDevice) -> dict[str, str]:
    return {p: read_secret(device.id, p, f) for p, f in device.secret_files.items()}


def _line(device: str, key: str, value: str, secret: bool = False) -> str:
    if not key or any(c in key for c in "=\r\n\0 \t#"):
        raise FenceError(f"fence device {device}: invalid parameter name {key!r}")
    if any(c in value for c in "\r\n\0"):
        shown = "its secret value" if secret else repr(value)
        raise FenceError(f"fence device {device}: parameter {key}: {shown} holds a "
                         "line break, which the fence-agents protocol cannot carry")
    if value != value.strip() or (len(value) >= 2 and value[0] == value[-1] == '"'):
        value = f'"{value}"'  # fencing.py strips lines and removes one pair of quotes
    return f"{key}={value}\n"


def agent_input(device: FenceDevice, action: str, node: str | None,
                secrets: Mapping[str, str]) -> bytes:
    """The stdin of one call: device params, secrets, the target, then the action."""
    lines: list[str] = []
    for key, value in device.params.items():
        if key in _OWN_KEYS:
            log.warning("fence device %s: ignoring parameter %s (vigil sets it)",
                        device.id, key)
            continue
        lines.append(_line(device.id, key, value))
    lines += [_line(device.id, k, v, secret=True) for k, v in secrets.items()
              if k not in _OWN_KEYS]
    if node and action in NODE_ACTIONS:
        if not device.can_fence(node):
            raise FenceError(f"fence device {device.id} cannot fence {node}: not in its "
                             + ("host_map" if device.host_map else "hosts"))
        if device.host_map:
            lines.append(_line(device.id, "plug", device.host_map[node]))
        elif "plug" not in device.params and "port" not in device.params:
            lines.append(_line(device.id, "plug", node))
        lines.append(_line(device.id, "nodename", node))
    lines.append(_line(device.id, "action", action))
    return "".join(lines).encode()


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret value replaced by `***` (also a secret's tail left at
    the start of output whose beginning was cut off)."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
        marker = "[...]\n" if text.startswith("[...]\n") else ""
        body = text[len(marker):]
        for k in range(len(secret) - 1, PARTIAL_SECRET_MIN - 1, -1):
            if body.startswith(secret[-k:]):
                text = marker + REDACTED + body[k:]
                break
    return text


def _rc_ok(action: str, rc: int) -> bool:
    if action in ("status", "monitor"):
        return rc in (STATUS_ON, STATUS_OFF)
    return rc == 0


async def run_fence_agent(device: FenceDevice, action: str, node: str | None = None,
                          timeout: float | None = None) -> FenceResult:
    """Run one action of a fence device (for `node` when the action targets one).

    Never raises for a device problem (program missing, bad secret file, timeout): the
    result says what happened. `ok` is rc 0; for `status` and `monitor` rc 0 or 2.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown fence action {action!r}")
    limit = device.timeout if timeout is None else timeout
    start = time.monotonic()
    secrets: dict[str, str] = {}
    try:
        program = resolve_agent(device.agent)
        if action != "metadata":
            secrets = read_secrets(device)
        data = agent_input(device, action, node, secrets)
    except FenceError as exc:
        result = FenceResult(device.id, action, node or "", False, OcfRc.EXEC_ERROR,
                             str(exc), time.monotonic() - start,
                             agent=_agent_name(device), timeout=limit)
        log.warning("%s", result.describe())
        return result
    run = await run_action([str(program)], clean_environment(), limit, cwd="/",
                           stdin_data=data)
    del data
    result = FenceResult(
        device.id, action, node or "", not run.timed_out and _rc_ok(action, run.rc),
        run.rc, redact(run.output, secrets.values()), run.duration, run.timed_out,
        agent=_agent_name(device), timeout=limit)
    log.log(logging.INFO if result.ok else logging.WARNING, "%s", result.describe())
    return result


# -- topology ------------------------------------------------------------------------------

class RunAgent(Protocol):
    def __call__(self, device: FenceDevice, action: str, node: str | None = None,
                 timeout: float | None = None) -> Awaitable[FenceResult]: ...


@dataclass(frozen=True)
class FenceOutcome:
    node: str
    action: str
    ok: bool
    level: int | None
    """The level (1-based) that succeeded; None when fencing failed."""
    results: tuple[FenceResult, ...]
    reason: str


async def _call(run: RunAgent, device: FenceDevice, action: str,
                node: str | None) -> FenceResult:
    """`run`, with any unexpected error turned into a failed result (so one broken
    device never stops the next level from being tried)."""
    try:
        return await run(device, action, node)
    except Exception as exc:
        log.exception("fence device %s: %s failed unexpectedly", device.id, action)
        return FenceResult(device.id, action, node or "", False, OcfRc.EXEC_ERROR,
                           f"vigil: {type(exc).__name__}: {exc}", 0.0,
                           agent=_agent_name(device))


async def _each(devices: Sequence[FenceDevice], action: str, node: str, run: RunAgent,
                stop_at_failure: bool = True) -> tuple[list[FenceResult], str | None]:
    results: list[FenceResult] = []
    failure: str | None = None
    for device in devices:
        result = await _call(run, device, action, node)
        results.append(result)
        if not result.ok and failure is None:
            failure = (result.problem if len(devices) == 1
                       else f"{device.id} {action}: {result.problem}")
            if stop_at_failure:
                break
    return results, failure


async def _run_level(config: FencingConfig, level: Sequence[str], node: str, action: str,
                     run: RunAgent) -> tuple[list[FenceResult], str | None, str]:
    """(results, failure or None, note on an ignored power-on failure)."""
    devices: list[FenceDevice] = []
    for did in level:
        try:
            device = config.device(did)
        except KeyError:
            return [], f"no fence device named {did}", ""
        if not device.can_fence(node):
            return [], f"{did} cannot fence {node}", ""
        devices.append(device)
    if not devices:
        return [], "no devices in this level", ""
    if action == "reboot" and len(devices) > 1:
        # Pacemaker: all off, then all on (redundant power supplies); done once all off.
        results, failure = await _each(devices, "off", node, run)
        if failure is not None:
            return results, failure, ""
        on_results, on_failure = await _each(devices, "on", node, run, stop_at_failure=False)
        note = f"; power on failed (ignored): {on_failure}" if on_failure else ""
        return results + on_results, None, note
    results, failure = await _each(devices, action, node, run)
    return results, failure, ""


async def fence_node(config: FencingConfig, node: str, action: str | None = None,
                     run: RunAgent = run_fence_agent) -> FenceOutcome:
    """Fence `node` through its topology (`config.topology(node)`), Pacemaker style."""
    act = action or config.action
    if act not in FENCE_ACTIONS:
        raise ValueError(f"fence action must be one of off, reboot, on, not {act!r}")
    topology = config.topology(node)
    if not topology:
        why = ("fencing is not configured (no fence devices)" if not config.devices
               else f"no fence device can fence {node}")
        return FenceOutcome(node, act, False, None, (), f"cannot fence {node}: {why}")
    attempts = 1 + max(0, config.retries)
    results: list[FenceResult] = []
    failures: list[str] = []
    for attempt in range(1, attempts + 1):
        failures = []
        for index, level in enumerate(topology, 1):
            level_results, failure, note = await _run_level(config, level, node, act, run)
            results.extend(level_results)
            if failure is None:
                verb = "unfenced" if act == "on" else "fenced"
                reason = f"{node} {verb} ({act}) by level {index}: {', '.join(level)}"
                if failures:
                    reason += " after " + "; ".join(failures)
                if attempt > 1:
                    reason += f" (attempt {attempt} of {attempts})"
                return FenceOutcome(node, act, True, index, tuple(results), reason + note)
            failures.append(f"level {index} ({', '.join(level)}): {failure}")
    reason = f"fencing {node} failed: " + "; ".join(failures)
    if attempts > 1:
        reason += f"; retried {attempts - 1} time{'s' if attempts > 2 else ''}"
    return FenceOutcome(node, act, False, None, tuple(results), reason)


# -- verify ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class DeviceCheck:
    device: str
    ok: bool
    reason: str
    result: FenceResult


@dataclass(frozen=True)
class NodeCheck:
    node: str
    fenceable: bool
    reason: str


@dataclass(frozen=True)
class VerifyReport:
    devices: tuple[DeviceCheck, ...]
    nodes: tuple[NodeCheck, ...]

    @property
    def ok(self) -> bool:
        return all(d.ok for d in self.devices) and all(n.fenceable for n in self.nodes)

    @property
    def failed_devices(self) -> tuple[str, ...]:
        return tuple(d.device for d in self.devices if not d.ok)

    @property
    def unfenceable(self) -> tuple[str, ...]:
        return tuple(n.node for n in self.nodes if not n.fenceable)

    def lines(self) -> list[str]:
        return [d.reason for d in self.devices] + [n.reason for n in self.nodes]

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of `POST /v1/fence/verify` (secrets already redacted)."""
        return {
            "ok": self.ok,
            "devices": [{"device": d.device, "ok": d.ok, "reason": d.reason,
                         "rc": d.result.rc, "timed_out": d.result.timed_out,
                         "duration": round(d.result.duration, 3)} for d in self.devices],
            "nodes": [{"node": n.node, "fenceable": n.fenceable, "reason": n.reason}
                      for n in self.nodes],
            "unfenceable": list(self.unfenceable),
        }


def _node_check(config: FencingConfig, node: str, working: Mapping[str, bool]) -> NodeCheck:
    topology = config.topology(node)
    if not topology:
        return NodeCheck(node, False, f"{node} cannot be fenced: no fence device can "
                                      f"fence {node}")
    problems: list[str] = []
    for index, level in enumerate(topology, 1):
        bad = [did for did in level if not working.get(did, False)]
        unfit = [did for did in level if did in working and not
                 config.device(did).can_fence(node)]
        if level and not bad and not unfit:
            return NodeCheck(node, True, f"{node} can be fenced by level {index}: "
                                         f"{', '.join(level)}")
        why = [f"{d} failed its monitor" if d in working else f"no device {d}" for d in bad]
        why += [f"{d} cannot fence {node}" for d in unfit]
        problems.append(f"level {index} ({', '.join(level)}): "
                        + (", ".join(why) or "no devices"))
    return NodeCheck(node, False, f"{node} cannot be fenced: " + "; ".join(problems))


async def verify(config: FencingConfig, nodes: Sequence[str],
                 run: RunAgent = run_fence_agent) -> VerifyReport:
    """Run every device's `monitor` (in parallel, each with its own timeout) and say
    which devices fail and which nodes no working device can fence."""
    results = await asyncio.gather(*(_call(run, d, "monitor", None)
                                     for d in config.devices))
    checks = tuple(DeviceCheck(r.device, r.ok, r.describe(), r) for r in results)
    working = {c.device: c.ok for c in checks}
    return VerifyReport(checks, tuple(_node_check(config, n, working) for n in nodes))
