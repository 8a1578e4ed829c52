"""The vip agent's in-process gratuitous ARP (used when the agent itself runs inside the
host's namespace, as in the lab): the first frame goes out at once, the rest from a
background task, and a neighbour's stale entry moves to the new owner's MAC."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from vigil.agents.vip import announce_in_process
from vigil.lab import netns
from vigil.lab.lab_testing import NEEDS_NETNS, assert_nothing_left, unique_name
from vigil.lab.netlab import NetnsLab

pytestmark = [pytest.mark.root, pytest.mark.integration, NEEDS_NETNS]

FAKE_MAC = "02:00:00:00:00:77"
IP = "198.18.1.160"


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[NetnsLab]:
    lab = NetnsLab.create(tmp_path / "lab", name=unique_name("g"), nodes=1, links=1)
    try:
        lab.up(start=False)
        yield lab
    finally:
        lab.down(remove=True)
        assert_nothing_left(lab)


def client_mac_for(lab: NetnsLab, ip: str) -> str | None:
    data = json.loads(netns.ip("-j", "neigh", "show", ip, ns=lab.ns("client")) or "[]")
    return str(data[0]["lladdr"]) if data and "lladdr" in data[0] else None


def n1_mac(lab: NetnsLab) -> str:
    return str(json.loads(netns.ip("-j", "link", "show", "eth1", ns=lab.ns("n1")))[0]["address"])


def test_first_frame_at_once_the_rest_in_the_background(lab: NetnsLab) -> None:
    netns.ip("neigh", "add", IP, "lladdr", FAKE_MAC, "dev", "eth1", "nud", "stale",
             ns=lab.ns("client"))
    netns.ip("addr", "add", f"{IP}/24", "dev", "eth1", ns=lab.ns("n1"))
    time.sleep(1.1)  # past the entry's locktime, so an ARP may override it

    async def announce() -> tuple[str, float]:
        with lab.entered("n1"):  # the raw socket is made inside n1's namespace
            t = time.monotonic()
            note = announce_in_process("eth1", IPv4Address(IP), 2, interval=0.2)
            took = time.monotonic() - t
        await asyncio.sleep(0.4)  # the background repeat runs meanwhile
        return note, took

    note, took = asyncio.run(announce())
    assert "sent 1 gratuitous ARP now, 1 more in the background" in note
    assert took < 0.1
    assert client_mac_for(lab, IP) == n1_mac(lab)


def test_missing_interface_raises(lab: NetnsLab) -> None:
    with lab.entered("n1"), pytest.raises(OSError):
        announce_in_process("nosuch0", IPv4Address(IP), 1)


def test_stop_cancels_the_background_announcements(lab: NetnsLab) -> None:
    """After a stop the node must never claim the address again (a late gratuitous ARP
    would pull the neighbours back to a node that gave the address away)."""
    from vigil.agents import vip

    async def announce_then_cancel() -> bool:
        with lab.entered("n1"):
            vip.announce_in_process("eth1", IPv4Address(IP), 5, interval=0.5)
        task = vip._repeaters[("eth1", IP)]
        vip.cancel_announcements(IPv4Address(IP))
        await asyncio.sleep(0.05)
        return task.cancelled() and ("eth1", IP) not in vip._repeaters

    assert asyncio.run(announce_then_cancel())
