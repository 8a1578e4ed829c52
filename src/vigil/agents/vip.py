"""The built-in `vip` agent: a virtual IP address on a network interface.

Parameters:

- `ip` (required): an IPv4 or IPv6 literal.
- `cidr_netmask`: prefix length, default 32 (IPv4) / 128 (IPv6).
- `nic`: the interface; default: the one holding `ip` already, else the one whose
  configured subnet contains `ip` (required when there is none).
- `arp_count`: gratuitous ARPs sent after start (IPv4), default 3; 0 sends none.

start runs `ip addr add IP/PREFIX dev NIC` (already present: success), then announces
the address with gratuitous ARP: from the agent's own process over a raw socket (the
first frame at once, the others 1 s apart in the background, so start does not wait for
them), or, without CAP_NET_RAW or under the netns hook, with `arping -U -c N -I NIC IP`
when `arping` is installed, else raw frames from a helper (`vigil.agents.garp`). IPv6:
the address is added (with DAD) but no unsolicited neighbour advertisement is sent yet.
A failed announcement does not fail start (the address is up; neighbours learn it on
their next ARP), it is reported in the
output. monitor: SUCCESS when the address is on the interface (`ip -j addr show dev
NIC`), NOT_RUNNING otherwise. stop: `ip addr del` (absent: success).

Lab/testing hook: with `netns` given to the constructor, or `VIGIL_NETNS` set in the
environment, every command runs under `ip netns exec NETNS`, so the agent manages an
address inside that network namespace.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import sys
import time
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_interface
from typing import Any

from vigil.agents.base import (
    BUILTIN_ACTIONS_XML,
    NodeContext,
    OcfRc,
    OpResult,
    ResourceAgent,
)
from vigil.agents.garp import ETH_P_ARP, garp_frame
from vigil.agents.subprocess_run import SANE_PATH, ActionRun, clean_environment, run_action
from vigil.model.config import Resource

NETNS_ENV = "VIGIL_NETNS"
IP_SEARCH_PATH = SANE_PATH
"""Where the `ip` and `arping` binaries are looked up (the children's PATH)."""
DEFAULT_ARP_COUNT = 3
MAX_ARP_COUNT = 100
MIN_STEP_TIMEOUT = 0.5
GARP_INTERVAL = 1.0
"""Seconds between repeated gratuitous ARPs (as `arping -U`)."""


class AgentFailure(Exception):
    """Ends an action with this rc and message."""

    def __init__(self, rc: OcfRc, message: str) -> None:
        super().__init__(message)
        self.rc = rc
        self.message = message


# --- parameters ---------------------------------------------------------------------


@dataclass(frozen=True)
class VipParams:
    ip: IPv4Address | IPv6Address
    prefix: int
    nic: str | None
    arp_count: int

    @property
    def family(self) -> str:
        return "inet" if self.ip.version == 4 else "inet6"


def parse_params(params: dict[str, str]) -> VipParams:
    """Validate the resource's parameters; ValueError names the first bad one."""
    known = {"ip", "cidr_netmask", "nic", "arp_count"}
    unknown = sorted(set(params) - known)
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)}; known: {sorted(known)}")
    text = params.get("ip", "").strip()
    if not text:
        raise ValueError("parameter 'ip' is required")
    try:
        ip = ip_address(text)
    except ValueError:
        raise ValueError(f"ip: {text!r} is not an IPv4 or IPv6 address") from None
    if ip.is_multicast or ip.is_unspecified or ip.is_loopback:
        raise ValueError(f"ip: {ip} is not a unicast address")
    width = ip.max_prefixlen
    netmask = params.get("cidr_netmask", "").strip()
    if netmask:
        if not netmask.isdigit() or not 1 <= int(netmask) <= width:
            raise ValueError(f"cidr_netmask: {netmask!r} is not a prefix length in [1, {width}]")
        prefix = int(netmask)
    else:
        prefix = width
    nic = params.get("nic", "").strip() or None
    if nic is not None and (
        len(nic) > 15 or nic in (".", "..") or any(c in nic for c in "/: \t\n")
    ):
        raise ValueError(f"nic: {nic!r} is not an interface name")
    count_text = params.get("arp_count", str(DEFAULT_ARP_COUNT)).strip()
    if not count_text.isdigit() or int(count_text) > MAX_ARP_COUNT:
        raise ValueError(f"arp_count: {count_text!r} is not a count in [0, {MAX_ARP_COUNT}]")
    return VipParams(ip=ip, prefix=prefix, nic=nic, arp_count=int(count_text))


# --- `ip -j addr` -------------------------------------------------------------------


@dataclass(frozen=True)
class IfAddr:
    nic: str
    ip: IPv4Address | IPv6Address
    prefix: int


def parse_addrs(text: str) -> list[IfAddr]:
    """Every address in the output of `ip -j addr show`; ValueError if unparsable."""
    try:
        data: Any = json.loads(text or "[]")
    except json.JSONDecodeError as exc:
        raise ValueError(f"cannot parse `ip -j addr` output: {exc}") from None
    addrs: list[IfAddr] = []
    for link in data if isinstance(data, list) else []:
        for info in link.get("addr_info", []) if isinstance(link, dict) else []:
            try:
                addrs.append(
                    IfAddr(str(link["ifname"]), ip_address(info["local"]), int(info["prefixlen"]))
                )
            except (KeyError, TypeError, ValueError):
                continue
    return addrs


def pick_nic(params: VipParams, addrs: list[IfAddr]) -> str | None:
    """The interface holding `params.ip` already, else the first whose subnet has it."""
    for addr in addrs:
        if addr.ip == params.ip:
            return addr.nic
    for addr in addrs:
        same_family = addr.ip.version == params.ip.version
        if same_family and params.ip in ip_interface(f"{addr.ip}/{addr.prefix}").network:
            return addr.nic
    return None


# --- gratuitous ARP from the agent's own process -------------------------------------

_repeaters: dict[tuple[str, str], asyncio.Task[None]] = {}
"""Background repeats by (nic, ip): a stop cancels them, so a node that gave an address
away never claims it again with a late announcement."""


def cancel_announcements(ip: IPv4Address | IPv6Address) -> None:
    """Stop the background announcements of `ip` (on any interface)."""
    for key in [k for k in _repeaters if k[1] == str(ip)]:
        _repeaters.pop(key).cancel()


def announce_in_process(nic: str, ip: IPv4Address, count: int,
                        interval: float = GARP_INTERVAL) -> str:
    """Send the first gratuitous ARP now, from this process (no program to start: the
    neighbours learn the new owner within microseconds of the address being added), and
    the other `count - 1` in the background, `interval` apart. OSError if the raw
    socket cannot be opened (no CAP_NET_RAW) or the interface is gone."""
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP))
    try:
        sock.bind((nic, ETH_P_ARP))
        frame = garp_frame(sock.getsockname()[4], ip)
        sock.send(frame)
    except OSError:
        sock.close()
        raise
    if count <= 1:
        sock.close()
        return "sent 1 gratuitous ARP (raw socket)"

    async def repeat() -> None:
        try:
            for _ in range(count - 1):
                await asyncio.sleep(interval)
                sock.send(frame)
        except OSError:
            pass  # the interface went away (stopped, powered off): nothing to announce
        finally:
            sock.close()

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # called outside an event loop: the first frame must do
        sock.close()
        return "sent 1 gratuitous ARP (raw socket; no event loop for the repeats)"
    key = (nic, str(ip))
    cancel_announcements(ip)
    task = loop.create_task(repeat())
    _repeaters[key] = task
    task.add_done_callback(lambda t: _repeaters.pop(key, None) if _repeaters.get(key) is t
                           else None)
    return f"sent 1 gratuitous ARP now, {count - 1} more in the background (raw socket)"


# --- the agent --------------------------------------------------------------------


class VipAgent(ResourceAgent):
    def __init__(self, resource: Resource, ctx: NodeContext, netns: str | None = None) -> None:
        self.resource = resource
        self.ctx = ctx
        self.netns = netns if netns is not None else (os.environ.get(NETNS_ENV) or None)

    @property
    def rid(self) -> str:
        return self.resource.id

    async def run(self, op: str, timeout: float, interval: float = 0.0) -> OpResult:
        began = time.monotonic()
        deadline = began + timeout
        try:
            if op in ("monitor", "probe"):
                op = "monitor"
                rc, text = await self._monitor(deadline)
            elif op == "start":
                rc, text = await self._start(deadline)
            elif op == "stop":
                rc, text = await self._stop(deadline)
            elif op == "validate-all":
                params = self._params()
                await self._nic(params, deadline, must_exist=True)
                rc, text = OcfRc.SUCCESS, ""
            elif op == "meta-data":
                rc, text = OcfRc.SUCCESS, META_DATA
            else:
                rc, text = OcfRc.ERR_UNIMPLEMENTED, f"vip agent has no action {op!r}"
        except AgentFailure as exc:
            rc, text = exc.rc, exc.message
            if rc == OcfRc.TIMEOUT:
                return OpResult(op, int(rc), text, time.monotonic() - began, timed_out=True)
        return OpResult(op, int(rc), text, time.monotonic() - began)

    # -- helpers

    def _params(self) -> VipParams:
        try:
            return parse_params(dict(self.resource.params))
        except ValueError as exc:
            raise AgentFailure(OcfRc.ERR_CONFIGURED, f"{self.rid}: {exc}") from None

    def _prefix(self) -> list[str]:
        return [] if self.netns is None else [self._which("ip"), "netns", "exec", self.netns]

    def _which(self, program: str) -> str:
        path = shutil.which(program, path=IP_SEARCH_PATH)
        if path is None:
            raise AgentFailure(
                OcfRc.ERR_INSTALLED, f"{self.rid}: {program} not found in {IP_SEARCH_PATH}"
            )
        return path

    async def _exec(self, argv: list[str], deadline: float) -> ActionRun:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AgentFailure(OcfRc.TIMEOUT, f"{self.rid}: timed out before {argv[0]}")
        result = await run_action(
            [*self._prefix(), *argv], clean_environment(("LANG", "LC_ALL")), remaining
        )
        if result.timed_out:
            raise AgentFailure(OcfRc.TIMEOUT, f"{self.rid}: {' '.join(argv)}: {result.output}")
        if result.rc == OcfRc.EXEC_ERROR:
            raise AgentFailure(OcfRc.ERR_INSTALLED, f"{self.rid}: {result.output}")
        return result

    async def _ip(self, args: list[str], deadline: float) -> ActionRun:
        return await self._exec([self._which("ip"), *args], deadline)

    async def _addrs(self, params: VipParams, deadline: float, nic: str | None) -> list[IfAddr]:
        """Addresses of `params`'s family on `nic` (all interfaces if None); an empty
        list when `nic` does not exist."""
        args = ["-j", "-4" if params.ip.version == 4 else "-6", "addr", "show"]
        result = await self._ip([*args, "dev", nic] if nic else args, deadline)
        if result.rc != 0:
            if nic is not None and "does not exist" in result.output:
                return []
            raise AgentFailure(
                OcfRc.ERR_GENERIC, f"{self.rid}: ip {' '.join(args)}: {result.output.strip()}"
            )
        try:
            return parse_addrs(result.output)
        except ValueError as exc:
            raise AgentFailure(OcfRc.ERR_GENERIC, f"{self.rid}: {exc}") from None

    async def _nic_exists(self, nic: str, deadline: float) -> bool:
        result = await self._ip(["link", "show", "dev", nic], deadline)
        return result.rc == 0

    async def _nic(self, params: VipParams, deadline: float, must_exist: bool) -> str | None:
        """The interface to use; None (when not `must_exist`) if there is none."""
        if params.nic is not None:
            if await self._nic_exists(params.nic, deadline):
                return params.nic
            if must_exist:
                raise AgentFailure(
                    OcfRc.ERR_CONFIGURED, f"{self.rid}: nic: interface {params.nic} does not exist"
                )
            return None
        nic = pick_nic(params, await self._addrs(params, deadline, None))
        if nic is None and must_exist:
            raise AgentFailure(
                OcfRc.ERR_CONFIGURED,
                f"{self.rid}: nic: required, no interface has a subnet containing {params.ip}",
            )
        return nic

    async def _configured(self, params: VipParams, nic: str, deadline: float) -> IfAddr | None:
        for addr in await self._addrs(params, deadline, nic):
            if addr.ip == params.ip:
                return addr
        return None

    # -- actions

    async def _find(self, params: VipParams, deadline: float
                    ) -> tuple[str | None, IfAddr | None, str]:
        """Where the address is configured, if anywhere, and a sentence saying so."""
        nic = await self._nic(params, deadline, must_exist=False)
        if nic is None:
            return None, None, f"{params.ip} is not configured (no interface)"
        addr = await self._configured(params, nic, deadline)
        if addr is None:
            return nic, None, f"{params.ip} is not configured on {nic}"
        return nic, addr, f"{addr.ip}/{addr.prefix} is configured on {nic}"

    async def _monitor(self, deadline: float) -> tuple[int, str]:
        _, addr, text = await self._find(self._params(), deadline)
        return (OcfRc.SUCCESS if addr is not None else OcfRc.NOT_RUNNING), text

    async def _start(self, deadline: float) -> tuple[int, str]:
        params = self._params()
        nic = await self._nic(params, deadline, must_exist=True)
        assert nic is not None
        if await self._configured(params, nic, deadline) is not None:
            return OcfRc.SUCCESS, f"{params.ip} is already configured on {nic}"
        family = "-4" if params.ip.version == 4 else "-6"
        result = await self._ip(
            [family, "addr", "add", f"{params.ip}/{params.prefix}", "dev", nic], deadline
        )
        if result.rc != 0 and await self._configured(params, nic, deadline) is None:
            return OcfRc.ERR_GENERIC, (
                f"{self.rid}: ip addr add {params.ip}/{params.prefix} dev {nic}: "
                f"{result.output.strip()}"
            )
        text = f"added {params.ip}/{params.prefix} to {nic}"
        note = await self._announce(params, nic, deadline)
        return OcfRc.SUCCESS, f"{text}; {note}" if note else text

    async def _announce(self, params: VipParams, nic: str, deadline: float) -> str:
        """Tell the neighbours; a note for the output. Never fails the start."""
        if params.arp_count == 0:
            return ""
        if params.ip.version == 6:
            return "no unsolicited neighbour advertisement sent (not implemented for IPv6)"
        if self.netns is None and isinstance(params.ip, IPv4Address):
            try:
                return announce_in_process(nic, params.ip, params.arp_count)
            except OSError:
                pass  # no CAP_NET_RAW here: a helper program may still manage
        count = str(params.arp_count)
        arping = shutil.which("arping", path=IP_SEARCH_PATH)
        if arping is not None:
            argv = [arping, "-U", "-c", count, "-I", nic, str(params.ip)]
        else:
            argv = [sys.executable, "-m", "vigil.agents.garp", nic, str(params.ip), count]
        try:
            result = await self._exec(argv, deadline)
        except AgentFailure as exc:
            return f"warning: gratuitous ARP not sent: {exc.message}"
        how = "arping" if arping is not None else "raw socket"
        if result.rc != 0:
            return f"warning: gratuitous ARP ({how}) failed: {result.output.strip()}"
        return f"sent {count} gratuitous ARP ({how})"

    async def _stop(self, deadline: float) -> tuple[int, str]:
        params = self._params()
        cancel_announcements(params.ip)  # never claim it again once given away
        nic, addr, text = await self._find(params, deadline)
        if nic is None or addr is None:
            return OcfRc.SUCCESS, text
        family = "-4" if params.ip.version == 4 else "-6"
        result = await self._ip(
            [family, "addr", "del", f"{addr.ip}/{addr.prefix}", "dev", nic], deadline
        )
        if result.rc != 0 and await self._configured(params, nic, deadline) is not None:
            return OcfRc.ERR_GENERIC, (
                f"{self.rid}: ip addr del {addr.ip}/{addr.prefix} dev {nic}: "
                f"{result.output.strip()}"
            )
        return OcfRc.SUCCESS, f"removed {addr.ip}/{addr.prefix} from {nic}"


META_DATA = """<?xml version="1.0"?>
<resource-agent name="vip" version="1.0">
  <version>1.1</version>
  <shortdesc lang="en">A virtual IP address (vigil built-in)</shortdesc>
  <longdesc lang="en">Adds an IPv4 or IPv6 address to a network interface with `ip addr` and
announces an IPv4 address with gratuitous ARP (arping, or raw frames without it).
</longdesc>
  <parameters>
    <parameter name="ip" required="1">
      <shortdesc lang="en">The address, an IPv4 or IPv6 literal</shortdesc>
      <content type="string"/>
    </parameter>
    <parameter name="cidr_netmask">
      <shortdesc lang="en">Prefix length (default 32 for IPv4, 128 for IPv6)</shortdesc>
      <content type="integer"/>
    </parameter>
    <parameter name="nic">
      <shortdesc lang="en">Interface (default: the one whose subnet contains ip)</shortdesc>
      <content type="string"/>
    </parameter>
    <parameter name="arp_count">
      <shortdesc lang="en">Gratuitous ARPs sent after start</shortdesc>
      <content type="integer" default="3"/>
    </parameter>
  </parameters>
""" + BUILTIN_ACTIONS_XML
