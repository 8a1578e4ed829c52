"""Running Debian's crm_simulate on a CIB file and reading its Transition Summary."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

CASES = Path(__file__).parent / "cases"


def crm_simulate() -> str | None:
    return shutil.which("crm_simulate")


def crm_summary(cib: Path) -> list[str]:
    """crm_simulate's "Transition Summary:" lines for a CIB."""
    return crm_run(cib)[1]


def crm_run(cib: Path) -> tuple[list[str], list[str], list[str]]:
    """crm_simulate's "Current cluster status:", "Transition Summary:" and (every action
    simulated as successful) "Revised Cluster Status:" lines."""
    exe = crm_simulate()
    if exe is None:
        raise RuntimeError("crm_simulate is not installed (apt-get install pacemaker-cli-utils)")
    env = {**os.environ, "LC_ALL": "C"}
    proc = subprocess.run([exe, "--xml-file", str(cib), "--simulate", *what_if_args(cib)],
                          capture_output=True,
                          text=True, timeout=120, env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"crm_simulate failed on {cib} (rc {proc.returncode}):\n"
                           f"{proc.stderr}{proc.stdout}")
    return (block(proc.stdout, "Current cluster status:"),
            section(proc.stdout, "Transition Summary:"),
            block(proc.stdout, "Revised Cluster Status:"))


_WHAT_IF = re.compile(r"<!--\s*what-if:(.*?)-->", re.S)


def what_if_args(cib: Path) -> list[str]:
    """crm_simulate options a case asks for: `<!-- what-if: node-down=node3 -->` gives
    `--node-down node3` (XML comments cannot hold "--").

    Only node-down, node-up, node-fail and op-inject, which `vigil simulate` has too
    (op-inject is its --op-fail)."""
    m = _WHAT_IF.search(cib.read_text())
    args: list[str] = []
    for word in shlex.split(m.group(1)) if m else []:
        option, _, value = word.partition("=")
        args += [f"--{option}", value]
    return args


def section(output: str, title: str) -> list[str]:
    lines = output.splitlines()
    try:
        start = lines.index(title) + 1
    except ValueError:
        return []
    out = []
    for line in lines[start:]:
        if not line.strip():
            break
        out.append(line)
    return out


def block(output: str, title: str) -> list[str]:
    """The indented lines under a title, blank lines inside kept, up to the next title."""
    lines = output.splitlines()
    try:
        start = lines.index(title) + 1
    except ValueError:
        return []
    out: list[str] = []
    for line in lines[start:]:
        if line and not line.startswith(" "):
            break
        out.append(line)
    while out and not out[-1]:
        out.pop()
    return out


def golden_path(case: Path) -> Path:
    return case.with_suffix(".summary")


def status_path(case: Path) -> Path:
    return case.with_suffix(".status")


def revised_path(case: Path) -> Path:
    return case.with_suffix(".revised")


def cases() -> list[Path]:
    return sorted(CASES.glob("*.xml"))
