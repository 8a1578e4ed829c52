"""A node agent's life-cycle rules, pure: what the shells (runtime agent, simulator) ask.

The agent's life: join (probe, take or adopt a lease), a session (keepalives, the S2
guard, snapshots) and, when the lease is lost, stop everything (or freeze) and join again.
The asyncio agent (`vigil.runtime.agent`) and the simulator's node (`vigil.sim.node`)
both call these functions, so the simulator checks the decisions the agent makes, not a
copy of them. No I/O, no clock: the caller passes `now` (its monotonic clock).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

from vigil.core import records as rec
from vigil.core.lease import LeaseClock
from vigil.core.snapshot import Snapshot
from vigil.model.config import ClusterConfig, Resource
from vigil.model.load import ConfigInvalid, load_config_text
from vigil.model.state import RscState
from vigil.store.base import Compare
from vigil.store.keys import Keys

# --- S2: the lease guard ----------------------------------------------------------------


@dataclass(frozen=True)
class GuardVerdict:
    action: Literal["freeze", "stop"]
    reason: str


def may_freeze(config: ClusterConfig, node: str) -> bool:
    """no_quorum_policy freeze keeps resources on a node that lost its lease only when the
    quorate side can fence it (else nothing would ever make the frozen copy safe)."""
    return (config.no_quorum_policy == "freeze" and config.fencing.enabled
            and bool(config.fencing.topology(node)))


def lease_guard(clock: LeaseClock, now: float, config: ClusterConfig,
                node: str) -> GuardVerdict | None:
    """S2: None while the node's own lease view allows running resources; otherwise how
    the session ends (stop everything, or freeze under no_quorum_policy freeze)."""
    if not clock.must_stop(now):
        return None
    if may_freeze(config, node):
        return GuardVerdict("freeze", "lease lost without quorum: freezing (no_quorum_policy "
                            "freeze): resources keep running, nothing starts")
    return GuardVerdict("stop", f"lease about to expire ({clock.remaining(now):.2f}s left, "
                        f"margin {clock.margin:g}s) without store contact")


def self_fenced(fired_at: float | None, since: float, active: bool) -> GuardVerdict | None:
    """The watchdog fired (agent silent too long, e.g. paused) after `since` (when this
    join's probe began) while the agent believes resources `active`: it killed them
    while the agent still reports them running, and unmonitored ones would never be
    noticed. End the session: stop, probe again, report the truth. Times are wall clock
    (the watchdog's record)."""
    if fired_at is None or fired_at <= since or not active:
        return None
    return GuardVerdict("stop", "the watchdog fired and killed this node's resources: "
                        "probing again so the cluster learns what really runs")


def may_run_actions(joined: bool, clock: LeaseClock, now: float) -> bool:
    """S2 for the executor: an action may start only inside the lease view."""
    return joined and not clock.must_stop(now)


def watchdog_deadline(clock: LeaseClock, frozen: bool, now: float,
                      watchdog_timeout: float) -> float | None:
    """What to feed the watchdog: the end of the lease view (frozen: the agent's own
    liveness only, the quorate side fences us); None: nothing to feed yet."""
    if frozen:
        return now + watchdog_timeout
    return clock.deadline


def join_must_stop(active: bool, waited: float, config: ClusterConfig) -> bool:
    """S2 before any lease: what the probe found may not keep running while the cluster
    can already recover it elsewhere (the lease it may still hold ends within this)."""
    tolerance = config.timings.lease_ttl - config.timings.lease_margin
    return active and waited > tolerance


# --- S3: the coordinator's key --------------------------------------------------------


Role = Literal["elect", "wait", "follower", "dc"]


def role(snap: Snapshot, node: str, lease_id: int, shutting_down: bool) -> Role:
    """This node's part in coordination: run for DC (no DC), wait (no DC but draining),
    follow another DC, or be the DC (the election key is ours, on our current lease)."""
    dc = snap.dc
    if dc is None:
        return "wait" if shutting_down else "elect"
    if dc.record.node != node or dc.record.lease != lease_id:
        return "follower"
    return "dc"


def dc_guard(keys: Keys, token: int, lease_id: int) -> list[Compare]:
    """S3: a DC's write holds only while the election key is the one it won (its
    create_revision is the token) and still on the DC's lease."""
    return [Compare(keys.dc, "create", "=", token), Compare(keys.dc, "lease", "=", lease_id)]


def member_is_ours(snap: Snapshot, node: str, lease_id: int) -> bool:
    """The session lives only while our member key is on our lease."""
    member = snap.members.get(node)
    return member is not None and member.record.lease == lease_id


def deputy_delay(config: ClusterConfig) -> float:
    """A deputy fencing a silent DC in a two-node cluster lets a living DC win the race."""
    return 2 * config.heartbeat.timeout if len(config.node_names) <= 2 else 0.0


# --- joining ----------------------------------------------------------------------------


def interrupted_resources(transition: rec.TransitionRecord | None,
                          old: rec.ResultsRecord | None) -> set[str]:
    """Resources an action of our previous life may still be acting on: possibly active."""
    if old is None or not old.running or transition is None or transition.id != old.transition:
        return set()
    return {a.resource for a in transition.actions if a.id in old.running}


def stop_targets(config: ClusterConfig, local: dict[str, RscState]) -> list[Resource]:
    """Stopping everything: every resource not known to be stopped (unknown = maybe on)."""
    return [r for r in config.resources
            if local.get(r.id, RscState.FAILED) is not RscState.STOPPED]


# --- config -----------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredConfig:
    config: ClusterConfig | None
    problem: str = ""


@functools.lru_cache(maxsize=8)
def _parse_stored(source: str, name: str) -> ClusterConfig:
    # Parsed configs are immutable: every snapshot with the same config reuses one.
    return load_config_text(source, name)


def read_stored_config(record: rec.ConfigRecord, node: str) -> StoredConfig:
    """S5: a stored config is used only whole and valid, and only if it names us."""
    try:
        cfg = _parse_stored(record.source, f"stored config v{record.version}")
    except ConfigInvalid as e:
        return StoredConfig(None, f"stored config version {record.version} is invalid, "
                            f"keeping the previous one:\n{e}")
    if node not in cfg.node_names:
        return StoredConfig(None, f"stored config version {record.version} has no node "
                            f"{node}; keeping the previous one")
    return StoredConfig(cfg)


def removed_resources(old: ClusterConfig, new: ClusterConfig) -> list[Resource]:
    """Resources a new config drops: stopped where they run (orphans)."""
    return [r for r in old.resources if all(r.id != n.id for n in new.resources)]
