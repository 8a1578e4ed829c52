"""Pure helpers of the `vip` agent: parameters, `ip -j addr` parsing, the ARP frame."""

from __future__ import annotations

import json
from ipaddress import IPv4Address, ip_address

import pytest

from vigil.agents.garp import garp_frame
from vigil.agents.vip import IfAddr, parse_addrs, parse_params, pick_nic


def test_params_defaults() -> None:
    v4 = parse_params({"ip": "198.18.0.10"})
    assert (v4.ip, v4.prefix, v4.nic, v4.arp_count) == (IPv4Address("198.18.0.10"), 32, None, 3)
    v6 = parse_params({"ip": "2001:db8::1", "cidr_netmask": "64", "nic": "eth1"})
    assert (v6.prefix, v6.nic, v6.family) == (64, "eth1", "inet6")
    assert parse_params({"ip": "2001:db8::1"}).prefix == 128


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({}, "'ip' is required"),
        ({"ip": "nope"}, "ip:"),
        ({"ip": "0.0.0.0"}, "ip:"),
        ({"ip": "198.18.0.1", "cidr_netmask": "0"}, "cidr_netmask:"),
        ({"ip": "198.18.0.1", "arp_count": "1000"}, "arp_count:"),
        ({"ip": "198.18.0.1", "nic": "x" * 16}, "nic:"),
        ({"ip": "198.18.0.1", "mask": "24"}, "mask"),
    ],
)
def test_params_rejected(params: dict[str, str], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        parse_params(params)


def test_parse_addrs_and_pick_nic() -> None:
    text = json.dumps(
        [
            {"ifname": "lo", "addr_info": [{"local": "127.0.0.1", "prefixlen": 8}]},
            {"ifname": "eth0", "addr_info": [{"local": "198.18.1.1", "prefixlen": 24}]},
            {
                "ifname": "eth1",
                "addr_info": [
                    {"local": "198.18.2.1", "prefixlen": 24},
                    {"local": "198.18.9.9", "prefixlen": 32},
                ],
            },
        ]
    )
    addrs = parse_addrs(text)
    assert IfAddr("eth1", ip_address("198.18.9.9"), 32) in addrs
    assert pick_nic(parse_params({"ip": "198.18.2.50"}), addrs) == "eth1"
    assert pick_nic(parse_params({"ip": "198.18.9.9"}), addrs) == "eth1"  # holds it already
    assert pick_nic(parse_params({"ip": "198.18.3.1"}), addrs) is None
    assert pick_nic(parse_params({"ip": "2001:db8::1"}), addrs) is None
    with pytest.raises(ValueError):
        parse_addrs("not json")


def test_garp_frame() -> None:
    mac = bytes.fromhex("020000000001")
    frame = garp_frame(mac, IPv4Address("198.18.0.10"))
    assert len(frame) == 60
    assert frame[:6] == b"\xff" * 6 and frame[6:12] == mac and frame[12:14] == b"\x08\x06"
    arp = frame[14:42]
    assert arp[6:8] == b"\x00\x01"  # request
    assert arp[8:14] == mac
    assert arp[14:18] == arp[24:28] == bytes([198, 18, 0, 10])  # sender ip == target ip
    with pytest.raises(ValueError):
        garp_frame(b"\x00", IPv4Address("198.18.0.10"))
