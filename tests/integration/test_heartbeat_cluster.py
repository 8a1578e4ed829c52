"""Direct heartbeats in a real cluster: a silent node is fenced and its resources move
before its lease expires; one lost link of two is only an alert; forged packets do
nothing."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.integration.test_cluster import event_index, resources, sleeper

from vigil.lab.local import LocalCluster, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    res = resources(sleeper("app"))
    c = LocalCluster(tmp_path / "c", 3, timings={"self_fence_timeout": "8s"},
                     resources_yaml=res, links=2,
                     heartbeat={"interval": "50ms", "timeout": "300ms"})
    c.extra_yaml = c.lab_fencing_yaml(record=tmp_path / "fence.log")
    c.write_config(res)
    try:
        yield c
    finally:
        c.down(remove=False)
        for n in c.names:
            assert c.pids(n) == []


def heartbeats(c: LocalCluster, node: str) -> dict[str, object]:
    doc = c.status(node)["local"]["heartbeats"]
    assert doc is not None
    return dict(doc)


def test_silent_node_is_fenced_before_its_lease_expires(cluster: LocalCluster) -> None:
    c = cluster
    c.start()
    owner = c.wait_running("app")
    c.wait_settled()
    others = [n for n in c.names if n != owner]
    wait_for("heartbeats between all nodes", lambda: all(
        set(heartbeats(c, n)["peers"].values()) == {"alive"} for n in others), 10)  # type: ignore[union-attr]
    t0 = time.monotonic()
    c.power_off(owner)
    other = c.wait_running("app", 20, lambda n: n != owner)
    took = time.monotonic() - t0
    assert took < 2.0, f"took {took:.2f}s: no faster than the 2 s lease"
    ev = c.events()
    i = event_index(ev, "silent on every heartbeat link")
    assert i < event_index(ev, f"start app on {other}: ok")


def test_forged_packets_are_rejected(cluster: LocalCluster) -> None:
    c = cluster
    c.start()
    c.wait_running("app")
    target = c.names[0]
    addr = c.link_addresses[target][0]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for i in range(20):
            s.sendto(b"VGL\x01" + bytes(60) + i.to_bytes(4, "big"), (addr, c.hb_port))
    wait_for("forged packets counted", lambda: sum(
        heartbeats(c, target)["rejected"].values()) >= 20, 10)  # type: ignore[union-attr]
    assert set(heartbeats(c, target)["peers"].values()) <= {"alive", "unknown"}  # type: ignore[union-attr]


@pytest.mark.root
@pytest.mark.skipif(shutil.which("nft") is None, reason="needs nftables (apt-get install nftables)")
def test_one_link_down_is_an_alert_not_a_failover(cluster: LocalCluster) -> None:
    c = cluster
    c.start()
    owner = c.wait_running("app")
    c.wait_settled()
    link1 = c.link_addresses[owner][1]
    table = f"vigil_test_{c.hb_port}"
    rules = (f"table inet {table} {{\n chain out {{\n  type filter hook output priority 0;\n"
             f"  ip daddr {link1} udp dport {c.hb_port} drop\n"
             f"  ip saddr {link1} udp dport {c.hb_port} drop\n }}\n}}\n")
    subprocess.run(["nft", "-f", "-"], input=rules, text=True, check=True)
    try:
        other = next(n for n in c.names if n != owner)
        wait_for("the alert", lambda: heartbeats(c, other)["alerts"], 10)
        time.sleep(1.5)  # long enough for a (wrong) failover to have happened
        assert c.running_on("app") == owner
        assert all(e["kind"] != "fencing" for e in c.events())
        assert any(e["kind"] == "link" for e in c.events())
    finally:
        subprocess.run(["nft", "delete", "table", "inet", table], check=False)
