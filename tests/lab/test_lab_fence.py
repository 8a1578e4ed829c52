"""The lab fence device (fence_netns) on bare lab hosts, speaking the fence-agents
protocol: off silences the host completely (no ARP for an address still configured on
it), kills every process in it, status tells on from off, on resets and boots it."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from vigil.lab import netns
from vigil.lab.lab_testing import NEEDS_NETNS, assert_nothing_left, unique_name
from vigil.lab.netlab import NetnsLab, wait_for

pytestmark = [pytest.mark.root, pytest.mark.integration, NEEDS_NETNS]

EXTRA = "198.18.1.150"


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[NetnsLab]:
    lab = NetnsLab.create(tmp_path / "lab", name=unique_name("f"), nodes=2, links=2)
    try:
        lab.up(start=False)  # hosts and links only; the test starts what it needs
        yield lab
    finally:
        lab.down(remove=True)
        assert_nothing_left(lab)


def fence(lab: NetnsLab, action: str, plug: str = "n1",
          **extra: str) -> subprocess.CompletedProcess[str]:
    params = lab.fence_device()["params"] | {"boot_delay": "0"} | extra
    text = "\n".join([f"action={action}", f"plug={plug}", *(f"{k}={v}" for k, v in
                                                           params.items())]) + "\n"
    return subprocess.run([str(lab.fence_agent)], input=text, capture_output=True,
                          text=True, timeout=30)


def reaches(lab: NetnsLab, ip: str) -> bool:
    """The client gets an answer from `ip` (a TCP RST from a closed port counts)."""
    r = lab.exec("client", ["python3", "-c", (
        "import socket,sys\ns=socket.socket();s.settimeout(0.5)\n"
        "try: s.connect((sys.argv[1], 9))\nexcept ConnectionRefusedError: sys.exit(0)\n"
        "except OSError: sys.exit(1)\n"), ip])
    return r.returncode == 0


def neighbour_state(lab: NetnsLab, ip: str) -> str:
    out = lab.exec("client", ["ip", "-j", "neigh", "show", ip]).stdout
    data = json.loads(out or "[]")
    return ",".join(data[0].get("state", [])) if data else "none"


def test_metadata_and_monitor() -> None:
    from vigil.lab.lab_config import DATA
    r = subprocess.run([str(DATA / "fence_netns.sh")], input="action=metadata\n",
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0 and 'name="fence_netns"' in r.stdout
    assert '<action name="reboot"/>' in r.stdout
    r = subprocess.run([str(DATA / "fence_netns.sh")], input="action=monitor\n",
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0


def test_off_silences_the_host_and_kills_everything(lab: NetnsLab) -> None:
    netns.ip("addr", "add", f"{EXTRA}/24", "dev", "eth1", ns=lab.ns("n1"))
    assert reaches(lab, EXTRA)
    sleepers = [lab.popen("n1", ["sleep", "600"]) for _ in range(3)]
    assert fence(lab, "status").returncode == 0  # processes: on
    t = time.monotonic()
    off = fence(lab, "off")
    took = time.monotonic() - t
    assert off.returncode == 0, off.stderr
    assert lab.pids("n1") == []
    assert all(p.wait(5) == -9 for p in sleepers)
    assert fence(lab, "status").returncode == 2  # off
    # the address is still configured, but nobody answers for it, not even ARP
    assert EXTRA in netns.ip("-4", "addr", "show", "dev", "eth1", ns=lab.ns("n1"))
    netns.ip("neigh", "flush", "all", ns=lab.ns("client"))
    assert not reaches(lab, EXTRA)
    assert neighbour_state(lab, EXTRA) in ("FAILED", "INCOMPLETE", "none")
    assert took < 2.0


def test_on_resets_addresses_brings_links_up_and_boots(lab: NetnsLab) -> None:
    netns.ip("addr", "add", f"{EXTRA}/24", "dev", "eth1", ns=lab.ns("n1"))
    assert fence(lab, "off").returncode == 0
    on = fence(lab, "on")
    assert on.returncode == 0, on.stderr
    addrs = netns.ip("-4", "-o", "addr", "show", "dev", "eth1", ns=lab.ns("n1"))
    assert EXTRA not in addrs and lab.address("n1") in addrs
    assert reaches(lab, lab.address("n1"))
    wait_for("n1's agent booted", lambda: lab.agent_pid("n1"), 10, 0.05)
    assert fence(lab, "status").returncode == 0
    again = lab.agent_pid("n1")
    assert fence(lab, "on").returncode == 0  # already on: nothing booted twice
    time.sleep(0.3)
    assert lab.agent_pid("n1") == again


def test_reboot_returns_when_off_and_boots_in_the_background(lab: NetnsLab) -> None:
    lab.popen("n1", ["sleep", "600"])
    r = fence(lab, "reboot", boot_delay="0.5")
    assert r.returncode == 0 and "Rebooted" in r.stdout
    assert lab.pids("n1") == []  # off at once
    wait_for("n1 booted again", lambda: lab.agent_pid("n1"), 10, 0.05)


def test_list_and_list_status(lab: NetnsLab) -> None:
    assert fence(lab, "list", plug="").stdout.split() == ["n1,n1", "n2,n2"]
    lab.popen("n2", ["sleep", "600"])
    assert fence(lab, "list-status", plug="").stdout.split() == ["n1,n1,off", "n2,n2,on"]


def test_fail_knob_and_unknown_host(lab: NetnsLab) -> None:
    assert fence(lab, "off", fail="1").returncode == 1
    bad = fence(lab, "off", plug="nosuch")
    assert bad.returncode == 1 and "no lab host" in bad.stderr
