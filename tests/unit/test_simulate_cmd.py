"""`vigil simulate` and `vigil import cib` through the CLI, on the fidelity corpus."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from vigil.cli.main import main

CASES = Path(__file__).parents[1] / "fidelity" / "cases"


def test_simulate_cib_prints_the_transition_summary() -> None:
    result = CliRunner().invoke(main, ["simulate", "--cib", str(CASES / "stickiness.xml")])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["Transition Summary:", *(
        CASES / "stickiness.summary").read_text().splitlines()]


def test_import_then_simulate_a_what_if(tmp_path: Path) -> None:
    cfg, st = tmp_path / "vigil.yaml", tmp_path / "state.json"
    runner = CliRunner()
    result = runner.invoke(main, ["import", "cib", str(CASES / "node-standby.xml"),
                                  "-o", str(cfg), "--state", str(st)])
    assert result.exit_code == 0, result.output
    assert json.loads(st.read_text())["nodes"]["node1"]["standby"] is True
    result = runner.invoke(main, ["--config", str(cfg), "simulate", "--state", str(st),
                                  "--online", "node1", "--node-down", "node3",
                                  "--op-fail", "a_monitor_10000@node1=7"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Current cluster status:" in out and "Revised Cluster Status:" in out
    summary = out.split("Transition Summary:\n")[1].split("\n\n")[0].splitlines()
    # crm_simulate's answer for the same what-ifs (tests/fidelity/cases/recover-in-place-tie).
    assert summary == ["  * Recover    a       (          node1 )",
                       "  * Move       b       ( node1 -> node2 )"]


def test_bad_what_if_names_the_problem(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["simulate", "--cib", str(CASES / "stickiness.xml"),
                                       "--node-down", "nodeX"])
    assert result.exit_code == 1
    assert "no node named 'nodeX'" in result.stderr
