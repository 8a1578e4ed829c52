"""Pacemaker fidelity: vigil's Transition Summary for each CIB in cases/ against the one
crm_simulate printed (cases/<case>.summary, made by regen.py).

Cases where vigil differs are listed in KNOWN_DIFFERENCES with the reason (deliberate
ones are in docs/pacemaker.md) and xfail; a listed case that starts to match fails, so
the list stays true. When crm_simulate is installed, the golden files are checked against
it too, so they cannot go stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from compare import (
    expected_for_vigil,
    expected_status,
    parse_summary,
    vigil_run,
    vigil_status,
    vigil_summary,
)
from crm import cases, crm_run, crm_simulate, golden_path, revised_path, status_path

from vigil.scheduler.summary import format_summary

CASES = cases()
IDS = [c.stem for c in CASES]

# Deliberate differences (docs/pacemaker.md, "Deliberate differences").
KNOWN_DIFFERENCES: dict[str, str] = {
    "node-unclean": "deliberate: vigil's scheduler does not fence a lost node; the "
                    "coordinator does, and its resources stay blocked until then (S4)",
    "node-fail-fencing": "deliberate: as node-unclean, for a node failed by a what-if",
    "allow-migrate": "deliberate: vigil has no live migration (migrate_to/migrate_from); "
                     "the resource moves by stop and start",
    "order-unrunnable-first": "deliberate: vigil lists no blocked actions (crm_simulate's "
                              "'Start then ... (blocked)' line); the other line matches",
    "stop-failed-fencing": "deliberate: vigil recovers svc only after node1's fencing is "
                           "confirmed (S4), so crm_simulate's 'Recover svc ( node1 -> node2 )' "
                           "is missing; the Fence and Start lines match",
    "on-fail-fence-monitor": "deliberate: as stop-failed-fencing, for a monitor with "
                             "on-fail=fence: the Fence and Start lines match, svc is "
                             "recovered after the fencing is confirmed (S4)",
    "no-quorum-stop": "deliberate: vigil's scheduler has no quorum input (only a DC holding "
                      "the store's quorum schedules; a node without it stops its resources "
                      "itself, lease + watchdog), so no 'Stop ... due to no quorum' lines",
    "no-quorum-freeze": "deliberate: as no-quorum-stop; crm_simulate lists 'Start other "
                        "( node1 ) due to quorum freeze (blocked)', vigil (whose "
                        "scheduler runs only with quorum) starts it",
    "multiple-active-stop-unexpected": "deliberate: crm_simulate has no expected copy to "
                                       "keep (both plain starts) and restarts as stop_start "
                                       "('Restart dup ( node1 )'); vigil keeps the copy on "
                                       "the node placement chooses ('Stop dup ( node2 )')",
    "colocation-pull-rounding": "deliberate: x with y 50, x +100 on node3: the scaled pull "
                                "(100 x 50/INFINITY) rounds to 0 in vigil; Pacemaker counts "
                                "+1 and starts y on node3 ('Start y ( node3 )', vigil: "
                                "node1), a rule that costs it convergence",
    "colocation-with-clone-pull": "deliberate: as colocation-pull-rounding, for x with a "
                                  "clone (50): crm_simulate pulls an instance to node3 "
                                  "('Start cl:0 ( node3 )'), vigil places them on node1 and "
                                  "node2",
}
# Gaps in the scheduler, reported to the scheduler helper (.coord/requests.md); these
# cases start passing when the scheduler does what Pacemaker does.
KNOWN_DIFFERENCES.update({
    # none open on 2026-11-25
})


def _golden(case: Path) -> list[str]:
    return golden_path(case).read_text().splitlines()


# Cases whose "Current cluster status" vigil shows differently (display only).
KNOWN_STATUS_DIFFERENCES: dict[str, str] = {}
# Cases whose "Revised Cluster Status" differs although the summary matches.
KNOWN_REVISED_DIFFERENCES: dict[str, str] = {}


def _compare(case: Path, known: dict[str, str], got: list[str], want: list[str]) -> None:
    """Equal, or a listed difference (xfail); a listed case that now matches fails, so
    the list cannot go stale."""
    if case.stem in known:
        assert got != want, f"{case.stem} now matches crm_simulate: remove it from the list"
        pytest.xfail(known[case.stem])
    assert got == want


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_golden_is_what_crm_simulate_prints(case: Path) -> None:
    if crm_simulate() is None:
        pytest.skip("crm_simulate not installed (scripts/install-deps.sh installs it)")
    status, summary, revised = crm_run(case)
    assert summary == _golden(case)
    assert status == status_path(case).read_text().splitlines()
    assert revised == revised_path(case).read_text().splitlines()


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_vigil_status_matches_crm_simulate(case: Path) -> None:
    """The importer reads the status section as Pacemaker does, and vigil shows it alike."""
    golden = status_path(case).read_text().splitlines()
    _compare(case, KNOWN_STATUS_DIFFERENCES, vigil_status(case), expected_status(golden))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_summary_layout_matches_crm_simulate(case: Path) -> None:
    """Our formatter lays out crm_simulate's own lines exactly as crm_simulate does."""
    golden = _golden(case)
    assert format_summary(*parse_summary(golden)) == golden


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_vigil_matches_crm_simulate(case: Path) -> None:
    _compare(case, KNOWN_DIFFERENCES, vigil_summary(case),
             expected_for_vigil(case, _golden(case)))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_vigil_revised_status_matches_crm_simulate(case: Path) -> None:
    """After every action succeeded, both show the same cluster (where the summaries
    match; where they differ, the revised status differs as a consequence)."""
    if case.stem in KNOWN_DIFFERENCES:
        pytest.skip(f"summary differs (listed): {KNOWN_DIFFERENCES[case.stem]}")
    golden = revised_path(case).read_text().splitlines()
    _compare(case, KNOWN_REVISED_DIFFERENCES, vigil_run(case)[1], expected_status(golden))
