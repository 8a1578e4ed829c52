"""What one drill run observed, as plain data: probe answers, who held what, step marks.

Times are seconds since the drill started (monotonic clock), so a record is the same
whether it comes from a run or from a JSON file.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class ProbeSample:
    t: float
    """When the request was sent."""
    ok: bool
    node: str | None = None
    """The node that answered (the lab service answers with its node name)."""
    latency: float = 0.0


@dataclass(frozen=True)
class HolderSample:
    """One pass of the split-brain detector over every host."""

    t: float
    holders: dict[str, tuple[str, ...]]
    """Resource id -> nodes where it was seen active (VIP configured on an interface that
    is up, or the resource's process alive). Two nodes = a split."""


@dataclass(frozen=True)
class Mark:
    name: str
    t: float
    """When the step began."""
    t_end: float
    label: str
    """What the step did, with its nodes resolved ("fault power-off n2")."""
    kind: str
    ok: bool = True
    error: str = ""


@dataclass
class Record:
    drill: str
    nodes: list[str]
    service: str
    vip: str
    duration: float = 0.0
    probes: list[ProbeSample] = field(default_factory=list)
    holders: list[HolderSample] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    final_resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Resource id -> {"state": ..., "node": ...} from `vigil status` at the end."""
    final_nodes: dict[str, str] = field(default_factory=dict)
    """Node -> state (online, offline, fenced ...) and "dc" -> the DC, at the end."""
    fenced: list[str] = field(default_factory=list)
    """Nodes fenced during the drill (fence history)."""
    errors: list[str] = field(default_factory=list)
    """What went wrong running the drill itself (a step failed, a wait timed out)."""
    sampler_cost: dict[str, float] = field(default_factory=dict)
    """How long the samplers took per pass (mean/max seconds), to show they keep up."""

    def mark(self, name: str) -> Mark | None:
        return next((m for m in self.marks if m.name == name), None)

    def time_of(self, name: str | None, default: float) -> float:
        if name is None:
            return default
        if name == "start":
            return 0.0
        if name == "end":
            return self.duration
        m = self.mark(name)
        return default if m is None else m.t

    def end_of(self, name: str | None, default: float) -> float:
        """When the step finished (its fault was in place)."""
        m = self.mark(name) if name else None
        return self.time_of(name, default) if m is None else m.t_end

    def node(self, ref: str) -> str:
        return self.variables.get(ref[1:], ref) if ref.startswith("$") else ref

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        # Samples as compact arrays: a drill has thousands of them.
        doc["probes"] = [[round(p.t, 4), int(p.ok), p.node, round(p.latency, 4)]
                         for p in self.probes]
        doc["holders"] = [[round(h.t, 4), {k: list(v) for k, v in h.holders.items()}]
                          for h in self.holders]
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Record:
        r = cls(doc["drill"], list(doc["nodes"]), doc["service"], doc["vip"],
                float(doc["duration"]))
        r.probes = [ProbeSample(t, bool(ok), node, lat) for t, ok, node, lat in doc["probes"]]
        r.holders = [HolderSample(t, {k: tuple(v) for k, v in h.items()})
                     for t, h in doc["holders"]]
        r.marks = [Mark(**m) for m in doc["marks"]]
        r.variables = dict(doc["variables"])
        r.final_resources = dict(doc["final_resources"])
        r.fenced = list(doc["fenced"])
        r.final_nodes = dict(doc.get("final_nodes", {}))
        r.errors = list(doc["errors"])
        r.sampler_cost = dict(doc.get("sampler_cost", {}))
        return r
