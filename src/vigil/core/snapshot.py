"""One consistent view of the store (one revision), parsed into records.

Parsing never raises for one bad record: it is skipped and named in `problems`, so a
corrupt key cannot stop the cluster from deciding about everything else.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from vigil.core import records as rec
from vigil.model.config import LocationConstraint
from vigil.model.state import FailCount, ResourceStatus
from vigil.store.base import KeyValue
from vigil.store.keys import Keys


@dataclass(frozen=True)
class Member:
    record: rec.MemberRecord
    create_revision: int
    mod_revision: int = 0
    """Revision of the node's last (re)join: the key is written only when it joins."""


@dataclass(frozen=True)
class Dc:
    record: rec.DcRecord
    token: int
    """create_revision of the election key: the DC's fencing token."""


@dataclass(frozen=True)
class Snapshot:
    revision: int
    config: rec.ConfigRecord | None = None
    config_revision: int = 0
    members: dict[str, Member] = field(default_factory=dict)
    dc: Dc | None = None
    transition: rec.TransitionRecord | None = None
    transition_revision: int = 0
    results: dict[str, rec.ResultsRecord] = field(default_factory=dict)
    results_revision: dict[str, int] = field(default_factory=dict)
    statuses: dict[tuple[str, str], ResourceStatus] = field(default_factory=dict)
    failures: dict[tuple[str, str], FailCount] = field(default_factory=dict)
    failure_revision: dict[tuple[str, str], int] = field(default_factory=dict)
    runtime_locations: tuple[LocationConstraint, ...] = ()
    target_roles: dict[str, str] = field(default_factory=dict)
    node_attrs: dict[str, rec.NodeAttrs] = field(default_factory=dict)
    fencing: dict[str, rec.FenceRecord] = field(default_factory=dict)
    fencing_revision: dict[str, int] = field(default_factory=dict)
    suspects: dict[str, rec.SuspectRecord] = field(default_factory=dict)
    """Observer -> its heartbeat view (only observers holding a lease have one)."""
    reprobe: dict[str, int] = field(default_factory=dict)
    """Resource -> revision of its latest `vigil resource cleanup` (nodes probe again)."""
    event_keys: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()
    attributes: dict[str, dict[str, rec.AttributeRecord]] = field(default_factory=dict)
    """Node -> attribute name -> record (`vigil node attribute`, agents' crm_attribute)."""

    def attribute_values(self) -> dict[str, dict[str, str]]:
        """Node -> name -> value: what the scheduler's ClusterState.node_attributes takes."""
        return {n: {k: a.value for k, a in attrs.items()} for n, attrs in self.attributes.items()}

    def results_for(self, node: str, transition: int) -> rec.ResultsRecord:
        r = self.results.get(node)
        return r if r is not None and r.transition == transition else rec.ResultsRecord(transition)


def parse_snapshot(keys: Keys, revision: int, kvs: Iterable[KeyValue]) -> Snapshot:
    s: dict[str, object] = {}
    members: dict[str, Member] = {}
    results: dict[str, rec.ResultsRecord] = {}
    results_rev: dict[str, int] = {}
    statuses: dict[tuple[str, str], ResourceStatus] = {}
    failures: dict[tuple[str, str], FailCount] = {}
    failure_rev: dict[tuple[str, str], int] = {}
    locations: list[LocationConstraint] = []
    roles: dict[str, str] = {}
    attrs: dict[str, rec.NodeAttrs] = {}
    events: list[str] = []
    reprobe: dict[str, int] = {}
    fencing: dict[str, rec.FenceRecord] = {}
    fencing_rev: dict[str, int] = {}
    suspects: dict[str, rec.SuspectRecord] = {}
    node_attributes: dict[str, dict[str, rec.AttributeRecord]] = {}
    problems: list[str] = []
    for kv in kvs:
        rel = keys.rel(kv.key)
        parts = rel.split("/")
        try:
            if rel == "config":
                s["config"] = rec.ConfigRecord.from_json(kv.value)
                s["config_revision"] = kv.mod_revision
            elif rel == "dc":
                s["dc"] = Dc(rec.DcRecord.from_json(kv.value), kv.create_revision)
            elif rel == "transition":
                s["transition"] = rec.TransitionRecord.from_json(kv.value)
                s["transition_revision"] = kv.mod_revision
            elif parts[0] == "members" and len(parts) == 2:
                record = rec.MemberRecord.from_json(kv.value)
                members[parts[1]] = Member(record, kv.create_revision, kv.mod_revision)
            elif parts[0] == "results" and len(parts) == 2:
                results[parts[1]] = rec.ResultsRecord.from_json(kv.value)
                results_rev[parts[1]] = kv.mod_revision
            elif parts[0] == "status" and len(parts) == 3:
                statuses[(parts[1], parts[2])] = rec.status_from_json(parts[1], parts[2], kv.value)
            elif parts[0] == "failures" and len(parts) == 3:
                key = (parts[1], parts[2])
                failures[key] = rec.failure_from_json(parts[1], parts[2], kv.value)
                failure_rev[key] = kv.mod_revision
            elif rel.startswith("runtime/constraints/"):
                locations.append(rec.location_from_json(kv.value))
            elif rel.startswith("runtime/roles/"):
                roles[parts[2]] = rec.loads(kv.value)["target_role"]
            elif rel.startswith("runtime/nodes/"):
                attrs[parts[2]] = rec.NodeAttrs.from_json(kv.value)
            elif parts[0] == "fencing" and len(parts) == 2:
                fencing[parts[1]] = rec.FenceRecord.from_json(kv.value)
                fencing_rev[parts[1]] = kv.mod_revision
            elif parts[0] == "suspects" and len(parts) == 2:
                suspects[parts[1]] = rec.SuspectRecord.from_json(kv.value)
            elif rel.startswith("runtime/attributes/") and len(parts) >= 4:
                name = "/".join(parts[3:])
                node_attributes.setdefault(parts[2], {})[name] = \
                    rec.AttributeRecord.from_json(kv.value)
            elif rel.startswith("runtime/reprobe/"):
                reprobe[parts[2]] = kv.mod_revision
            elif parts[0] == "events":
                events.append(kv.key)
        except (ValueError, KeyError, TypeError, IndexError) as e:
            problems.append(f"{kv.key}: unreadable record ({e}); fix or delete the key")
    return Snapshot(
        revision=revision,
        members=members, results=results, results_revision=results_rev, statuses=statuses,
        failures=failures, failure_revision=failure_rev,
        runtime_locations=tuple(sorted(locations, key=lambda c: c.id)), target_roles=roles,
        node_attrs=attrs, reprobe=reprobe, fencing=fencing,
        fencing_revision=fencing_rev, suspects=suspects, event_keys=tuple(sorted(events)),
        problems=tuple(problems),
        attributes=node_attributes,
        **s,  # type: ignore[arg-type]
    )
