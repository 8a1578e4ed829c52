"""The `vip` agent against real interfaces, in two network namespaces joined by a veth.

`node` runs the agent (through the agent's netns hook, `ip netns exec`); `peer` is a
neighbour on the same link that checks it can reach the VIP and that the gratuitous ARP
moved its neighbour entry for the VIP to the node's MAC. Addresses: 198.18.<n>.0/24.
Both namespaces (and with them the veth pair) are deleted even when a test fails.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from vigil.agents import vip
from vigil.agents.base import NodeContext, OcfRc
from vigil.agents.vip import VipAgent
from vigil.model.config import Operations, Resource


def _netns_works() -> bool:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return False
    name = f"vigtest-probe-{secrets.token_hex(3)}"
    if subprocess.run(["ip", "netns", "add", name], capture_output=True).returncode != 0:
        return False
    subprocess.run(["ip", "netns", "del", name], capture_output=True)
    return True


pytestmark = [
    pytest.mark.root,
    pytest.mark.integration,
    pytest.mark.skipif(not _netns_works(), reason="needs root and `ip netns`"),
]

FAKE_MAC = "02:00:00:00:00:99"
TIMEOUT = 10.0


@dataclass(frozen=True)
class Lab:
    node: str
    peer: str
    net: str
    """'198.18.<n>' (a /24)."""
    node_mac: str

    @property
    def node_ip(self) -> str:
        return f"{self.net}.1"

    @property
    def peer_ip(self) -> str:
        return f"{self.net}.2"

    @property
    def vip(self) -> str:
        return f"{self.net}.100"


def sh(*argv: str) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    assert result.returncode == 0, f"{' '.join(argv)}: {result.stderr}"
    return result.stdout


@pytest.fixture
def lab() -> Iterator[Lab]:
    suffix = secrets.token_hex(4)
    node, peer = f"vigtest-{suffix}-n", f"vigtest-{suffix}-p"
    net = f"198.18.{secrets.randbelow(256)}"
    try:
        sh("ip", "netns", "add", node)
        sh("ip", "netns", "add", peer)
        veth = ["link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", peer]
        sh("ip", "-n", node, *veth)
        for ns, host in ((node, 1), (peer, 2)):
            sh("ip", "-n", ns, "addr", "add", f"{net}.{host}/24", "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
        info = json.loads(sh("ip", "-n", node, "-j", "link", "show", "dev", "eth0"))
        yield Lab(node, peer, net, info[0]["address"])
    finally:
        for ns in (node, peer):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def resource(**params: str) -> Resource:
    return Resource("vip1", "vip", params, Operations(20, 20, 10, 20))


def agent(lab: Lab, tmp_path: Path, **params: str) -> VipAgent:
    return VipAgent(resource(**params), NodeContext("n1", tmp_path), netns=lab.node)


def node_addrs(lab: Lab) -> list[str]:
    data = json.loads(sh("ip", "-n", lab.node, "-j", "addr", "show", "dev", "eth0"))
    return [f"{a['local']}/{a['prefixlen']}" for a in data[0]["addr_info"]]


def peer_neighbour_mac(lab: Lab, ip: str) -> str | None:
    data = json.loads(sh("ip", "-n", lab.peer, "-j", "neigh", "show", "dev", "eth0", ip) or "[]")
    return str(data[0]["lladdr"]) if data and "lladdr" in data[0] else None


REACH = """
import socket, sys
s = socket.socket()
s.settimeout(1.0)
try:
    s.connect((sys.argv[1], 9))
except ConnectionRefusedError:
    sys.exit(0)  # a TCP reset: something at that address answered
except OSError:
    sys.exit(1)
sys.exit(0)
"""


def peer_reaches(lab: Lab, ip: str) -> bool:
    """Whether the peer gets an answer from `ip` (a TCP RST from the discard port: the
    lab has no `ping`)."""
    argv = ["ip", "netns", "exec", lab.peer, sys.executable, "-c", REACH, ip]
    return subprocess.run(argv, capture_output=True, timeout=20).returncode == 0


def wait_for(what: str, check: object, timeout: float = 5.0) -> None:
    assert callable(check)
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


async def test_start_monitor_stop_and_announce(lab: Lab, tmp_path: Path) -> None:
    # The peer believes the VIP is at another MAC (its previous owner, after a failover).
    args = ["neigh", "add", lab.vip, "lladdr", FAKE_MAC, "dev", "eth0", "nud", "stale"]
    sh("ip", "-n", lab.peer, *args)
    a = agent(lab, tmp_path, ip=lab.vip, cidr_netmask="24", nic="eth0", arp_count="2")
    assert (await a.run("monitor", TIMEOUT)).rc == OcfRc.NOT_RUNNING
    assert (await a.run("validate-all", TIMEOUT)).rc == OcfRc.SUCCESS
    time.sleep(1.1)  # past the neighbour entry's locktime, so an ARP may override it

    started = await a.run("start", TIMEOUT)
    assert started.rc == OcfRc.SUCCESS, started.output
    assert "gratuitous ARP" in started.output and "warning" not in started.output
    assert f"{lab.vip}/24" in node_addrs(lab)
    wait_for("the peer's entry to move", lambda: peer_neighbour_mac(lab, lab.vip) == lab.node_mac)
    assert peer_reaches(lab, lab.vip)

    again = await a.run("start", TIMEOUT)
    assert again.rc == OcfRc.SUCCESS and "already" in again.output
    assert node_addrs(lab).count(f"{lab.vip}/24") == 1
    monitor = await a.run("monitor", TIMEOUT)
    assert monitor.rc == OcfRc.SUCCESS, monitor.output

    stopped = await a.run("stop", TIMEOUT)
    assert stopped.rc == OcfRc.SUCCESS, stopped.output
    assert f"{lab.vip}/24" not in node_addrs(lab)
    assert f"{lab.node_ip}/24" in node_addrs(lab)
    assert (await a.run("monitor", TIMEOUT)).rc == OcfRc.NOT_RUNNING
    assert (await a.run("stop", TIMEOUT)).rc == OcfRc.SUCCESS
    assert not peer_reaches(lab, lab.vip)
    assert peer_reaches(lab, lab.node_ip)  # the link itself is fine


async def test_nic_defaults_to_the_subnets_interface(lab: Lab, tmp_path: Path) -> None:
    a = agent(lab, tmp_path, ip=lab.vip, arp_count="0")
    started = await a.run("start", TIMEOUT)
    assert started.rc == OcfRc.SUCCESS, started.output
    assert f"{lab.vip}/32" in node_addrs(lab)
    assert (await a.run("monitor", TIMEOUT)).rc == OcfRc.SUCCESS
    assert peer_reaches(lab, lab.vip)
    assert (await a.run("stop", TIMEOUT)).rc == OcfRc.SUCCESS
    assert f"{lab.vip}/32" not in node_addrs(lab)
    assert (await a.run("monitor", TIMEOUT)).rc == OcfRc.NOT_RUNNING


async def test_netns_environment_variable(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(vip.NETNS_ENV, lab.node)
    a = VipAgent(resource(ip=lab.vip, nic="eth0", arp_count="0"), NodeContext("n1", tmp_path))
    assert a.netns == lab.node
    assert (await a.run("start", TIMEOUT)).rc == OcfRc.SUCCESS
    assert f"{lab.vip}/32" in node_addrs(lab)
    assert (await a.run("stop", TIMEOUT)).rc == OcfRc.SUCCESS


async def test_ipv6(lab: Lab, tmp_path: Path) -> None:
    ip6 = "2001:db8::100"  # documentation prefix; the link has no other IPv6 route
    a = agent(lab, tmp_path, ip=ip6, nic="eth0")
    started = await a.run("start", TIMEOUT)
    assert started.rc == OcfRc.SUCCESS, started.output
    assert "not implemented for IPv6" in started.output
    assert f"{ip6}/128" in node_addrs(lab)
    assert (await a.run("start", TIMEOUT)).rc == OcfRc.SUCCESS
    assert (await a.run("monitor", TIMEOUT)).rc == OcfRc.SUCCESS
    assert (await a.run("stop", TIMEOUT)).rc == OcfRc.SUCCESS
    assert (await a.run("monitor", TIMEOUT)).rc == OcfRc.NOT_RUNNING


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({}, "ip"),
        ({"ip": "198.18.0.300"}, "ip"),
        ({"ip": "224.0.0.1"}, "ip"),
        ({"ip": "198.18.0.5", "cidr_netmask": "33"}, "cidr_netmask"),
        ({"ip": "2001:db8::1", "cidr_netmask": "129"}, "cidr_netmask"),
        ({"ip": "198.18.0.5", "cidr_netmask": "x"}, "cidr_netmask"),
        ({"ip": "198.18.0.5", "arp_count": "-1"}, "arp_count"),
        ({"ip": "198.18.0.5", "nic": "a/b"}, "nic"),
        ({"ip": "198.18.0.5", "nic": "nosuch0"}, "nic"),
        ({"ip": "198.18.0.5", "colour": "red"}, "colour"),
        ({"ip": "198.19.0.7"}, "nic"),  # no interface's subnet contains it
    ],
)
async def test_bad_params_are_err_configured(
    lab: Lab, tmp_path: Path, params: dict[str, str], named: str
) -> None:
    a = agent(lab, tmp_path, **params)
    for op in ("start", "validate-all"):
        result = await a.run(op, TIMEOUT)
        assert result.rc == OcfRc.ERR_CONFIGURED, result.output
        assert named in result.output
    assert [a for a in node_addrs(lab) if "." in a] == [f"{lab.node_ip}/24"]


async def test_missing_ip_binary_is_err_installed(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(vip, "IP_SEARCH_PATH", str(tmp_path))
    result = await agent(lab, tmp_path, ip=lab.vip, nic="eth0").run("start", TIMEOUT)
    assert result.rc == OcfRc.ERR_INSTALLED
    assert "ip not found" in result.output
