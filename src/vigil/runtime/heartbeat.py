"""Direct heartbeats over every link: the asyncio shell around the failure detector.

One UDP socket per own link address (port `heartbeat.port`). Every `interval` the node
sends one authenticated packet on each link to the same-index link of every peer (the
config's members other than itself). Received packets go through `decode` -> link and
sender checks -> `ReplayGuard` -> `FailureDetector.heard`; a watcher re-evaluates the view
when a heartbeat changes it or when `next_change` comes due, and calls `on_change` only
when peer states or down links changed.

What the timeout tolerates. A peer is suspected after `timeout` without a valid heartbeat
on any link. Heartbeats go out every `interval`, so `timeout - interval` (0.4 s with the
defaults) is the budget for the sender's lateness (a busy or stalled event loop on the
sending node), the network, and the receiver's lateness in reading its socket. Gaps are
measured on the receiver, on its own event loop's monotonic clock: the sender's clock is
never compared with ours. The receiver's own stalls are not counted: when this loop has not
run for longer than `2 * interval` (a saturated CPU, a GC pause, a SIGSTOP of this agent),
the excess is left out of the detector's clock, so a stalled observer does not suspect its
peers when it wakes; it only suspects them later, by the length of its own stall. A sender
whose loop stalls beyond the budget *is* suspected: from outside it cannot be told apart
from a dead node, and suspicion leads to fencing, never straight to recovery.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from vigil.core.detector import DetectorView, FailureDetector
from vigil.core.heartbeat_packet import Rejected, ReplayGuard, decode, encode
from vigil.model.config import ClusterConfig

log = logging.getLogger("vigil.heartbeat")

REBIND_INTERVAL = 1.0
"""How often a link whose address could not be bound is tried again."""


@dataclass(frozen=True)
class HeartbeatStats:
    sent: int
    received: int
    """Valid heartbeats accepted (after the replay check)."""
    rejected: Mapping[str, int]
    """By reason: malformed, bad-version, wrong-cluster, bad-mac, unknown-sender,
    wrong-link, replay."""
    send_errors: int
    links_bound: tuple[int, ...]
    observer_stalls: int
    stalled_for: float
    """Seconds of this loop's own stalls left out of the detector's clock."""


class StallClock:
    """The loop's monotonic time minus this observer's own stalls.

    Every call is an observation; a gap between two observations longer than `max_gap`
    counts only as `max_gap`. The service observes at least every `interval`."""

    def __init__(self, now: Callable[[], float], max_gap: float) -> None:
        self._raw = now
        self._max_gap = max_gap
        self._last = now()
        self._offset = 0.0
        self.stalls = 0
        self.stalled_for = 0.0

    def now(self) -> float:
        t = self._raw()
        gap = t - self._last
        if gap > self._max_gap:
            self._offset += gap - self._max_gap
            self.stalls += 1
            self.stalled_for += gap - self._max_gap
        self._last = max(self._last, t)
        return t - self._offset


class _Link(asyncio.DatagramProtocol):
    def __init__(self, service: HeartbeatService, index: int) -> None:
        self.service = service
        self.index = index
        self.transport: asyncio.DatagramTransport | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.service._received(self.index, data)

    def error_received(self, exc: Exception) -> None:
        self.service._send_error()
        log.debug("heartbeat link %d: %s", self.index, exc)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("heartbeat task %s crashed", task.get_name(), exc_info=task.exception())


class HeartbeatService:
    def __init__(self, config: ClusterConfig, node: str, key: bytes,
                 on_change: Callable[[DetectorView], None], *,
                 incarnation: int | None = None) -> None:
        """`incarnation`: defaults to the start time in ns (wall clock); pass a persisted,
        ever-growing value where the wall clock may step back across a restart."""
        hb = config.heartbeat
        self.node = node
        self._cluster = config.name
        self._key = key
        self._on_change = on_change
        self._port = hb.port
        self._interval = hb.interval
        self._addresses = config.node(node).heartbeat_addresses
        self._peers = {n.name: n.heartbeat_addresses for n in config.nodes
                       if n.role == "member" and n.name != node}
        shared = {p: min(len(a), len(self._addresses)) for p, a in self._peers.items()}
        self.detector = FailureDetector(shared, hb.timeout, addresses=self._peers)
        self._guard = ReplayGuard()
        self._incarnation = incarnation
        self._seq = 0
        self._links: list[_Link | None] = [None] * len(self._addresses)
        self._tasks: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()
        self._clock: StallClock | None = None
        self._key_seen = self.detector.view(0.0).key
        self._sent = self._accepted = self._send_errors = 0
        self._rejected: Counter[str] = Counter()
        self._rebind_at = 0.0
        self._unbound: set[int] = set()

    # --- public -------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind one socket per own link, then send and watch. Links that cannot be bound
        are logged and retried; raises OSError when no link can be bound at all."""
        if self._tasks:
            raise RuntimeError("heartbeat service already started")
        loop = asyncio.get_running_loop()
        if self._incarnation is None:
            self._incarnation = time.time_ns()
        self._clock = StallClock(loop.time, 2 * self._interval)
        errors = await self._bind_missing()
        if not any(self._links):
            raise OSError(f"heartbeats: cannot bind any link of {self.node}: "
                          + "; ".join(errors))
        self._tasks = [loop.create_task(self._send_loop(), name=f"hb-send-{self.node}"),
                       loop.create_task(self._watch(), name=f"hb-watch-{self.node}")]
        for t in self._tasks:
            t.add_done_callback(_log_crash)

    def view(self) -> DetectorView:
        return self.detector.view(self._now())

    def stats(self) -> HeartbeatStats:
        clock = self._clock
        return HeartbeatStats(
            self._sent, self._accepted, dict(self._rejected), self._send_errors,
            tuple(i for i, link in enumerate(self._links) if link is not None),
            clock.stalls if clock else 0, clock.stalled_for if clock else 0.0)

    async def stop(self) -> None:
        """Stop sending and watching and close every socket (idempotent)."""
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._tasks = []
        links = [link for link in self._links if link is not None]
        self._links = [None] * len(self._addresses)
        for link in links:
            if link.transport is not None:
                link.transport.close()
        await asyncio.gather(*(link.closed for link in links))

    # --- internals ----------------------------------------------------------------------

    def _now(self) -> float:
        return self._clock.now() if self._clock else 0.0

    async def _bind_missing(self) -> list[str]:
        loop = asyncio.get_running_loop()
        errors = []
        for i, addr in enumerate(self._addresses):
            if self._links[i] is not None:
                continue
            try:
                transport, proto = await loop.create_datagram_endpoint(
                    functools.partial(_Link, self, i), local_addr=(addr, self._port))
            except OSError as e:
                errors.append(f"link {i} ({addr}:{self._port}): {e.strerror or e}")
                level = logging.DEBUG if i in self._unbound else logging.WARNING
                log.log(level, "heartbeat link %d: cannot bind %s:%d: %s; retrying every %gs",
                        i, addr, self._port, e.strerror or e, REBIND_INTERVAL)
                self._unbound.add(i)
                continue
            proto.transport = transport
            self._links[i] = proto
            if i in self._unbound:
                self._unbound.discard(i)
                log.info("heartbeat link %d: bound %s:%d", i, addr, self._port)
        self._rebind_at = loop.time() + REBIND_INTERVAL
        return errors

    async def _send_loop(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            self._now()  # an observation for the stall clock
            self._send_round()
            if not all(self._links) and loop.time() >= self._rebind_at:
                await self._bind_missing()
            next_at = max(next_at + self._interval, loop.time())
            await asyncio.sleep(next_at - loop.time())

    def _send_round(self) -> None:
        assert self._incarnation is not None
        self._seq += 1  # one seq per round: a packet captured on its way to one peer
        for i, link in enumerate(self._links):  # is never newer than what another got
            if link is None or link.transport is None:
                continue
            packet = encode(self._key, self._cluster, self.node, i, self._incarnation,
                            self._seq)
            for addrs in self._peers.values():
                if i < len(addrs):
                    link.transport.sendto(packet, (addrs[i], self._port))
                    self._sent += 1

    def _received(self, index: int, data: bytes) -> None:
        now = self._now()
        hb = decode(self._key, self._cluster, data)
        if isinstance(hb, Rejected):
            self._reject(hb.reason, hb.detail)
        elif hb.sender not in self._peers:
            self._reject("unknown-sender", f"{hb.sender!r} is not a peer of {self.node}")
        elif hb.link != index or hb.link >= self.detector.links(hb.sender):
            self._reject("wrong-link", f"{hb.sender} link {hb.link} arrived on link {index}")
        elif not self._guard.accept(hb):
            self._reject("replay", f"{hb.sender} link {hb.link} seq {hb.seq} is not new")
        else:
            self._accepted += 1
            if self.detector.heard(hb.sender, hb.link, now):
                self._wake.set()

    def _send_error(self) -> None:
        self._send_errors += 1

    def _reject(self, reason: str, detail: str) -> None:
        self._rejected[reason] += 1
        log.debug("heartbeat rejected (%s): %s", reason, detail)

    async def _watch(self) -> None:
        while True:
            now = self._now()
            view = self.detector.view(now)
            if view.key != self._key_seen:
                self._log_change(view)
                self._key_seen = view.key
                try:
                    self._on_change(view)
                except Exception:
                    log.exception("heartbeat on_change callback failed")
            due = self.detector.next_change(now)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(None if due is None else due - now):
                    await self._wake.wait()

    def _log_change(self, view: DetectorView) -> None:
        before = {node: (state, down) for node, state, down in self._key_seen}
        for p in view.peers:
            if before.get(p.node) == (p.state, p.links_down):
                continue
            level = logging.WARNING if p.suspected else logging.INFO
            log.log(level, "%s: %s is %s: %s", self.node, p.node, p.state, p.reason)
        for a in view.alerts:
            if a.link not in before.get(a.node, ("", ()))[1]:
                log.warning("%s: %s", self.node, a.reason)
