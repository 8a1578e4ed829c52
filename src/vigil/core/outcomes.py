"""What an action's return code means for the resource's state and fail count.

Pacemaker's defaults: a failed start is fatal on that node (fail count INFINITY); a failed
recurring monitor counts one failure; a failed stop blocks the resource until the node is
fenced; a probe reporting the agent missing or misconfigured forbids that node.
"""

from __future__ import annotations

from dataclasses import dataclass

from vigil.agents.base import OcfRc
from vigil.model.config import INFINITY
from vigil.model.state import RscState


@dataclass(frozen=True)
class Outcome:
    state: RscState
    failure: int = 0
    """How much to add to the fail count (INFINITY sets it to INFINITY)."""
    failed: bool = False
    """The action itself failed (dependent actions must not run)."""


def outcome(op: str, rc: int) -> Outcome:
    if op == "start":
        if rc == OcfRc.SUCCESS:
            return Outcome(RscState.STARTED)
        return Outcome(RscState.FAILED, INFINITY, failed=True)
    if op == "stop":
        if rc == OcfRc.SUCCESS:
            return Outcome(RscState.STOPPED)
        return Outcome(RscState.STOP_FAILED, 1, failed=True)
    if op == "probe":
        if rc in (OcfRc.SUCCESS, OcfRc.RUNNING_PROMOTED):  # the status keeps rc 8: promoted
            return Outcome(RscState.STARTED)
        if rc == OcfRc.NOT_RUNNING:
            return Outcome(RscState.STOPPED)
        if rc in (OcfRc.ERR_INSTALLED, OcfRc.ERR_CONFIGURED):
            return Outcome(RscState.STOPPED, INFINITY, failed=True)
        return Outcome(RscState.FAILED, 1, failed=True)
    # recurring monitor of a resource expected to run
    if rc == OcfRc.SUCCESS:
        return Outcome(RscState.STARTED)
    return Outcome(RscState.FAILED, 1, failed=True)


def add_failures(count: int, increment: int) -> int:
    return min(INFINITY, count + increment)
