"""`vigil lab down` removes everything of a lab, also when the run that built it crashed
(its state file gone): namespaces, bridges, nftables tables, processes."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from vigil.lab import netns
from vigil.lab.lab_testing import NEEDS_NETNS, assert_nothing_left, tagged_processes, unique_name
from vigil.lab.netlab import NetnsLab

pytestmark = [pytest.mark.root, pytest.mark.integration, NEEDS_NETNS]


def test_down_cleans_a_crashed_lab(tmp_path: Path) -> None:
    name = unique_name("x")
    lab = NetnsLab.create(tmp_path / "lab", name=name, nodes=2, links=2)
    try:
        lab.up(start=False)  # network only: fast
        assert len(netns.namespaces(lab.prefix)) == 4  # n1, n2, client, switch
        stray = lab.popen("n1", ["sleep", "600"], stdout=subprocess.DEVNULL)
        lab.faults.loss("n2", 50)
        lab.faults.partition([["n1"], ["n2"]])
        assert "vigil_lab_" in lab.exec("n2", ["nft", "list", "tables"]).stdout
        flapper = lab.faults.flap_link("n1", 1, 0.1, 0.1).undo["pid"]  # in the root netns
        assert {stray.pid, flapper} <= set(tagged_processes(name))  # (+ its `sleep`)
        (lab.dir / "lab.json").unlink()  # the run that built it crashed: no state file
        out = subprocess.run([sys.executable, "-m", "vigil", "lab", "down", "--name", name],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert "removed 4 namespace(s)" in out.stdout
        stray.wait(5)
        assert_nothing_left(lab)
    finally:
        lab.down(remove=True)
    assert_nothing_left(lab)


def test_up_removes_leftovers_of_the_same_name(tmp_path: Path) -> None:
    name = unique_name("y")
    first = NetnsLab.create(tmp_path / "a", name=name, nodes=1, links=1)
    second = NetnsLab.create(tmp_path / "b", name=name, nodes=1, links=1)
    try:
        first.up(start=False)
        stray = first.popen("n1", ["sleep", "600"], stdout=subprocess.DEVNULL)
        time.sleep(0.05)
        second.up(start=False)
        assert stray.wait(5) is not None  # killed with the old namespaces
        assert netns.namespaces(second.prefix) == sorted(
            [second.ns("n1"), second.ns("client"), second.switch_ns])
    finally:
        second.down(remove=True)
        first.down(remove=True)
    assert_nothing_left(second)


def test_up_starts_a_new_cluster_in_a_used_dir_and_keeps_foreign_files(tmp_path: Path) -> None:
    name = unique_name("z")
    d = tmp_path / "lab"
    first = NetnsLab.create(d, name=name, nodes=1, links=1)
    try:
        first.up(start=False)
        (first.state_dir("n1") / "etcd").mkdir()  # an earlier cluster's data
        (d / "notes.txt").write_text("mine\n")
        first.down()
        second = NetnsLab.create(d, name=name, nodes=1, links=1)
        second.up(start=False)
        assert not (second.state_dir("n1") / "etcd").exists()
        assert (d / "notes.txt").read_text() == "mine\n"
        assert (second.state_dir("n1") / "boot.sh").exists()
    finally:
        first.down(remove=True)
    assert_nothing_left(first)
