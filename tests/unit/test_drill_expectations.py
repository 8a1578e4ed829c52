"""Judging drill records: outages, splits, owners, fencing, final state (pure)."""

from __future__ import annotations

import math

from vigil.lab.drills.expectations import judge, outages, passed, splits
from vigil.lab.drills.model import Drill, Expectation, Setup
from vigil.lab.drills.record import HolderSample, Mark, ProbeSample, Record


def failover_record(outage: tuple[float, float] = (5.0, 5.6), split_at: float | None = None,
                    back_to_victim: bool = False) -> Record:
    """A 10 s run: n1 serves, is powered off at t=5, n2 serves from the end of the
    outage; optionally both hold the VIP for 60 ms, or n1 answers again at the end."""
    r = Record("power-off-active", ["n1", "n2", "n3"], "web", "vip", duration=10.0)
    t = 0.0
    while t < 10.0:
        if outage[0] <= t < outage[1]:
            r.probes.append(ProbeSample(t, False))
        else:
            node = "n1" if t < outage[0] else "n2"
            if back_to_victim and t > 9.0:
                node = "n1"
            r.probes.append(ProbeSample(t, True, node, 0.001))
        owner: tuple[str, ...] = ("n1",) if t < 5.0 else () if t < 5.3 else ("n2",)
        vip = owner
        if split_at is not None and split_at <= t < split_at + 0.06:
            vip = ("n1", "n2")  # e.g. a frozen n1 that still answers ARP
        r.holders.append(HolderSample(t, {"vip": vip, "web": owner}))
        t = round(t + 0.02, 4)
    r.marks = [Mark("fault", 5.0, 5.01, "fault power-off n1", "fault")]
    r.variables = {"victim": "n1"}
    r.final_resources = {"vip": {"state": "started", "node": "n2"},
                         "web": {"state": "started", "node": "n2"}}
    r.fenced = ["n1"]
    return r


def drill(*expect: Expectation) -> Drill:
    return Drill("power-off-active", "d", Setup(), (), expect)


def test_outage_is_measured_from_the_last_success_to_the_next() -> None:
    r = failover_record()
    found = outages(r.probes, after=5.0)
    assert len(found) == 1
    assert math.isclose(found[0].start, 4.98, abs_tol=1e-6)
    assert math.isclose(found[0].seconds, 0.62, abs_tol=1e-6)
    assert outages(r.probes, after=0.0, until=4.0) == []


def test_an_outage_that_never_ends_is_infinite() -> None:
    r = failover_record(outage=(5.0, 99.0))
    verdicts = judge(drill(Expectation("outage", {"after": "fault", "at_most": 2.0})), r)
    v = verdicts[-1]
    assert not v.ok and v.figure == math.inf
    assert "did not answer again" in v.observed


def test_outage_within_the_bound_passes_and_beyond_fails() -> None:
    r = failover_record()
    ok = judge(drill(Expectation("outage", {"after": "fault", "at_most": 2.0})), r)
    assert passed(ok)
    tight = judge(drill(Expectation("outage", {"after": "fault", "at_most": 0.5})), r)
    assert not passed(tight)
    assert tight[-1].figure is not None and math.isclose(tight[-1].figure, 0.62, abs_tol=1e-6)


def test_splits_are_found_and_never_split_is_always_judged() -> None:
    r = failover_record(split_at=5.3)
    found = splits(r.holders)
    assert [(s.resource, s.nodes) for s in found] == [("vip", ("n1", "n2"))]
    assert 0.04 <= found[0].end - found[0].start <= 0.08
    verdicts = judge(drill(), r)  # no expectations written: never_split still judged
    assert [v.expectation for v in verdicts] == ["steps ran", "never_split"]
    assert not verdicts[1].ok and "vip on n1 and n2" in verdicts[1].observed
    assert passed(judge(drill(), failover_record()))


def test_owner_unchanged_fails_on_a_failover() -> None:
    r = failover_record()
    v = judge(drill(Expectation("owner_unchanged", {})), r)[-1]
    assert not v.ok and "n1, n2" in v.observed
    v = judge(drill(Expectation("owner_unchanged", {"until": "fault"})), r)[-1]
    assert v.ok, v.observed


def test_ends_on_fenced_and_never_serves_use_the_saved_variable() -> None:
    r = failover_record()
    verdicts = judge(drill(Expectation("ends_not_on", {"node": "$victim"}),
                           Expectation("ends_on", {"node": "n2", "resource": "vip"}),
                           Expectation("fenced", {"node": "$victim"}),
                           Expectation("never_serves", {"node": "$victim", "after": "fault"}),
                           Expectation("all_running", {})), r)
    assert passed(verdicts), [v for v in verdicts if not v.ok]
    assert not judge(drill(Expectation("not_fenced", {})), r)[-1].ok
    assert not judge(drill(Expectation("ends_on", {"node": "$victim"})), r)[-1].ok


def test_never_serves_fails_when_the_old_owner_answers_again() -> None:
    r = failover_record(back_to_victim=True)
    v = judge(drill(Expectation("never_serves", {"node": "$victim", "after": "fault"})), r)[-1]
    assert not v.ok and "first answer at t=9.0" in v.observed


def test_availability_and_no_outage() -> None:
    r = failover_record()
    v = judge(drill(Expectation("availability", {"at_least": 0.9})), r)[-1]
    assert v.ok and v.figure is not None and 0.93 < v.figure < 0.95
    assert not judge(drill(Expectation("no_outage", {})), r)[-1].ok
    assert judge(drill(Expectation("no_outage", {"until": "fault"})), r)[-1].ok


def test_all_running_needs_a_final_status_and_one_holder_each() -> None:
    r = failover_record()
    r.final_resources["web"] = {"state": "stopped", "node": None}
    v = judge(drill(Expectation("all_running", {})), r)[-1]
    assert not v.ok and "web stopped" in v.observed
    r.final_resources = {}
    assert not judge(drill(Expectation("all_running", {})), r)[-1].ok


def test_a_failed_step_fails_the_drill() -> None:
    r = failover_record()
    r.errors.append("step2 until serving: timed out after 30s")
    verdicts = judge(drill(), r)
    assert not verdicts[0].ok and "timed out" in verdicts[0].observed


def test_record_json_round_trip() -> None:
    r = failover_record(split_at=5.3)
    back = Record.from_json(r.to_json())
    assert back.probes[:3] == r.probes[:3]
    assert back.holders[-1] == r.holders[-1]
    assert back.marks == r.marks and back.fenced == ["n1"]
