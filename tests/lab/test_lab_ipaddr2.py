"""Debian's ocf:heartbeat:IPaddr2, run unmodified by vigil inside the network-namespace
lab: the client reaches the service through the address wherever it runs, and a power-off
of its node moves it (IPaddr2's own send_arp announces the new owner)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from vigil.lab.lab_testing import NEEDS_NETNS, lab_fixture
from vigil.lab.netlab import NetnsLab, wait_for

HAVE_IPADDR2 = Path("/usr/lib/ocf/resource.d/heartbeat/IPaddr2").exists()
pytestmark = [
    pytest.mark.root, pytest.mark.integration, pytest.mark.slow, NEEDS_NETNS,
    pytest.mark.skipif(not HAVE_IPADDR2, reason="needs resource-agents (IPaddr2)"),
]

CONFIG = """
store: {etcd_heartbeat_interval: 25ms, etcd_election_timeout: 250ms}
heartbeat: {interval: 50ms, timeout: 250ms}
resources:
  - id: ip
    agent: ocf:heartbeat:IPaddr2
    params: {ip: "${vip}", cidr_netmask: "24", nic: "${nic}"}
    operations: {monitor: {interval: 2s, timeout: 10s}}
  - id: web
    agent: process
    params: {command: "${service}", start_wait: "0.05"}
    operations: {monitor: {interval: 1s, timeout: 5s}}
constraints:
  colocation:
    - {resource: web, with: ip, score: INFINITY}
"""


@pytest.fixture(scope="module")
def lab() -> Iterator[NetnsLab]:
    yield from lab_fixture(CONFIG, "i", nodes=3, links=1, boot_delay=0.5)


def serving(lab: NetnsLab) -> str:
    return wait_for("the service answering", lambda: lab.who_serves(0.3), 15, 0.02)


def test_ipaddr2_serves_through_the_vip(lab: NetnsLab) -> None:
    owner = lab.wait_running("ip", 30)
    assert lab.running_on("web") == owner
    assert lab.vip_holders() == [owner]
    assert serving(lab) == owner
    monitor = lab.exec(owner, ["ip", "-4", "-o", "addr", "show", "dev", "eth1"]).stdout
    assert f"{lab.vip}/24" in monitor


def test_ipaddr2_fails_over_on_poweroff(lab: NetnsLab) -> None:
    victim = lab.wait_running("ip", 30)
    serving(lab)
    fault = lab.faults.poweroff(victim)

    def moved() -> str | None:
        who = lab.who_serves(0.3)
        return who if who and who != victim else None
    other = wait_for("the service on another node", moved, 15, 0.02)
    # the victim may still have it configured: it is off, its links down
    assert set(lab.vip_holders()) in ({other}, {other, victim})
    lab.faults.undo(fault.id)
    wait_for(f"{victim} back without the address", lambda: victim not in lab.vip_holders()
             and lab.agent_pid(victim), 30, 0.2)
    assert lab.vip_holders() == [other]
