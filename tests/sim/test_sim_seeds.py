"""The simulator's acceptance run: thousands of seeds with zero violations, regression
seeds for every bug it found, determinism, shrinking and the `vigil sim` commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner
from tests.sim.bites import switched_off

from vigil.cli.sim_cmds import sim
from vigil.sim.faults import Fault
from vigil.sim.runner import run_seeds
from vigil.sim.shrink import shrink
from vigil.sim.world import World, run_seed

SEEDS = int(os.environ.get("VIGIL_SIM_SEEDS", "2000"))

REGRESSION: dict[int, tuple[str, list[Fault]]] = {
    1122: ("the watchdog killed a paused agent's resources while its lease was still "
           "valid; the agent kept reporting them running and an unmonitored one never "
           "came back (fixed: core.lifecycle.self_fenced ends the session and re-probes)",
           [Fault(15.831, "pause", "n3", duration=2.169)]),
    4693: ("a fencing outcome recorded late (the fencer stalled) after the fenced node had "
           "rebooted and joined again made the cluster count the live node as off and "
           "start its resources elsewhere (S1); fixed: core.fencing_policy.outcome_txn "
           "records it only while our own `running` record is still there",
           [Fault(4.691, "crash", "n1", duration=0.8),
            Fault(7.4, "store_cut", "n2", duration=1.5),
            Fault(8.864, "pause", "n2", duration=7.0)]),
    30784: ("a node (re)joined and its probe reported a resource possibly active there "
            "while a transition written just before was starting it on another node "
            "(S4: started before the previous owner was known stopped); fixed: "
            "core.node.runnable_actions starts nothing from a transition older than a "
            "member's (re)join, and the DC's fingerprint sees re-joins",
            [Fault(4.649, "flaky_agents", "n2", duration=4.0, amount=0.7),
             Fault(6.419, "slow", duration=4.0, amount=0.9)]),
}
"""Seeds that found bugs in vigil's core: what was wrong, and the shrunk schedule that
showed it (kept explicitly, so a change to how schedules are drawn keeps the case)."""


def test_thousands_of_seeds_without_a_violation() -> None:
    summary = run_seeds(range(SEEDS))
    assert summary.seeds == SEEDS
    failures = [f"seed {o.seed}: {'; '.join(o.violations)}" for o in summary.failed]
    assert not failures, "\n".join(failures)
    assert summary.simulated >= SEEDS * 20  # each run covers at least 20 simulated seconds


def test_regression_seeds() -> None:
    for seed, (why, schedule) in REGRESSION.items():
        for result in (run_seed(seed), World(seed, faults=schedule).run()):
            assert result.ok, f"seed {seed} ({why}): {result.violations[0].describe()}"


def test_regression_seed_1122_fails_without_its_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    from vigil.core import lifecycle
    monkeypatch.setattr(lifecycle, "self_fenced", lambda fired_at, since, active: None)
    result = World(1122, faults=REGRESSION[1122][1]).run()
    assert [v.rule for v in result.violations] == ["L1"]


def test_regression_seed_4693_fails_without_its_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    import vigil.sim.node as sim_node
    from vigil.store.base import Put

    def unguarded(keys, done, rev, hist):  # type: ignore[no-untyped-def]
        puts = [Put(keys.fencing(done.node), done.to_json()), Put(hist, done.to_json())]
        return [], puts, []

    monkeypatch.setattr(sim_node, "outcome_txn", unguarded)
    result = World(4693, faults=REGRESSION[4693][1]).run()
    assert result.violations and result.violations[0].rule == "S1"


def test_a_seed_replays_exactly() -> None:
    a = run_seed(7, trace=True)
    b = run_seed(7, trace=True)
    assert a.trace == b.trace and len(a.trace) > 20


def test_replay_does_not_depend_on_hash_seeds() -> None:
    code = ("import hashlib,sys; from vigil.sim.world import run_seed; "
            "print(hashlib.sha256('\\n'.join(run_seed(11, trace=True).trace).encode())"
            ".hexdigest())")
    digests = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, check=True)
        digests.add(out.stdout.strip())
    assert len(digests) == 1


def test_shrinking_keeps_a_short_schedule_that_still_fails() -> None:
    with switched_off("keep_running_after_lease_loss"):
        seed = 2
        world = World(seed)
        noise = [Fault(4.0 + i, "loss", duration=0.3, amount=0.2) for i in range(6)]
        faults = sorted([*world.faults, *noise], key=lambda f: f.at)
        first = World(seed, faults=faults).run()
        assert first.violations and first.violations[0].rule == "S2"
        small, last = shrink(seed, faults, "S2")
    assert len(small) < len(faults)
    assert last is not None and any(v.rule == "S2" for v in last.violations)


def test_cli_run_json_and_text() -> None:
    runner = CliRunner()
    res = runner.invoke(sim, ["run", "--seeds", "6", "--workers", "1", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["seeds"] == 6 and doc["violations"] == 0 and doc["throughput"] > 0
    assert doc["intensity"] == 1
    res = runner.invoke(sim, ["run", "--seeds", "3", "--start", "40", "--nodes", "3",
                              "--workers", "1"])
    assert res.exit_code == 0, res.output
    assert "seeds run:   3 (40..42; clusters by size 3: 3)" in res.output
    assert "violations:  0" in res.output


def test_cli_replay_prints_the_trace() -> None:
    res = CliRunner().invoke(sim, ["replay", "3"])
    assert res.exit_code == 0, res.output
    assert "fault schedule:" in res.output and "elected coordinator (DC)" in res.output
    assert "no violation" in res.output


def test_cli_run_reports_and_shrinks_a_failing_seed() -> None:
    with switched_off("start_before_stop"):
        res = CliRunner().invoke(sim, ["run", "--seeds", "1", "--workers", "1"])
    assert res.exit_code == 1
    assert "violations:  " in res.output and "replay: vigil sim replay 0" in res.output
    assert "shrunk fault schedule that still fails:" in res.output


def test_regression_seed_30784_fails_without_its_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    import vigil.core.node as core_node
    monkeypatch.setattr(core_node, "STARTING", ())
    result = World(30784, faults=REGRESSION[30784][1]).run()
    assert result.violations and result.violations[0].rule == "S4"


def test_storms_add_faults_without_changing_a_seeds_own_schedule() -> None:
    plain = World(5).faults
    storm = World(5, intensity=3).faults
    assert len(storm) > len(plain) and set(plain) <= set(storm)
    assert run_seed(5, intensity=3).ok
