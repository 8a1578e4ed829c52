"""`vigil lab up|fault|status|down` from the command line, on a two-node lab with a
witness (an etcd member only): the witness keeps a majority when the service's node is
powered off, so the other node takes the service over."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from vigil.lab.lab_testing import NEEDS_NETNS, assert_nothing_left, unique_name
from vigil.lab.netlab import NetnsLab, wait_for

pytestmark = [pytest.mark.root, pytest.mark.integration, pytest.mark.slow, NEEDS_NETNS]


def vigil_lab(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vigil", "lab", *args],
                          capture_output=True, text=True, timeout=timeout)


def test_two_nodes_and_a_witness_from_the_cli(tmp_path: Path) -> None:
    name = unique_name("w")
    where = ["--name", name, "--dir", str(tmp_path / "lab")]
    try:
        up = vigil_lab("up", "--nodes", "2", "--witness", "--links", "1", *where)
        assert up.returncode == 0, up.stderr
        assert "3 hosts" not in up.stdout and "(n1, n2, w1, client)" in up.stdout
        assert "ready in" in up.stdout
        again = vigil_lab("up", "--nodes", "1", *where)
        assert again.returncode == 1 and f"lab {name} is up" in again.stderr
        lab = NetnsLab.load(tmp_path / "lab")
        assert lab.witnesses == ["w1"] and lab.etcd_pid("w1") is not None
        owner = lab.wait_running("web", 30)
        wait_for("the service answering", lambda: lab.who_serves(0.3), 15, 0.05)

        off = vigil_lab("fault", "poweroff", owner, *where)
        assert off.returncode == 0, off.stderr
        fid = off.stdout.split()[0]
        other = "n2" if owner == "n1" else "n1"
        assert wait_for("the service on the other node", lambda: lab.who_serves(0.3) == other,
                        20, 0.05)
        st = vigil_lab("status", *where)
        assert st.returncode == 0, st.stderr
        assert f"served by {other}" in st.stdout and f"{fid}   poweroff" in st.stdout

        undo = vigil_lab("fault", "undo", "all", *where)
        assert undo.returncode == 0 and f"undone: {fid} poweroff {owner}" in undo.stdout
        wait_for(f"{owner} online", lambda: all(
            n["state"] == "online" for n in lab.status()["nodes"] if n["name"] != "w1"), 60, 0.2)
    finally:
        down = vigil_lab("down", "--remove", *where)
    assert down.returncode == 0, down.stderr
    assert "removed 5 namespace(s)" in down.stdout
    assert_nothing_left(NetnsLab.create(tmp_path / "lab", name=name))
