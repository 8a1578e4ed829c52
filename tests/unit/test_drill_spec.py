"""Drill files: the shipped suite is valid, and every kind of mistake is reported with
file:line:column, the field and a fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.lab.drills.model import FAULTS
from vigil.lab.drills.spec import DrillInvalid, load_drill_text, load_drills

SUITE = Path(__file__).resolve().parents[2] / "src" / "vigil" / "lab" / "drills" / "suite"

GOOD = """\
name: power-off-active
description: Power off the owner.
steps:
  - until: serving
  - fault: power-off
    node: owner
    as: victim
    mark: fault
expect:
  - outage: {after: fault, at_most: 2s}
  - fenced: {node: $victim}
  - all_running
"""


def problems(text: str) -> list[str]:
    with pytest.raises(DrillInvalid) as info:
        load_drill_text(text, "d.yaml")
    return [str(p) for p in info.value.problems]


def test_the_suite_is_valid_and_covers_the_issue() -> None:
    drills = load_drills([SUITE])
    names = {d.name for d in drills}
    required = {
        "planned-move", "standby", "graceful-stop", "power-off-active", "power-off-dc",
        "power-off-etcd-leader", "hang-short", "hang-long", "agent-crash", "resource-crash",
        "migration-threshold", "one-link-lost", "all-links-lost", "partition-2-1",
        "partition-dc", "store-isolated", "packet-loss", "flapping-link", "failed-stop",
        "rolling-restart",
    }
    assert required <= names
    assert any("ci" in d.tags for d in drills)
    for d in drills:
        assert d.description and d.steps and d.expect, d.name


def test_a_good_drill_reads_with_defaults() -> None:
    d = load_drill_text(GOOD)
    assert d.setup.nodes == 3 and d.setup.links == 2 and d.setup.fencing
    assert d.setup.service == "web" and d.setup.vip == "vip"
    assert [s.mark for s in d.steps] == ["step1", "fault"]
    assert d.steps[1].save_as == "victim" and d.steps[0].seconds == 60.0
    assert [e.kind for e in d.expect] == ["outage", "fenced", "all_running"]
    assert d.expect[0].args == {"after": "fault", "at_most": 2.0}


def test_unknown_keys_faults_and_marks_are_placed_and_explained() -> None:
    text = GOOD.replace("  - fault: power-off\n", "  - fault: power-of\n").replace(
        "description:", "descripton: x\ndescription:").replace(
        "after: fault", "after: faul")
    found = problems(text)
    assert any(p.startswith("d.yaml:2:1: descripton: unknown key 'descripton' — did you mean "
                            "'description'?") for p in found), found
    assert any(p.startswith("d.yaml:6:12: steps[fault].fault: unknown fault 'power-of'")
               for p in found), found
    assert any("expect[0].outage.after: unknown mark 'faul'" in p and p.startswith("d.yaml:11:")
               for p in found), found


def test_variables_must_be_set_before_use_and_selectors_pinned_in_expectations() -> None:
    text = GOOD.replace("node: $victim", "node: owner") + "  - ends_on: {node: $nobody}\n"
    found = problems(text)
    assert any("fenced.node: 'owner' changes during a drill" in p for p in found), found
    assert any("$nobody is not set by an earlier step; add `as: nobody`" in p for p in found)


def test_steps_need_their_arguments() -> None:
    text = GOOD.replace("    node: owner\n", "").replace(
        "  - until: serving\n", "  - until: serving\n    wait: 2s\n  - fault: loss\n")
    found = problems(text)
    assert any("a step has exactly one of wait, until, fault, heal, do; it has wait, until"
               in p for p in found), found
    assert any("fault power-off needs `node:`" in p for p in found), found
    assert any("loss needs `percent:`" in p for p in found), found


def test_config_problems_point_into_the_drill_file() -> None:
    text = GOOD.replace("steps:", """setup:
  nodes: 3
  config: |
    resources:
      - id: vip
        agent: vip
        params: {ip: "${vip}"}
        meta: {stickyness: 3}
steps:""")
    found = problems(text)
    # Line 10 of the drill file, the column of `stickyness` inside the block.
    assert any(p.startswith("d.yaml:10:16: setup.config: resources[vip].meta.stickyness: "
                            "unknown key 'stickyness' — did you mean 'stickiness'?")
               for p in found), found
    found = problems(text.replace("        meta: {stickyness: 3}\n", ""))
    assert any("setup.config: the config has no resource 'web' for setup.service" in p
               for p in found), found


def test_bad_values_and_yaml_errors() -> None:
    found = problems(GOOD.replace("name: power-off-active", "name: power off\nsetup: {nodes: 9}"))
    assert any("name: 'power off' is not a valid drill name" in p for p in found), found
    assert any("setup.nodes: expected a whole number from 2 to 5" in p for p in found), found
    assert problems("name: [unclosed\n")[0].startswith("d.yaml:2:1: invalid YAML")
    assert "a drill is a mapping" in problems("- just a list\n")[0]


def test_reserved_and_duplicate_marks() -> None:
    found = problems(GOOD.replace("mark: fault", "mark: start"))
    assert any("'start' is reserved" in p for p in found), found


def test_duplicate_drill_names_across_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(GOOD)
    (tmp_path / "b.yaml").write_text(GOOD)
    with pytest.raises(DrillInvalid) as info:
        load_drills([tmp_path])
    assert "drill name 'power-off-active' is also used by" in str(info.value)


def test_every_fault_has_an_undo_documented() -> None:
    from vigil.lab.drills.model import HEALS
    assert {f for f in FAULTS if f != "resource-kill"} <= set(HEALS)
