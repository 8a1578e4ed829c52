"""Judging a drill's record against its expectations: pure functions of the record.

Every verdict carries what was observed in words and, where there is one, the figure
(an outage in seconds, an availability fraction), so a report says *how close* it was.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from vigil.lab.drills.model import Drill, Expectation
from vigil.lab.drills.record import HolderSample, ProbeSample, Record


@dataclass(frozen=True)
class Verdict:
    expectation: str
    ok: bool
    observed: str
    figure: float | None = None


@dataclass(frozen=True)
class Outage:
    start: float
    """The last success before the failures (or the first failure if none came before)."""
    end: float
    """The first success after them; inf if the service never answered again."""

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Split:
    resource: str
    start: float
    end: float
    nodes: tuple[str, ...]


def outages(probes: Sequence[ProbeSample], after: float = 0.0,
            until: float = math.inf) -> list[Outage]:
    """Runs of failed probes that begin in [after, until), each measured from the last
    success before it to the first success after it (what a client saw)."""
    found: list[Outage] = []
    last_ok: float | None = None
    failed_from: float | None = None
    first_failed = 0.0
    for p in probes:
        if not p.ok:
            if failed_from is None:
                failed_from = p.t if last_ok is None else last_ok
                first_failed = p.t
            continue
        if failed_from is not None:
            if after <= first_failed < until:
                found.append(Outage(failed_from, p.t))
            failed_from = None
        last_ok = p.t
    if failed_from is not None and after <= first_failed < until:
        found.append(Outage(failed_from, math.inf))
    return found


def splits(holders: Sequence[HolderSample]) -> list[Split]:
    """Every stretch of samples in which one resource was seen on two or more nodes."""
    found: list[Split] = []
    open_: dict[str, tuple[float, set[str]]] = {}
    previous_t = 0.0
    for h in holders:
        for rid, nodes in h.holders.items():
            if len(nodes) > 1:
                start, seen = open_.get(rid, (h.t, set()))
                open_[rid] = (start, seen | set(nodes))
        for rid in [r for r in open_ if len(h.holders.get(r, ())) <= 1]:
            start, seen = open_.pop(rid)
            found.append(Split(rid, start, h.t, tuple(sorted(seen))))
        previous_t = h.t
    for rid, (start, seen) in open_.items():
        found.append(Split(rid, start, previous_t, tuple(sorted(seen))))
    return sorted(found, key=lambda s: s.start)


def owners(record: Record, rid: str, after: float, until: float) -> list[str]:
    """The nodes that held `rid`, in order of first appearance within the window."""
    seen: list[str] = []
    for h in record.holders:
        if after <= h.t <= until:
            for n in h.holders.get(rid, ()):
                if n not in seen:
                    seen.append(n)
    return seen


def holder_at(record: Record, rid: str, t: float) -> tuple[str, ...]:
    """Who held `rid` in the last sample at or before t."""
    current: tuple[str, ...] = ()
    for h in record.holders:
        if h.t > t:
            break
        current = h.holders.get(rid, ())
    return current


def _fmt(seconds: float) -> str:
    return "never" if math.isinf(seconds) else f"{seconds:.2f}s"


def _window(record: Record, e: Expectation) -> tuple[float, float, str]:
    after = record.time_of(_str(e, "after"), 0.0)
    until = record.time_of(_str(e, "until"), record.duration)
    words = f"after {e.args['after']}" if "after" in e.args else "over the drill"
    if "until" in e.args:
        words += f" until {e.args['until']}"
    return after, until, words


def _str(e: Expectation, key: str) -> str | None:
    value = e.args.get(key)
    return None if value is None else str(value)


def _never_split(record: Record, e: Expectation) -> Verdict:
    found = splits(record.holders)
    if not found:
        return Verdict(e.describe(), True, f"no resource on two nodes in "
                       f"{len(record.holders)} samples", 0.0)
    total = sum(s.end - s.start for s in found)
    first = found[0]
    return Verdict(e.describe(), False,
                   f"{len(found)} split(s), {total:.2f}s in all; first: {first.resource} on "
                   f"{' and '.join(first.nodes)} at t={first.start:.2f}s", total)


def _outage(record: Record, e: Expectation) -> Verdict:
    after, until, words = _window(record, e)
    found = outages(record.probes, after, until)
    worst = max((o.seconds for o in found), default=0.0)
    limit = float(e.args.get("at_most", 0.0))  # type: ignore[arg-type]
    if not record.probes:
        return Verdict(e.describe(), False, "no probe samples were recorded")
    if not found:
        return Verdict(e.describe(), True, f"no failed probe {words}", 0.0)
    at = next(o for o in found if o.seconds == worst)
    text = (f"{len(found)} outage(s) {words}; longest {_fmt(worst)} "
            f"(t={at.start:.2f}s to {at.end:.2f}s)")
    if math.isinf(worst):
        text += "; the service did not answer again"
    return Verdict(e.describe(), worst <= limit, text, worst)


def _no_outage(record: Record, e: Expectation) -> Verdict:
    return _outage(record, Expectation("no_outage", {**e.args, "at_most": 0.0}, e.line))


def _availability(record: Record, e: Expectation) -> Verdict:
    after, until, words = _window(record, e)
    window = [p for p in record.probes if after <= p.t <= until]
    if not window:
        return Verdict(e.describe(), False, f"no probe samples {words}")
    share = sum(p.ok for p in window) / len(window)
    return Verdict(e.describe(), share >= float(e.args["at_least"]),  # type: ignore[arg-type]
                   f"{share:.1%} of {len(window)} probes answered {words}", share)


def _owner_unchanged(record: Record, e: Expectation) -> Verdict:
    after, until, words = _window(record, e)
    before = holder_at(record, record.service, after)
    held = owners(record, record.service, after, until)
    answered = sorted({p.node for p in record.probes
                       if p.ok and p.node and after <= p.t <= until})
    nodes = sorted(set(held) | set(answered) | set(before))
    ok = len(nodes) == 1
    text = (f"{record.service} held by {', '.join(held) or 'nobody'} and answered by "
            f"{', '.join(answered) or 'nobody'} {words}")
    if before:
        text += f" (owner before: {', '.join(before)})"
    return Verdict(e.describe(), ok, text)


def _final_holders(record: Record, rid: str) -> tuple[str, ...]:
    return record.holders[-1].holders.get(rid, ()) if record.holders else ()


def _ends_on(record: Record, e: Expectation, negate: bool) -> Verdict:
    rid = str(e.args.get("resource", record.service))
    node = record.node(str(e.args["node"]))
    final = _final_holders(record, rid)
    status = record.final_resources.get(rid, {})
    where = status.get("node") if status.get("state") == "started" else None
    text = (f"{rid} at the end: seen on {', '.join(final) or 'no node'}; vigil status: "
            f"{status.get('state', 'unknown')}{' on ' + str(where) if where else ''}"
            f" ({e.args['node']} = {node})")
    if negate:
        ok = len(final) == 1 and final[0] != node and where not in (None, node)
    else:
        ok = final == (node,) and where == node
    return Verdict(e.describe(), ok, text)


def _fenced(record: Record, e: Expectation) -> Verdict:
    node = record.node(str(e.args["node"]))
    return Verdict(e.describe(), node in record.fenced,
                   f"fenced during the drill: {', '.join(record.fenced) or 'none'} "
                   f"({e.args['node']} = {node})")


def _not_fenced(record: Record, e: Expectation) -> Verdict:
    if "node" in e.args:
        node = record.node(str(e.args["node"]))
        ok = node not in record.fenced
    else:
        ok = not record.fenced
    return Verdict(e.describe(), ok,
                   f"fenced during the drill: {', '.join(record.fenced) or 'none'}")


def _all_running(record: Record, e: Expectation) -> Verdict:
    if not record.final_resources:
        return Verdict(e.describe(), False, "no final status was recorded")
    bad = {rid: f"{s.get('state')}" for rid, s in record.final_resources.items()
           if s.get("state") != "started"}
    sampled = record.holders[-1].holders if record.holders else {}
    not_one = {rid: nodes for rid, nodes in sampled.items() if len(nodes) != 1}
    parts = [f"{rid} {state}" for rid, state in sorted(bad.items())]
    parts += [f"{rid} seen on {len(n)} nodes" for rid, n in sorted(not_one.items())]
    where = ", ".join(f"{rid} on {s.get('node')}"
                      for rid, s in sorted(record.final_resources.items()))
    text = ("all running: " + where) if not parts else "not running: " + "; ".join(parts)
    return Verdict(e.describe(), not parts, text)


def _never_serves(record: Record, e: Expectation) -> Verdict:
    node = record.node(str(e.args["node"]))
    # From when the step had finished: requests sent while the fault was being put in
    # place may still reach the node.
    after = record.end_of(_str(e, "after"), 0.0)
    answered = [p.t for p in record.probes if p.ok and p.node == node and p.t >= after]
    # Serving = answering, or holding the VIP where clients reach it (an up interface):
    # a process left on a node whose links are down serves nobody.
    held = [h.t for h in record.holders
            if h.t >= after and node in h.holders.get(record.vip, ())]
    ok = not answered and not held
    text = (f"{node} answered {len(answered)} probe(s) and held the VIP in {len(held)} "
            f"sample(s) after {e.args.get('after', 'start')}")
    if answered:
        text += f"; first answer at t={answered[0]:.2f}s"
    return Verdict(e.describe(), ok, text)


def moves_of(record: Record, rid: str, after: float, until: float) -> list[tuple[float, str]]:
    """(time, new node) each time the resource was seen on a node other than its last one
    (gaps with no holder do not count as a move)."""
    last: str | None = None
    moves: list[tuple[float, str]] = []
    for h in record.holders:
        held = h.holders.get(rid, ())
        if len(held) != 1:
            continue
        if last is not None and held[0] != last and after <= h.t <= until:
            moves.append((h.t, held[0]))
        last = held[0]
    return moves


def _moves(record: Record, e: Expectation) -> Verdict:
    after, until, words = _window(record, e)
    rid = str(e.args.get("resource", record.service))
    found = moves_of(record, rid, after, until)
    limit = int(e.args["at_most"])  # type: ignore[call-overload]
    text = (f"{rid} moved {len(found)} time(s) {words}"
            + (": " + ", ".join(f"to {n} at t={t:.2f}s" for t, n in found) if found else ""))
    return Verdict(e.describe(), len(found) <= limit, text, float(len(found)))


_JUDGES: dict[str, Callable[[Record, Expectation], Verdict]] = {
    "never_split": _never_split,
    "outage": _outage,
    "no_outage": _no_outage,
    "availability": _availability,
    "owner_unchanged": _owner_unchanged,
    "ends_on": lambda r, e: _ends_on(r, e, negate=False),
    "ends_not_on": lambda r, e: _ends_on(r, e, negate=True),
    "fenced": _fenced,
    "not_fenced": _not_fenced,
    "all_running": _all_running,
    "never_serves": _never_serves,
    "moves": _moves,
}


def judge(drill: Drill, record: Record) -> list[Verdict]:
    """Every expectation's verdict; `never_split` is always judged (S1 is never optional),
    and a drill whose steps failed gets a failing `steps ran` verdict."""
    expectations = list(drill.expect)
    if not any(e.kind == "never_split" for e in expectations):
        expectations.insert(0, Expectation("never_split"))
    verdicts = [_JUDGES[e.kind](record, e) for e in expectations]
    steps_ok = not record.errors
    verdicts.insert(0, Verdict("steps ran", steps_ok,
                               "all steps ran" if steps_ok else "; ".join(record.errors)))
    return verdicts


def passed(verdicts: Sequence[Verdict]) -> bool:
    return all(v.ok for v in verdicts)
