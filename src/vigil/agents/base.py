"""What every resource-agent runner offers the executor.

Return codes follow the OCF table for every agent class, so the core reasons about one
set of codes. A timed-out action has `timed_out=True` and rc OCF_TIMEOUT (vigil-only).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path


class OcfRc(IntEnum):
    SUCCESS = 0
    ERR_GENERIC = 1
    ERR_ARGS = 2
    ERR_UNIMPLEMENTED = 3
    ERR_PERM = 4
    ERR_INSTALLED = 5
    ERR_CONFIGURED = 6
    NOT_RUNNING = 7
    RUNNING_PROMOTED = 8
    FAILED_PROMOTED = 9
    TIMEOUT = 198
    """vigil's own: the action did not finish within its timeout and was killed."""
    EXEC_ERROR = 199
    """vigil's own: the agent could not be executed at all (missing, not executable)."""


@dataclass(frozen=True)
class OpResult:
    op: str
    rc: int
    output: str = ""
    """Tail of what the agent printed (stderr and stdout), for the failure reason."""
    duration: float = 0.0
    timed_out: bool = False

    @property
    def rc_name(self) -> str:
        try:
            return OcfRc(self.rc).name.lower()
        except ValueError:
            return f"rc {self.rc}"

    def describe(self, resource: str) -> str:
        """One line for events and `vigil status`: what failed and how."""
        if self.timed_out:
            return f"{self.op} of {resource} timed out after {self.duration:.1f}s"
        text = f"{self.op} of {resource} returned {self.rc} ({self.rc_name})"
        last = self.output.strip().splitlines()[-1:] if self.output else []
        return f"{text}: {last[0]}" if last else text


@dataclass(frozen=True)
class NodeContext:
    """Where a node's agents keep their state (one directory per node, so several
    nodes can share one machine in the demo and tests)."""

    node: str
    state_dir: Path

    @property
    def run_dir(self) -> Path:
        return self.state_dir / "run"


BUILTIN_ACTIONS_XML = """  <actions>
    <action name="start" timeout="20s"/>
    <action name="stop" timeout="20s"/>
    <action name="monitor" timeout="20s" interval="10s"/>
    <action name="validate-all" timeout="5s"/>
    <action name="meta-data" timeout="5s"/>
  </actions>
</resource-agent>
"""
"""The OCF meta-data actions every built-in agent (process, vip) supports."""


class ResourceAgent(ABC):
    """Runs one action of one resource. Implementations never raise for agent
    failures: every outcome is an OpResult."""

    @abstractmethod
    async def run(self, op: str, timeout: float, interval: float = 0.0) -> OpResult:
        """op: start | stop | monitor (interval 0 = probe) | meta-data | validate-all."""
