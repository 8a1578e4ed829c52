"""Observed cluster state: the scheduler's other input.

Built from one store snapshot (one revision) by `vigil.core.snapshot`; immutable.
Times are wall-clock seconds (the snapshot's `now`), passed in, never read here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from vigil.model.config import LocationConstraint


class Membership(StrEnum):
    ONLINE = "online"
    """Holds a valid lease."""
    OFFLINE = "offline"
    """No lease, and nothing it ran can still be active (never joined, left cleanly, or
    its lease expired more than the self-fence timeout ago)."""
    UNCLEAN = "unclean"
    """Lost its lease while it may still run resources: they are possibly active (S1)
    until the self-fence timeout has elapsed or fencing confirms it is off."""


class RscState(StrEnum):
    STOPPED = "stopped"
    STARTED = "started"
    FAILED = "failed"
    """A start or monitor failed: possibly active, needs a stop before anything else."""
    STOP_FAILED = "stop_failed"
    """A stop failed or timed out: blocked on this node until it is fenced."""


@dataclass(frozen=True)
class NodeState:
    name: str
    membership: Membership
    standby: bool = False
    shutting_down: bool = False
    """SIGTERM received: its resources move away before it leaves."""
    maintenance: bool = False
    """Resources on it are left alone: not started, stopped or monitored there."""
    pending: bool = False
    """Joined but not yet probed: nothing is placed on it until it reports."""

    @property
    def can_host(self) -> bool:
        return (
            self.membership is Membership.ONLINE
            and not self.standby
            and not self.shutting_down
            and not self.maintenance
            and not self.pending
        )


@dataclass(frozen=True)
class ResourceStatus:
    node: str
    resource: str
    state: RscState
    last_op: str = ""
    last_rc: int = 0
    since: float = 0.0

    @property
    def promoted(self) -> bool:
        """Running in the Promoted role: its last promote succeeded, or a monitor or
        probe answered OCF_RUNNING_PROMOTED (8), and no demote or start came since."""
        if self.state is not RscState.STARTED:
            return self.state is RscState.FAILED and self.last_rc == 9
        return self.last_rc == 8 or (self.last_op == "promote" and self.last_rc == 0)


@dataclass(frozen=True)
class FailCount:
    node: str
    resource: str
    count: int
    last_failure: float
    """Wall-clock time of the newest failure."""
    op: str = ""
    rc: int = 0
    reason: str = ""


@dataclass(frozen=True)
class ClusterState:
    now: float
    nodes: Mapping[str, NodeState]
    """Every configured node, in config order."""
    resources: Mapping[tuple[str, str], ResourceStatus] = field(default_factory=dict)
    """(node, resource) -> last reported state on that node. Missing means stopped."""
    failures: Mapping[tuple[str, str], FailCount] = field(default_factory=dict)
    runtime_locations: tuple[LocationConstraint, ...] = ()
    """Constraints made by `vigil resource move|ban` (ids start with cli-)."""
    target_roles: Mapping[str, str] = field(default_factory=dict)
    """Runtime target-role overrides (`vigil resource restart` stops then starts)."""
    node_attributes: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Node -> transient attributes (`vigil node attribute`, agents' crm_attribute and
    attrd_updater; promotion scores as `master-<resource>`). They override the
    config's permanent attributes of the same name."""

    def state_of(self, node: str, resource: str) -> RscState:
        st = self.resources.get((node, resource))
        return st.state if st else RscState.STOPPED
