"""Failure detection from direct heartbeats: who is suspected, which link is down.

Pure and deterministic: the caller passes `now` (any monotonic clock, in seconds).

- A peer never heard is *unknown*, never suspected: a misconfigured link or a peer that
  has not started yet must not get a node fenced.
- A heard peer is *suspected* once every link has been silent for longer than `timeout`
  (strictly: at `last + timeout` it is still alive).
- A link counts as *down* once it has been silent for longer than `timeout` while the
  peer kept talking on another link after that. Silence counts at most from when the peer
  was last heard after being unknown or suspected (its *epoch*), so a link never heard,
  or one that stayed silent across a suspicion, gets its full timeout again. A down link of
  a live peer is an *alert*, not a suspicion. Requiring a heartbeat
  after the link's deadline keeps a dying peer, whose links fall silent a hair apart,
  from raising a passing alert on its way to being suspected.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

PeerState = Literal["unknown", "alive", "suspected"]


@dataclass(frozen=True)
class Alert:
    node: str
    link: int
    silent_for: float
    reason: str


@dataclass(frozen=True)
class PeerView:
    node: str
    state: PeerState
    links_up: tuple[int, ...]
    links_down: tuple[int, ...]
    """Alive: links known down (alerts). Suspected: every link. Unknown: none, as up."""
    last_heard: float | None
    """When any link last carried a valid heartbeat (the caller's clock)."""
    reason: str

    @property
    def suspected(self) -> bool:
        return self.state == "suspected"


@dataclass(frozen=True)
class DetectorView:
    at: float
    peers: tuple[PeerView, ...]
    alerts: tuple[Alert, ...]

    def peer(self, node: str) -> PeerView:
        for p in self.peers:
            if p.node == node:
                return p
        raise KeyError(node)

    @property
    def suspected(self) -> frozenset[str]:
        return frozenset(p.node for p in self.peers if p.suspected)

    @property
    def key(self) -> tuple[tuple[str, PeerState, tuple[int, ...]], ...]:
        """What a change notification is about: states and down links, not timestamps."""
        return tuple((p.node, p.state, p.links_down) for p in self.peers)


class FailureDetector:
    def __init__(self, peers: Mapping[str, int], timeout: float, *,
                 addresses: Mapping[str, tuple[str, ...]] | None = None) -> None:
        """`peers`: node -> number of links shared with it; `addresses`: node -> the
        peer's address per link, used only in alert reasons."""
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        for node, n in peers.items():
            if n < 1:
                raise ValueError(f"peer {node} needs at least one link, got {n}")
        self.timeout = timeout
        self._links = dict(peers)
        self._addresses = dict(addresses or {})
        self._last: dict[str, list[float | None]] = {p: [None] * n for p, n in peers.items()}
        self._epoch: dict[str, float] = {}

    def links(self, node: str) -> int:
        """How many links are shared with `node` (KeyError for a non-peer)."""
        return self._links[node]

    def heard(self, node: str, link: int, now: float) -> bool:
        """A valid heartbeat from `node` on `link`. True when this changed the view's key
        (peer first heard, recovered, a down link came back or another is now down)."""
        if node not in self._links or not 0 <= link < self._links[node]:
            raise ValueError(f"no link {link} to peer {node}")
        before = self._peer(node, now)
        last = self._last[node]
        prev = last[link]
        last[link] = now if prev is None else max(prev, now)
        if before.state != "alive":
            self._epoch[node] = now
        after = self._peer(node, now)
        return (before.state, before.links_down) != (after.state, after.links_down)

    def view(self, now: float) -> DetectorView:
        peers = tuple(self._peer(p, now) for p in self._links)
        alerts = tuple(a for p in peers if p.state == "alive"
                       for a in self._alerts(p, now))
        return DetectorView(now, peers, alerts)

    def next_change(self, now: float) -> float | None:
        """The earliest time after `now` at which the view can change without a new
        heartbeat (an alive peer becoming suspected); None if nothing is pending."""
        times = [math.nextafter(self._deadline(p), math.inf) for p in self._links
                 if p in self._epoch and now <= self._deadline(p)]
        return min(times, default=None)

    # --- internals ----------------------------------------------------------------------

    def _since(self, node: str, link: int) -> float:
        """When the link last carried a heartbeat, but not before the peer's epoch."""
        t = self._last[node][link]
        epoch = self._epoch[node]
        return epoch if t is None else max(t, epoch)

    def _deadline(self, node: str) -> float:
        return max(self._since(node, i) for i in range(self._links[node])) + self.timeout

    def _peer(self, node: str, now: float) -> PeerView:
        n = self._links[node]
        if node not in self._epoch:
            return PeerView(node, "unknown", (), (), None,
                            f"no heartbeat from {node} yet")
        last = max(self._since(node, i) for i in range(n))
        if now > last + self.timeout:
            return PeerView(node, "suspected", (), tuple(range(n)), last,
                            f"no valid heartbeat from {node} on any link for "
                            f"{now - last:.2f}s (timeout {self.timeout:g}s)")
        down = tuple(i for i in range(n)
                     if now > self._since(node, i) + self.timeout
                     and last > self._since(node, i) + self.timeout)
        up = tuple(i for i in range(n) if i not in down)
        return PeerView(node, "alive", up, down, last,
                        f"{node} heard {now - last:.2f}s ago on "
                        f"{_links(self._answering(node, now))}")

    def _alerts(self, peer: PeerView, now: float) -> list[Alert]:
        alerts = []
        for i in peer.links_down:
            silent = now - self._since(peer.node, i)
            addrs = self._addresses.get(peer.node, ())
            where = f"link {i} ({addrs[i]})" if i < len(addrs) else f"link {i}"
            what = ("silent for" if self._last[peer.node][i] is not None
                    else "has carried no heartbeat in")
            alerts.append(Alert(peer.node, i, silent,
                                f"{where} to {peer.node} {what} {silent:.1f}s; "
                                f"{peer.node} still answers on "
                                f"{_links(self._answering(peer.node, now))}"))
        return alerts

    def _answering(self, node: str, now: float) -> tuple[int, ...]:
        """Links that actually carried a heartbeat within the timeout."""
        return tuple(i for i in range(self._links[node])
                     if (t := self._last[node][i]) is not None and now <= t + self.timeout)


def _links(links: tuple[int, ...]) -> str:
    if len(links) == 1:
        return f"link {links[0]}"
    return "links " + ", ".join(str(i) for i in links)
