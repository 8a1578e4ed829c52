"""`vigil demo`: the whole story end to end, and Ctrl-C leaving nothing behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vigil.lab.local import node_pids

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def tagged(tag: str) -> list[int]:
    return [p for n in ("n1", "n2", "n3") for p in node_pids(f"{tag}/{n}")]


def test_demo_json_reports_a_failover() -> None:
    res = subprocess.run([sys.executable, "-m", "vigil", "demo", "--json"],
                         capture_output=True, text=True, timeout=240)
    assert res.returncode == 0, res.stderr[-2000:]
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["ok"] is True
    assert summary["moved_to"] in ("n1", "n2", "n3")
    assert summary["moved_to"] != summary["powered_off"]
    assert 0 < summary["outage_s"] < 10
    kinds = [e["kind"] for e in summary["timeline"]]
    assert "node-lost" in kinds and "transition" in kinds
    assert not Path(summary["dir"]).exists()
    assert tagged(summary["lab_tag"]) == []


def test_ctrl_c_leaves_no_process_or_directory() -> None:
    proc = subprocess.Popen([sys.executable, "-u", "-m", "vigil", "demo"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    first = proc.stdout.readline()  # "Starting 3 nodes on 127.0.0.1 ... in <dir>"
    assert "Starting 3 nodes" in first
    base = Path(first.rsplit(" in ", 1)[1].strip())
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(base.glob("n*/etcd.pid")):
        time.sleep(0.1)
    tag = json.loads((base / "lab.json").read_text())["tag"]
    wait = time.monotonic() + 30
    while time.monotonic() < wait and len(tagged(tag)) < 6:  # 3 agents + 3 etcd members
        time.sleep(0.1)
    assert len(tagged(tag)) >= 6
    os.kill(proc.pid, signal.SIGINT)
    rest = proc.communicate(timeout=60)[0]
    assert proc.returncode == 130, rest
    assert "interrupted" in rest
    assert not base.exists()
    assert tagged(tag) == []
