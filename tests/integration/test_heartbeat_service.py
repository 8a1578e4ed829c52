"""Heartbeat services talking real UDP on loopback.

Node i link j listens on 127.0.(j+1).(i+1); every node has 2 links. The config also lists
a member n4 that never runs: every service keeps it `unknown`, never suspected. Where a
test needs to see the wire, it binds n4's addresses itself and captures what the others
send to n4 (the packets carry no recipient, so they are as good as any for a replay).

Every service and socket a test opens is closed when it ends, pass or fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field

import pytest

from vigil.core.detector import DetectorView
from vigil.core.heartbeat_packet import Heartbeat, decode, encode
from vigil.model.config import ClusterConfig, HeartbeatConfig, NodeConfig
from vigil.runtime.heartbeat import HeartbeatService, StallClock

pytestmark = pytest.mark.integration

INTERVAL = 0.1
TIMEOUT = 0.5
BOUND = TIMEOUT + 2 * INTERVAL
"""Stop -> suspected must happen within this (the brief's bound)."""
KEY = bytes(range(32))
NODES = ("n1", "n2", "n3", "n4")


def addr(i: int, link: int) -> str:
    return f"127.0.{link + 1}.{i + 1}"


def free_udp_port() -> int:
    """A UDP port free on every test address right now."""
    for _ in range(20):
        socks: list[socket.socket] = []
        try:
            first = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            socks.append(first)
            first.bind((addr(0, 0), 0))
            port = int(first.getsockname()[1])
            for i in range(len(NODES)):
                for j in range(2):
                    if (i, j) != (0, 0):
                        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                        socks.append(s)
                        s.bind((addr(i, j), port))
            return port
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise AssertionError("no UDP port free on every test address")


def cluster_config() -> ClusterConfig:
    nodes = tuple(NodeConfig(name, addr(i, 0), links=(addr(i, 0), addr(i, 1)))
                  for i, name in enumerate(NODES))
    hb = HeartbeatConfig(port=free_udp_port(), interval=INTERVAL, timeout=TIMEOUT)
    return ClusterConfig(name=f"hb-test-{os.getpid()}", nodes=nodes, heartbeat=hb)


@dataclass
class Node:
    name: str
    service: HeartbeatService
    changes: list[tuple[float, DetectorView]] = field(default_factory=list)

    def first_change(self, pred: Callable[[DetectorView], bool]) -> float | None:
        return next((t for t, v in self.changes if pred(v)), None)


@dataclass
class Cluster:
    config: ClusterConfig
    nodes: dict[str, Node]

    @property
    def port(self) -> int:
        return self.config.heartbeat.port


async def wait_until(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.005)


def sees_all_alive(node: Node, peers: tuple[str, ...]) -> bool:
    v = node.service.view()
    return all(v.peer(p).state == "alive" and v.peer(p).links_up == (0, 1) for p in peers)


def recorder(changes: list[tuple[float, DetectorView]]) -> Callable[[DetectorView], None]:
    return lambda view: changes.append((time.monotonic(), view))


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    """n1, n2, n3 running (n4 configured, absent); all see each other on both links."""
    config = cluster_config()
    nodes: dict[str, Node] = {}
    try:
        for name in NODES[:3]:
            changes: list[tuple[float, DetectorView]] = []
            svc = HeartbeatService(config, name, KEY, recorder(changes))
            nodes[name] = Node(name, svc, changes)
            await svc.start()
        for n in nodes.values():
            others = tuple(p for p in NODES[:3] if p != n.name)
            await wait_until(functools.partial(sees_all_alive, n, others), 5.0,
                             f"{n.name} to see {others} on both links")
        yield Cluster(config, nodes)
    finally:
        for n in nodes.values():
            await n.service.stop()


@contextlib.contextmanager
def udp_sockets(*addrs: tuple[str, int]) -> Iterator[list[socket.socket]]:
    socks = []
    try:
        for a in addrs:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            socks.append(s)
            s.setblocking(False)
            s.bind(a)
        yield socks
    finally:
        for s in socks:
            s.close()


def suspects(node: str) -> Callable[[DetectorView], bool]:
    return lambda v: v.peer(node).suspected


async def test_all_see_each_other_and_a_stopped_node_is_suspected_in_time(
        cluster: Cluster) -> None:
    n1, n2, n3 = (cluster.nodes[n] for n in ("n1", "n2", "n3"))
    for n in (n1, n2, n3):
        v = n.service.view()
        assert v.peer("n4").state == "unknown" and not v.peer("n4").suspected
        assert v.suspected == frozenset() and v.alerts == ()
        stats = n.service.stats()
        assert stats.rejected == {} and stats.received > 0 and stats.links_bound == (0, 1)

    stopped_at = time.monotonic()
    await n3.service.stop()
    await wait_until(lambda: all(n.first_change(suspects("n3")) for n in (n1, n2)),
                     BOUND + 1.0, "n1 and n2 to suspect n3")
    for n in (n1, n2):
        at = n.first_change(suspects("n3"))
        assert at is not None
        latency = at - stopped_at
        print(f"{n.name}: n3 stopped -> suspected in {latency * 1000:.0f} ms")
        assert TIMEOUT - INTERVAL - 0.05 < latency <= BOUND, latency
        assert not any(v.alerts for _, v in n.changes), "a dying node raises no alert"
        view = n.service.view()
        assert view.suspected == frozenset({"n3"}) and view.peer("n4").state == "unknown"
        assert "no valid heartbeat from n3 on any link" in view.peer("n3").reason


async def test_one_silent_link_is_an_alert_not_a_suspicion(cluster: Cluster) -> None:
    """n3 is replaced by a stand-in that speaks only on link 0, then on both again."""
    n1, n2, n3 = (cluster.nodes[n] for n in ("n1", "n2", "n3"))
    await n3.service.stop()
    incarnation = time.time_ns()  # a restart: a newer incarnation, seq starts over
    with udp_sockets((addr(2, 0), cluster.port), (addr(2, 1), cluster.port)) as socks:
        links = [0]

        async def stand_in() -> None:
            seq = 0
            while True:
                seq += 1
                for j in links:
                    pkt = encode(KEY, cluster.config.name, "n3", j, incarnation, seq)
                    for peer in (0, 1):
                        socks[j].sendto(pkt, (addr(peer, j), cluster.port))
                await asyncio.sleep(INTERVAL)

        task = asyncio.create_task(stand_in())
        try:
            def alerted(v: DetectorView) -> bool:
                return [(a.node, a.link) for a in v.alerts] == [("n3", 1)]

            await wait_until(lambda: all(n.first_change(alerted) for n in (n1, n2)),
                             BOUND + 2.0, "an alert for n3's link 1")
            for n in (n1, n2):
                (alert,) = n.service.view().alerts
                assert alert.reason.startswith("link 1 (127.0.2.3) to n3 silent for ")
                assert alert.reason.endswith("s; n3 still answers on link 0")
                assert n.service.view().peer("n3").state == "alive"
            links.append(1)  # the link comes back
            await wait_until(lambda: all(not n.service.view().alerts for n in (n1, n2)),
                             BOUND + 1.0, "the alert to clear")
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    for n in (n1, n2):
        assert not any(v.peer("n3").suspected for _, v in n.changes), "never suspected"
        assert "replay" not in n.service.stats().rejected, "the new incarnation is accepted"


async def test_forged_and_replayed_packets_are_rejected_and_keep_no_one_alive(
        cluster: Cluster) -> None:
    n1, n2, n3 = (cluster.nodes[n] for n in ("n1", "n2", "n3"))
    name, port = cluster.config.name, cluster.port
    captured: dict[int, list[bytes]] = {0: [], 1: []}
    with udp_sockets((addr(3, 0), port), (addr(3, 1), port)) as sniffers:
        def capture() -> bool:  # what the services send to n4, who is not running
            for j, s in enumerate(sniffers):
                with contextlib.suppress(BlockingIOError):
                    while True:
                        data = s.recv(2048)
                        hb = decode(KEY, name, data)
                        if isinstance(hb, Heartbeat) and hb.sender == "n3":
                            captured[j].append(data)
            return all(len(c) >= 5 for c in captured.values())

        await wait_until(capture, 3.0, "5 captured heartbeats of n3 per link")

    stopped_at = time.monotonic()
    await n3.service.stop()
    rounds = 0
    with udp_sockets((addr(2, 0), port), (addr(2, 1), port)) as forger:
        async def forge() -> None:
            nonlocal rounds
            while True:
                rounds += 1
                now_ns = time.time_ns()
                for j in (0, 1):
                    bad = [
                        encode(bytes(32), name, "n3", j, now_ns, rounds),  # bad-mac
                        encode(KEY, "other-cluster", "n3", j, now_ns, rounds),
                        os.urandom(80),  # malformed
                        encode(KEY, name, "intruder", j, now_ns, rounds),
                        captured[1 - j][rounds % 5],  # wrong-link
                        captured[j][rounds % len(captured[j])],  # replay
                    ]
                    for pkt in bad:
                        for peer in (0, 1):
                            forger[j].sendto(pkt, (addr(peer, j), port))
                await asyncio.sleep(0.02)

        task = asyncio.create_task(forge())
        try:
            await wait_until(lambda: all(n.first_change(suspects("n3")) for n in (n1, n2)),
                             BOUND + 1.0, "n3 suspected despite forged and replayed packets")
            for n in (n1, n2):
                at = n.first_change(suspects("n3"))
                assert at is not None and at - stopped_at <= BOUND
            seen = rounds
            await wait_until(lambda: rounds >= seen + 2 * TIMEOUT / 0.02, 5.0,
                             "more forged rounds after the suspicion")
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    for n in (n1, n2):
        assert n.service.view().peer("n3").suspected
        first = n.first_change(suspects("n3"))
        assert first is not None
        assert not any(t > first and not v.peer("n3").suspected
                       for t, v in n.changes), "nothing forged revived n3"
        rejected = n.service.stats().rejected
        for reason in ("bad-mac", "wrong-cluster", "malformed", "unknown-sender",
                       "wrong-link", "replay"):
            assert rejected.get(reason, 0) >= 10, (n.name, reason, rejected)


async def test_a_stalled_event_loop_suspects_no_one(cluster: Cluster) -> None:
    """Every service shares this loop: blocking it stalls senders and receivers alike, as a
    saturated or paused machine would. When it runs again nobody may be suspected."""
    before = {n.name: n.service.stats().received for n in cluster.nodes.values()}
    time.sleep(3 * TIMEOUT)  # the fault: the whole event loop blocked for 1.5 s
    await wait_until(
        lambda: all(n.service.stats().received >= before[n.name] + 20
                    for n in cluster.nodes.values()),
        5.0, "20 more heartbeats at every node after the stall")
    for n in cluster.nodes.values():
        assert not any(v.suspected for _, v in n.changes), n.changes
        stats = n.service.stats()
        assert stats.observer_stalls >= 1
        assert 3 * TIMEOUT - 2 * INTERVAL - 0.1 < stats.stalled_for < 3 * TIMEOUT + 0.5


def test_stall_clock_leaves_out_only_the_excess_of_long_gaps() -> None:
    t = [100.0]
    clock = StallClock(lambda: t[0], max_gap=0.2)
    assert clock.now() == 100.0
    t[0] = 100.15
    assert clock.now() == 100.15, "a normal gap counts in full"
    t[0] = 102.15  # stalled for 2 s
    assert clock.now() == pytest.approx(100.35)
    assert clock.stalls == 1 and clock.stalled_for == pytest.approx(1.8)
    t[0] = 102.25
    assert clock.now() == pytest.approx(100.45)


async def test_a_link_that_cannot_bind_is_retried_and_none_at_all_is_an_error() -> None:
    config = cluster_config()
    port = config.heartbeat.port
    with udp_sockets((addr(0, 1), port)):  # someone else holds n1's link 1
        svc = HeartbeatService(config, "n1", KEY, lambda v: None)
        try:
            await svc.start()
            assert svc.stats().links_bound == (0,)
            sent = svc.stats().sent
            await wait_until(lambda: svc.stats().sent >= sent + 3, 2.0, "three more rounds")
            assert svc.stats().links_bound == (0,)
        except BaseException:
            await svc.stop()
            raise
    try:
        await wait_until(lambda: svc.stats().links_bound == (0, 1), 3.0, "link 1 rebound")
    finally:
        await svc.stop()
    assert svc.stats().links_bound == ()

    with udp_sockets((addr(0, 0), port), (addr(0, 1), port)):
        svc = HeartbeatService(config, "n1", KEY, lambda v: None)
        with pytest.raises(OSError, match=r"cannot bind any link of n1: link 0 \(127.0.1.1:"):
            await svc.start()
        await svc.stop()
