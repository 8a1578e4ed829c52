"""fence_lab: a fence agent that powers off a node of vigil's own test clusters.

It speaks the fence-agents protocol (`key=value` lines on stdin, or `--key=value`
arguments) like any `fence_*` program, so clusters under test fence through exactly the
code path they use in production. Run it as `python -m vigil.lab.fence_lab`, or through
the executable that `install_wrapper()` writes (a fence device names a program).

A lab node is every process whose environment has `VIGIL_LAB_NODE=<id>`; the id is the
`tag` parameter, else `plug` (`port`). Actions:

- `off`: SIGSTOP then SIGKILL every process of the node, again until none is left (a
  power cut: nothing gets to react), then remove `<state_dir>/rsctmp` when `state_dir`
  is given (a power cut empties tmpfs). `on`: nothing (the test harness restarts
  nodes). `reboot`: off, then on.
- `status`: exit 0 (on) when a process of the node exists, 2 (off) when none does.
- `monitor`, `list`, `list-status`, `validate-all`: exit 0 (`list` prints nothing).
- `metadata`: the agent's XML description.

Knobs for tests: `fail=1` (off and reboot exit 1 without killing), `delay=<seconds>`
(sleep first, for timeout tests), `record=<file>` (append "<time> <action> <node>" for
every call, before anything else).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

RC_OK = 0
RC_ERROR = 1
RC_OFF = 2
KILL_ROUNDS = 1000
"""Safety stop for the kill loop (a round takes ~10 ms plus a /proc scan)."""
ROUND_PAUSE = 0.005
_ALIASES = {"port": "plug", "option": "action"}
_SRC_DIR = Path(__file__).resolve().parents[2]

PARAMS = (
    ("action", "Fencing action", "string", "reboot"),
    ("plug", "Lab node id (VIGIL_LAB_NODE) when tag is not set", "string", ""),
    ("tag", "Lab node id (VIGIL_LAB_NODE); overrides plug", "string", ""),
    ("state_dir", "The node's state directory (off removes its rsctmp)", "string", ""),
    ("fail", "Tests: off and reboot fail with exit code 1", "boolean", "0"),
    ("delay", "Tests: seconds to sleep before acting", "string", "0"),
    ("record", "Tests: file to append one line per call to", "string", ""),
)


def metadata() -> str:
    params = "".join(
        f'\t<parameter name="{name}" unique="0" required="{int(name == "action")}">\n'
        f'\t\t<getopt mixed="--{name}=[value]" />\n'
        f'\t\t<content type="{kind}" default="{default}" />\n'
        f'\t\t<shortdesc lang="en">{desc}</shortdesc>\n'
        "\t</parameter>\n"
        for name, desc, kind, default in PARAMS)
    actions = "".join(f'\t<action name="{a}" />\n' for a in (
        "off", "reboot", "status", "list", "list-status", "monitor", "metadata",
        "validate-all"))
    return (
        '<?xml version="1.0" ?>\n'
        '<resource-agent name="fence_lab" shortdesc="Powers off a vigil lab node">\n'
        "<longdesc>Kills every process whose environment carries VIGIL_LAB_NODE=&lt;node&gt;"
        ", as a power cut would. For vigil's test clusters only.</longdesc>\n"
        "<vendor-url>vigil</vendor-url>\n"
        f"<parameters>\n{params}</parameters>\n"
        f'<actions>\n\t<action name="on" automatic="0"/>\n{actions}</actions>\n'
        "</resource-agent>")


def parse_input(lines: Iterable[str]) -> dict[str, str]:
    """fence-agents stdin: `key=value` per line, `#` comments, last value wins, one
    pair of surrounding double quotes removed."""
    opts: dict[str, str] = {}
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        key = key.strip().replace("-", "_")
        opts[_ALIASES.get(key, key)] = value
    return opts


def parse_args(argv: Sequence[str]) -> dict[str, str]:
    """`--key=value` (or `-o ACTION`, `-n PLUG`) for people trying it by hand."""
    lines: list[str] = []
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg in ("-o", "-n") and args:
            lines.append(f"{'action' if arg == '-o' else 'plug'}={args.pop(0)}")
        elif arg.startswith("--"):
            lines.append(arg[2:] if "=" in arg else f"{arg[2:]}=1")
        else:
            raise SystemExit(f"fence_lab: unexpected argument {arg!r}")
    return parse_input(lines)


def _pids(node: str) -> list[int]:
    from vigil.lab.local import node_pids  # ~0.2 s of imports: only where needed

    return [p for p in node_pids(node) if p != os.getpid()]


def power_off(node: str, state_dir: str = "") -> tuple[int, list[int]]:
    """Stop, then kill, every process of `node` until none is left.
    Returns (processes killed, pids we may not signal)."""
    killed: set[int] = set()
    denied: set[int] = set()
    for _ in range(KILL_ROUNDS):
        pids = [p for p in _pids(node) if p not in denied]
        if not pids:
            break
        for sig in (signal.SIGSTOP, signal.SIGKILL):  # frozen first: no forks meanwhile
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    continue
                except PermissionError:
                    denied.add(pid)
                    continue
                if sig == signal.SIGKILL:
                    killed.add(pid)
        time.sleep(ROUND_PAUSE)
    if state_dir:
        shutil.rmtree(Path(state_dir) / "rsctmp", ignore_errors=True)
    return len(killed), sorted(denied)


def run(opts: dict[str, str]) -> int:
    action = opts.get("action", "reboot").lower()
    if action == "meta-data":
        action = "metadata"
    if action == "metadata":
        print(metadata())
        return RC_OK
    node = opts.get("tag") or opts.get("plug") or ""
    if opts.get("record"):
        with open(opts["record"], "a", encoding="utf-8") as f:
            f.write(f"{time.time():.6f} {action} {node or '-'}\n")
    try:
        delay = float(opts.get("delay") or 0)
    except ValueError:
        print(f"Failed: delay must be a number of seconds, not {opts['delay']!r}")
        return RC_ERROR
    if delay > 0:
        time.sleep(delay)
    if action in ("monitor", "list", "list-status", "validate-all"):
        return RC_OK
    if action not in ("on", "off", "reboot", "status"):
        print(f"Failed: Unrecognised action '{action}'")
        return RC_ERROR
    if not node:
        print("Failed: no lab node given (parameter tag or plug)")
        return RC_ERROR
    if action == "status":
        on = bool(_pids(node))
        print(f"Status: {'ON' if on else 'OFF'}")
        return RC_OK if on else RC_OFF
    if action == "on":
        print("Success: Powered ON (the test harness starts lab nodes)")
        return RC_OK
    if opts.get("fail", "0").lower() in ("1", "yes", "on", "true"):
        print(f"Failed: {action} of {node} failed because fail=1 was given")
        return RC_ERROR
    killed, denied = power_off(node, opts.get("state_dir", ""))
    if denied:
        print(f"Failed: not allowed to kill pids {', '.join(map(str, denied))} of {node}")
        return RC_ERROR
    print(f"Success: Powered OFF {node} ({killed} processes killed)")
    if action == "reboot":
        print("Success: Rebooted")
    return RC_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    opts = parse_args(args) if args else parse_input(sys.stdin.read().splitlines())
    return run(opts)


def install_wrapper(path: Path) -> Path:
    """Write an executable `fence_lab` program at `path` (for a fence device's `agent`).

    It runs this module with the current interpreter, and finds vigil even when the
    fence runner's clean environment drops PYTHONPATH."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        f"sys.path.insert(0, {str(_SRC_DIR)!r})\n"
        "from vigil.lab.fence_lab import main\n"
        "sys.exit(main())\n")
    path.chmod(0o755)
    return path


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
