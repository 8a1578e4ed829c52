"""The split-brain detector: every 20 ms, which hosts hold each VIP and which nodes run
each primitive, read directly from the hosts (not from vigil, whose view is what is
being tested).

- a VIP is held by a host that has its address on an interface that is up with carrier
  (it answers ARP for it), read with one rtnetlink socket per namespace;
- a `process` resource runs where its pidfile (`<state>/run/<rid>.pid`) names a live
  process with the recorded start time — a frozen (SIGSTOP) process counts: it resumes;
- an OCF resource runs where its agent's state file exists in the node's HA_RSCTMP
  (the lab's Flaky and Dummy keep one; a power cut empties it).

One thread does all of it: a pass over four hosts costs well under a millisecond, and
`cost()` reports the mean and worst pass so a report can show the sampler kept up.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vigil.lab.drills.netlink import NamespaceAddrs
from vigil.lab.drills.record import HolderSample


@dataclass(frozen=True)
class Host:
    node: str
    netns: str
    state_dir: Path


@dataclass(frozen=True)
class Watched:
    """One resource and how to see it: kind 'address' (value: the IP), 'pidfile' or
    'statefile' (value: the file name under run/ or rsctmp/)."""

    rid: str
    kind: str
    value: str


def pid_alive(pidfile: Path) -> bool:
    """Whether the pidfile names a live (or frozen) process started when it says."""
    try:
        words = pidfile.read_text().split()
        pid, ticks = int(words[0]), int(words[2]) if len(words) > 2 else None
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError, IndexError):
        return False
    fields = stat[stat.rindex(")") + 2:].split()
    if fields[0] in ("Z", "X"):
        return False
    return ticks is None or int(fields[19]) == ticks


def watch_list(resources: list[tuple[str, str, dict[str, str]]]) -> list[Watched]:
    """What to watch for each primitive (id, agent, params) of a config."""
    out: list[Watched] = []
    for rid, agent, params in resources:
        if agent in ("vip", "ocf:heartbeat:IPaddr2", "ocf:heartbeat:IPaddr") and "ip" in params:
            out.append(Watched(rid, "address", params["ip"]))
        elif agent == "process":
            out.append(Watched(rid, "pidfile", f"{rid}.pid"))
        elif agent.startswith("ocf:"):
            out.append(Watched(rid, "statefile", f"{agent.rsplit(':', 1)[1]}-{rid}.state"))
    return out


class Detector(threading.Thread):
    def __init__(self, hosts: list[Host], watched: list[Watched], t0: float,
                 interval: float = 0.02,
                 powered: Callable[[str], bool] = lambda node: True) -> None:
        super().__init__(daemon=True, name="drill-detector")
        self.hosts, self.watched, self.t0, self.interval = hosts, watched, t0, interval
        self.powered = powered
        self.samples: list[HolderSample] = []
        self.passes: list[float] = []
        self.errors: list[str] = []
        self._stop_event = threading.Event()
        self._sockets: dict[str, NamespaceAddrs] = {}

    def sample(self) -> dict[str, tuple[str, ...]]:
        held: dict[str, list[str]] = {w.rid: [] for w in self.watched}
        for h in self.hosts:
            addrs: set[str] = set()
            if any(w.kind == "address" for w in self.watched):
                try:
                    addrs = self._sockets[h.node].up_addresses()
                except (OSError, KeyError) as e:
                    self._note(f"{h.node}: netlink: {e}")
                    self._reopen(h)
            for w in self.watched:
                if w.kind == "address":
                    on = w.value in addrs
                elif w.kind == "pidfile":
                    on = pid_alive(h.state_dir / "run" / w.value)
                else:
                    on = (h.state_dir / "rsctmp" / w.value).exists()
                if on:
                    held[w.rid].append(h.node)
        return {rid: tuple(nodes) for rid, nodes in held.items()}

    def _note(self, text: str) -> None:
        if len(self.errors) < 20 and text not in self.errors:
            self.errors.append(text)

    def _reopen(self, h: Host) -> None:
        try:
            if h.node in self._sockets:
                self._sockets.pop(h.node).close()
            self._sockets[h.node] = NamespaceAddrs(h.netns)
        except OSError as e:
            self._note(f"{h.node}: cannot reopen netlink: {e}")

    def run(self) -> None:
        # Sockets are opened from this thread (setns is per thread; see runner.py).
        for h in self.hosts:
            try:
                self._sockets[h.node] = NamespaceAddrs(h.netns)
            except OSError as e:
                self._note(f"{h.node}: cannot open netlink: {e}")
        next_at = time.monotonic()
        while not self._stop_event.is_set():
            start = time.monotonic()
            holders = self.sample()
            end = time.monotonic()
            self.samples.append(HolderSample(start - self.t0, holders))
            self.passes.append(end - start)
            next_at += self.interval
            if next_at < end:  # fell behind (a stalled machine): do not burst
                next_at = end
            self._stop_event.wait(max(0.0, next_at - time.monotonic()))

    def stop(self) -> None:
        self._stop_event.set()
        if self.is_alive():
            self.join(5)
        for s in self._sockets.values():
            s.close()

    def cost(self) -> dict[str, float]:
        if not self.passes:
            return {}
        gaps = [b.t - a.t for a, b in zip(self.samples, self.samples[1:], strict=False)]
        return {"passes": float(len(self.passes)),
                "mean_pass_ms": 1000 * sum(self.passes) / len(self.passes),
                "max_pass_ms": 1000 * max(self.passes),
                "max_gap_ms": 1000 * max(gaps, default=0.0)}
