"""`vigil simulate` against a live (loopback) cluster: config and state come from the API.

An integration test (real etcd, real agents) kept next to the other simulate tests.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from vigil.lab.local import LocalCluster

pytestmark = [pytest.mark.integration]

RESOURCES = """resources:
  - id: d
    agent: ocf:heartbeat:Dummy
  - id: e
    agent: ocf:heartbeat:Dummy
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    c = LocalCluster(tmp_path_factory.mktemp("sim"), nodes=2, resources_yaml=RESOURCES)
    c.start()
    try:
        c.wait_running("d", 60)
        c.wait_running("e", 60)
        yield c
    finally:
        c.down(remove=False)


def simulate(c: LocalCluster, *args: str) -> str:
    res = subprocess.run([sys.executable, "-m", "vigil", "--api", c.api_url("n1"), "simulate",
                          *args], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


def summary(out: str) -> list[str]:
    lines = out.splitlines()
    body = lines[lines.index("Transition Summary:") + 1:]
    return body[:body.index("")] if "" in body else body


def test_settled_cluster_has_nothing_to_do(cluster: LocalCluster) -> None:
    out = simulate(cluster)
    assert "Current cluster status:" in out and "Revised Cluster Status:" in out
    assert summary(out) == []


def test_what_if_the_node_running_them_goes_down(cluster: LocalCluster) -> None:
    status = cluster.call("GET", "/v1/status")
    where = {r["id"]: r["node"] for r in status["resources"]}
    down = where["d"]
    other = "n2" if down == "n1" else "n1"
    lines = summary(simulate(cluster, "--node-down", down))
    expected = [f"  * Start      {rid}       (    {other} )"
                for rid in ("d", "e") if where[rid] == down]
    assert lines == expected
    # nothing was changed by asking
    assert {r["id"]: r["node"] for r in cluster.call("GET", "/v1/status")["resources"]} == where
