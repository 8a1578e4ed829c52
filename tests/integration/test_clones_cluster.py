"""Groups, clones and a promotable clone in a real 3-node cluster on loopback (real etcd,
agents, Debian's OCF agents; Pacemaker's Stateful for the promotable clone).

Every test builds its own cluster in a temp dir and always powers it off at the end.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vigil.lab.local import LocalCluster, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

STATEFUL = Path("/usr/lib/ocf/resource.d/pacemaker/Stateful")
needs_stateful = pytest.mark.skipif(not STATEFUL.exists(),
                                    reason="pacemaker-resource-agents is not installed")

RESOURCES = """resources:
  - {id: ip, agent: ocf:heartbeat:Dummy, operations: {monitor: {interval: 1s}}}
  - {id: web, agent: ocf:heartbeat:Dummy, operations: {monitor: {interval: 1s}}}
  - {id: probe, agent: ocf:heartbeat:Dummy, operations: {monitor: {interval: 1s}}}
  - id: db
    agent: ocf:pacemaker:Stateful
    operations: {monitor: {interval: 1s}, monitor_promoted: {interval: 2s}}
groups:
  - {id: stack, members: [ip, web]}
clones:
  - {id: probe-clone, resource: probe}
  - {id: db-clone, resource: db, promotable: true, clone_max: 2}
"""


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    c = LocalCluster(tmp_path / "c", resources_yaml=RESOURCES)
    try:
        yield c
    finally:
        c.down(remove=False)
        for n in c.names:
            assert c.pids(n) == [], f"left-over processes of {n}"


def _nodes(c: LocalCluster, rid: str) -> list[str]:
    for r in c.status()["resources"]:
        if r["id"] == rid:
            return sorted(r["nodes"])
    raise KeyError(rid)


def _attributes(c: LocalCluster, node: str) -> dict[str, Any]:
    return dict(c.call("GET", f"/v1/nodes/{node}/attributes")["attributes"])


@needs_stateful
def test_group_clone_and_promotable_clone_run(cluster: LocalCluster) -> None:
    c = cluster
    c.start()
    wait_for("probe on every node", lambda: _nodes(c, "probe") == c.names, 40)
    wait_for("db on two nodes", lambda: len(_nodes(c, "db")) == 2, 40)
    ip, web = _nodes(c, "ip"), _nodes(c, "web")
    assert len(ip) == 1 and ip == web  # the group's members together
    # Stateful set its promotion score with crm_attribute: published by the executor.
    for node in _nodes(c, "db"):
        wait_for(f"master-db published on {node}",
                 lambda n=node: _attributes(c, n).get("master-db", {}).get("value") in
                 ("5", "10"), 20)
        assert _attributes(c, node)["master-db"]["lifetime"] == "reboot"
    # Stateful's promote sets master-db to 10 (5 while unpromoted): exactly one promoted.
    def promoted() -> list[str]:
        return [n for n in c.names
                if _attributes(c, n).get("master-db", {}).get("value") == "10"]

    wait_for("one db instance promoted", lambda: len(promoted()) == 1, 40)
    time.sleep(2.0)  # and it stays one
    assert len(promoted()) == 1


def test_node_attribute_command(cluster: LocalCluster) -> None:
    c = cluster
    c.start()
    c.wait_settled(60)

    def vigil(*args: str) -> str:
        out = subprocess.run([sys.executable, "-m", "vigil.cli.main", "--api", c.api_url("n1"),
                              "node", "attribute", *args],
                             capture_output=True, text=True, timeout=60, check=False)
        assert out.returncode == 0, out.stderr
        return out.stdout

    assert vigil("n3", "disk", "ssd") == "attribute disk=ssd set on n3\n"
    wait_for("attribute stored", lambda: "disk" in _attributes(c, "n3"), 10)
    assert "disk=ssd  (forever)" in vigil("n3").splitlines()
    assert vigil("n3", "disk") == "ssd\n"
    assert vigil("n3", "disk", "--delete") == "attribute disk of n3 deleted\n"
    wait_for("attribute gone", lambda: "disk" not in _attributes(c, "n3"), 10)
    assert not [line for line in vigil("n3").splitlines() if line.startswith("disk=")]
    events = json.dumps(c.events())
    assert "attribute disk=ssd set on n3" in events
