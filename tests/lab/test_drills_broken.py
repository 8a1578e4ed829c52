"""Every drill can fail: the same drills against deliberately broken configs, and the
expectation that catches each break.

- fencing disabled + a node hung longer than its lease: the frozen node keeps its VIP
  (a frozen kernel answers ARP) while the lease rule lets the service start elsewhere —
  the split-brain detector sees the VIP on two hosts (the failure DESIGN.md measured for
  Pacemaker without fencing and keepalived);
- no colocation between the VIP and the service: they land on different nodes and the
  client never gets an answer through the VIP.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.lab.drills.runner import DrillRun
from vigil.lab.drills.spec import load_drill_file, load_drill_text
from vigil.lab.lab_testing import NEEDS_NETNS, assert_nothing_left

SUITE = Path(__file__).resolve().parents[2] / "src" / "vigil" / "lab" / "drills" / "suite"

pytestmark = [pytest.mark.root, pytest.mark.integration, pytest.mark.slow, NEEDS_NETNS]


def run(drill: object, tmp_path: Path) -> dict[str, tuple[bool, str]]:
    r = DrillRun(drill, log=print, logs_dir=tmp_path)  # type: ignore[arg-type]
    try:
        result = r.run()
    finally:
        assert_nothing_left(r.lab)
    assert not result.passed
    return {v.expectation: (v.ok, v.observed) for v in result.verdicts}


def test_hang_without_fencing_is_a_split(tmp_path: Path) -> None:
    text = (SUITE / "hang-long.yaml").read_text().replace(
        "name: hang-long", "name: hang-long-no-fencing").replace(
        "steps:", "setup:\n  fencing: false\nsteps:", 1)
    verdicts = run(load_drill_text(text, "hang-long-no-fencing.yaml"), tmp_path)
    ok, observed = verdicts["never_split"]
    assert not ok and "vip on n" in observed, observed
    assert not verdicts["fenced (node: $victim)"][0]


def test_missing_colocation_never_serves(tmp_path: Path) -> None:
    drill = load_drill_file(SUITE / "power-off-active.yaml")
    text = (SUITE / "power-off-active.yaml").read_text().replace(
        "setup:\n  nodes: 3\n", "setup:\n  nodes: 3\n  config: |\n" + "".join(
            f"    {line}\n" for line in NO_COLOCATION.splitlines())).replace(
        "timeout: 60s", "timeout: 10s", 1)
    broken = load_drill_text(text, "power-off-no-colocation.yaml")
    assert broken.name == drill.name and broken.setup.config is not None
    verdicts = run(broken, tmp_path)
    ok, observed = verdicts["steps ran"]
    assert not ok and "until serving" in observed and "timed out" in observed, observed


NO_COLOCATION = """\
store: {etcd_heartbeat_interval: 25ms, etcd_election_timeout: 250ms}
heartbeat: {interval: 50ms, timeout: 250ms}
resources:
  - id: vip
    agent: vip
    params: {ip: "${vip}", cidr_netmask: "24", nic: "${nic}"}
    operations: {monitor: {interval: 500ms, timeout: 5s}}
  - id: web
    agent: process
    params: {command: "${service}", start_wait: "0.05"}
    operations: {monitor: {interval: 500ms, timeout: 5s}}
"""
