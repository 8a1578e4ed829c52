"""JSON records stored under the cluster prefix (see `vigil.store.keys`).

Every record is a frozen dataclass with `to_json()` and `from_json()`; the store holds
UTF-8 JSON, so operators can read it with etcdctl.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from vigil.model.config import LocationConstraint
from vigil.model.state import FailCount, ResourceStatus, RscState
from vigil.model.transition import Action


def dumps(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def loads(raw: bytes) -> dict[str, Any]:
    value = json.loads(raw.decode() or "{}")
    if not isinstance(value, dict):
        raise ValueError("record is not a JSON object")
    return value


@dataclass(frozen=True)
class MemberRecord:
    node: str
    lease: int
    api_url: str
    pid: int
    started_at: float

    def to_json(self) -> bytes:
        return dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: bytes) -> MemberRecord:
        d = loads(raw)
        return cls(d["node"], int(d["lease"]), d.get("api_url", ""), int(d.get("pid", 0)),
                   float(d.get("started_at", 0.0)))


@dataclass(frozen=True)
class DcRecord:
    node: str
    lease: int
    elected_at: float

    def to_json(self) -> bytes:
        return dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: bytes) -> DcRecord:
        d = loads(raw)
        return cls(d["node"], int(d["lease"]), float(d.get("elected_at", 0.0)))


@dataclass(frozen=True)
class TransitionRecord:
    id: int
    dc: str
    token: int
    """The DC's election key create_revision when it wrote this."""
    actions: tuple[Action, ...]
    aborted: bool = False
    created_at: float = 0.0

    def to_json(self) -> bytes:
        return dumps({
            "id": self.id, "dc": self.dc, "token": self.token, "aborted": self.aborted,
            "created_at": self.created_at,
            "actions": [
                {"id": a.id, "node": a.node, "resource": a.resource, "op": a.op,
                 "deps": list(a.deps), "reason": a.reason}
                for a in self.actions
            ],
        })

    @classmethod
    def from_json(cls, raw: bytes) -> TransitionRecord:
        d = loads(raw)
        actions = tuple(
            Action(int(a["id"]), a["node"], a["resource"], a["op"],
                   tuple(int(x) for x in a.get("deps", ())), a.get("reason", ""))
            for a in d.get("actions", ())
        )
        return cls(int(d["id"]), d.get("dc", ""), int(d.get("token", 0)), actions,
                   bool(d.get("aborted", False)), float(d.get("created_at", 0.0)))


@dataclass(frozen=True)
class ActionOutcome:
    rc: int
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.rc == 0


@dataclass(frozen=True)
class ResultsRecord:
    """A node's progress on one transition."""

    transition: int
    running: frozenset[int] = frozenset()
    done: dict[int, ActionOutcome] = field(default_factory=dict)

    def to_json(self) -> bytes:
        return dumps({
            "transition": self.transition,
            "running": sorted(self.running),
            "done": {str(k): {"rc": v.rc, "reason": v.reason} for k, v in self.done.items()},
        })

    @classmethod
    def from_json(cls, raw: bytes) -> ResultsRecord:
        d = loads(raw)
        done = {int(k): ActionOutcome(int(v["rc"]), v.get("reason", ""))
                for k, v in d.get("done", {}).items()}
        return cls(int(d["transition"]), frozenset(int(x) for x in d.get("running", ())), done)


@dataclass(frozen=True)
class NodeAttrs:
    standby: bool = False
    shutting_down: bool = False

    def to_json(self) -> bytes:
        return dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: bytes) -> NodeAttrs:
        d = loads(raw)
        return cls(bool(d.get("standby", False)), bool(d.get("shutting_down", False)))


@dataclass(frozen=True)
class AttributeRecord:
    """One node attribute (`runtime/attributes/<node>/<name>`): set with `vigil node
    attribute`, or by an agent through crm_attribute / crm_master / attrd_updater."""

    value: str
    lifetime: str = "forever"
    """forever | reboot: a reboot attribute is cleared when its node joins again."""

    def to_json(self) -> bytes:
        return dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: bytes) -> AttributeRecord:
        d = loads(raw)
        return cls(str(d["value"]), str(d.get("lifetime", "forever")))


@dataclass(frozen=True)
class EventRecord:
    time: float
    node: str
    kind: str
    """e.g. transition, action, failure, node-lost, lease, config, command."""
    message: str
    resource: str = ""

    def to_json(self) -> bytes:
        return dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: bytes) -> EventRecord:
        d = loads(raw)
        return cls(float(d["time"]), d.get("node", ""), d.get("kind", ""), d.get("message", ""),
                   d.get("resource", ""))


@dataclass(frozen=True)
class ConfigRecord:
    version: int
    source: str
    """The YAML text as applied; parsed again by whoever reads it."""
    filename: str = ""
    applied_at: float = 0.0
    applied_by: str = ""

    def to_json(self) -> bytes:
        return dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: bytes) -> ConfigRecord:
        d = loads(raw)
        return cls(int(d["version"]), d["source"], d.get("filename", ""),
                   float(d.get("applied_at", 0.0)), d.get("applied_by", ""))


def status_to_json(st: ResourceStatus) -> bytes:
    return dumps({"state": st.state.value, "last_op": st.last_op, "last_rc": st.last_rc,
                  "since": st.since})


def status_from_json(node: str, rsc: str, raw: bytes) -> ResourceStatus:
    d = loads(raw)
    return ResourceStatus(node, rsc, RscState(d["state"]), d.get("last_op", ""),
                          int(d.get("last_rc", 0)), float(d.get("since", 0.0)))


def failure_to_json(f: FailCount) -> bytes:
    return dumps({"count": f.count, "last_failure": f.last_failure, "op": f.op, "rc": f.rc,
                  "reason": f.reason})


def failure_from_json(node: str, rsc: str, raw: bytes) -> FailCount:
    d = loads(raw)
    return FailCount(node, rsc, int(d["count"]), float(d.get("last_failure", 0.0)),
                     d.get("op", ""), int(d.get("rc", 0)), d.get("reason", ""))


def location_to_json(c: LocationConstraint) -> bytes:
    return dumps({"id": c.id, "resource": c.resource, "node": c.node, "score": c.score})


def location_from_json(raw: bytes) -> LocationConstraint:
    d = loads(raw)
    return LocationConstraint(d["id"], d["resource"], d["node"], int(d["score"]))


@dataclass(frozen=True)
class FenceRecord:
    """The current fencing of one node (`fencing/<node>`); finished ones are also
    appended to `fencing_history/`."""

    node: str
    state: str
    """running | done | failed"""
    action: str
    reason: str
    requested_by: str
    requested_at: float
    finished_at: float = 0.0
    outcome: str = ""
    """The fencer's own account: which level and devices, or why it failed."""

    def to_json(self) -> bytes:
        return dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: bytes) -> FenceRecord:
        d = loads(raw)
        return cls(d["node"], d["state"], d.get("action", "reboot"), d.get("reason", ""),
                   d.get("requested_by", ""), float(d.get("requested_at", 0.0)),
                   float(d.get("finished_at", 0.0)), d.get("outcome", ""))


@dataclass(frozen=True)
class SuspectRecord:
    """What one node's heartbeats say about its peers (`suspects/<observer>`, on its
    lease)."""

    observer: str
    suspected: tuple[str, ...] = ()
    alerts: tuple[str, ...] = ()

    def to_json(self) -> bytes:
        return dumps({"observer": self.observer, "suspected": list(self.suspected),
                      "alerts": list(self.alerts)})

    @classmethod
    def from_json(cls, raw: bytes) -> SuspectRecord:
        d = loads(raw)
        return cls(d["observer"], tuple(d.get("suspected", ())), tuple(d.get("alerts", ())))
