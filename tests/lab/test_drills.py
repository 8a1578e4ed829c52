"""The drill suite's CI subset (drills tagged `ci`) against real labs: real etcd members,
agents, fencing and VIPs in network namespaces. Each drill must pass, and leave nothing
behind (namespaces, bridges, nft tables, processes). `make drill` runs the whole suite.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.lab.drills.runner import DrillRun
from vigil.lab.drills.spec import load_drills
from vigil.lab.lab_testing import NEEDS_NETNS, assert_nothing_left

SUITE = Path(__file__).resolve().parents[2] / "src" / "vigil" / "lab" / "drills" / "suite"
CI = [d for d in load_drills([SUITE]) if "ci" in d.tags]

pytestmark = [pytest.mark.root, pytest.mark.integration, pytest.mark.slow, NEEDS_NETNS]


@pytest.mark.parametrize("drill", CI, ids=[d.name for d in CI])
def test_ci_drill_passes(drill: object, tmp_path: Path) -> None:
    run = DrillRun(drill, log=print, logs_dir=tmp_path)  # type: ignore[arg-type]
    try:
        result = run.run()
    finally:
        assert_nothing_left(run.lab)
    failed = [f"{v.expectation}: {v.observed}" for v in result.verdicts if not v.ok]
    assert result.passed, "\n".join(failed)
    # The samplers kept up: 20 ms probes and passes, no long holes.
    assert len(result.record.probes) >= 0.8 * result.record.duration / 0.02
    assert result.record.sampler_cost["max_gap_ms"] < 500
