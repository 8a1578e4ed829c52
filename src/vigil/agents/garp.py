"""Gratuitous ARP over a raw AF_PACKET socket, for hosts without `arping`.

Run as `python -m vigil.agents.garp NIC IP [COUNT]` (the `vip` agent runs it as a child,
so it can run inside a network namespace with `ip netns exec` and under a timeout).
Sends COUNT ARP requests with sender IP = target IP = IP and the NIC's MAC as sender,
to the Ethernet broadcast address, one a second apart (as `arping -U` does): neighbours
that already have an entry for IP update it to our MAC. Needs CAP_NET_RAW.
"""

from __future__ import annotations

import socket
import struct
import sys
import time
from ipaddress import IPv4Address

ETH_P_ARP = 0x0806
ETH_P_IP = 0x0800
ARPHRD_ETHER = 1
ARPOP_REQUEST = 1
BROADCAST = b"\xff" * 6
MIN_FRAME = 60
"""Ethernet's minimum frame length without the FCS; shorter frames are zero-padded."""


def garp_frame(mac: bytes, ip: IPv4Address) -> bytes:
    """One Ethernet frame carrying a gratuitous ARP request for `ip` from `mac`."""
    if len(mac) != 6:
        raise ValueError(f"not an Ethernet address: {mac.hex(':')}")
    eth = BROADCAST + mac + struct.pack("!H", ETH_P_ARP)
    arp = struct.pack(
        "!HHBBH6s4s6s4s",
        ARPHRD_ETHER,
        ETH_P_IP,
        6,
        4,
        ARPOP_REQUEST,
        mac,
        ip.packed,
        b"\x00" * 6,
        ip.packed,
    )
    return (eth + arp).ljust(MIN_FRAME, b"\x00")


def send_garp(nic: str, ip: IPv4Address, count: int = 3, interval: float = 1.0) -> bytes:
    """Send `count` gratuitous ARP frames for `ip` out of `nic`; returns the MAC used.

    OSError when the interface does not exist or the socket cannot be opened."""
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP)) as sock:
        sock.bind((nic, ETH_P_ARP))
        mac: bytes = sock.getsockname()[4]
        frame = garp_frame(mac, ip)
        for i in range(count):
            if i:
                time.sleep(interval)
            sock.send(frame)
    return mac


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print("usage: python -m vigil.agents.garp NIC IPV4 [COUNT]", file=sys.stderr)
        return 2
    try:
        ip = IPv4Address(argv[1])
        count = int(argv[2]) if len(argv) == 3 else 3
    except ValueError as exc:
        print(f"garp: {exc}", file=sys.stderr)
        return 2
    try:
        mac = send_garp(argv[0], ip, count)
    except OSError as exc:
        print(f"garp: {argv[0]}: {exc}", file=sys.stderr)
        return 1
    print(f"sent {count} gratuitous ARP for {ip} from {mac.hex(':')} on {argv[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
