"""The node's part of a transition: which of its actions may run now.

An action runs when the transition is current and not aborted, the action is this
node's, nobody recorded it running or done, and every dependency succeeded (on any
node: each node's results are in the snapshot). No start runs from a transition older
than a node's (re)join: that node's join probe may report the resource running there,
which the transition did not know (the DC aborts it and schedules again).
"""

from __future__ import annotations

from vigil.core.records import ActionOutcome, ResultsRecord
from vigil.core.snapshot import Snapshot
from vigil.model.transition import Action

STARTING = ("start", "promote")
"""Operations that make a resource (more) active."""


def runnable_actions(snapshot: Snapshot, node: str, claimed: set[tuple[int, int]],
                     batch_limit: int = 0) -> list[Action]:
    """This node's actions that may start now. With `batch_limit` (config `batch_limit`,
    0 = none) no more start than leave that many running in the whole cluster — as seen
    in this snapshot: nodes deciding at the same moment may overshoot it briefly."""
    t = snapshot.transition
    if t is None or t.aborted:
        return []
    stale = any(m.mod_revision > snapshot.transition_revision
                for m in snapshot.members.values())
    mine = snapshot.results_for(node, t.id)
    by_id = {a.id: a for a in t.actions}
    out: list[Action] = []
    for a in t.actions:
        if a.node != node or a.id in mine.done or a.id in mine.running:
            continue
        if (t.id, a.id) in claimed or (stale and a.op in STARTING):
            continue
        if all(_succeeded(snapshot, t.id, by_id.get(d)) for d in a.deps):
            out.append(a)
    if batch_limit > 0:
        running = sum(len(snapshot.results_for(n, t.id).running) for n in snapshot.results)
        running += sum(1 for tid, _ in claimed if tid == t.id) - len(mine.running)
        out = out[:max(0, batch_limit - running)]
    return out


def _succeeded(snapshot: Snapshot, tid: int, dep: Action | None) -> bool:
    if dep is None:
        return False
    outcome = snapshot.results_for(dep.node, tid).done.get(dep.id)
    return outcome is not None and outcome.ok


def claim(results: ResultsRecord, tid: int, aid: int) -> ResultsRecord:
    base = results if results.transition == tid else ResultsRecord(tid)
    return ResultsRecord(tid, base.running | {aid}, dict(base.done))


def complete(results: ResultsRecord, tid: int, aid: int, outcome: ActionOutcome) -> ResultsRecord:
    base = results if results.transition == tid else ResultsRecord(tid)
    done = dict(base.done)
    done[aid] = outcome
    return ResultsRecord(tid, base.running - {aid}, done)


def interrupted(results: ResultsRecord | None) -> ResultsRecord | None:
    """After an agent restart: actions its previous incarnation was running never
    reported; record them as failed so the DC can move on."""
    if results is None or not results.running:
        return None
    done = dict(results.done)
    for aid in results.running:
        done[aid] = ActionOutcome(1, "interrupted: the agent restarted while it ran")
    return ResultsRecord(results.transition, frozenset(), done)
