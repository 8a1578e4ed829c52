"""A client in a lab host that asks the service every few milliseconds, and remembers
who answered.

Requests start every `interval` whatever happens to earlier ones (a small pool of
threads, each inside the host's network namespace), so a request stuck on a dead owner
does not blind the probe: the outage is resolved to about one interval. Each sample is
(send time, ok, the body's first line = the node that served, with the lab service).
"""

from __future__ import annotations

import http.client
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from vigil.lab.netns import enter_for_good
from vigil.lab.queries import outage_after


@dataclass(frozen=True)
class LabSample:
    t: float
    """Monotonic time the request was sent."""
    ok: bool
    who: str | None
    """The answering node (the lab service's body), None on failure."""


class LabProbe:
    def __init__(self, netns: str, host: str, port: int = 80, path: str = "/",
                 interval: float = 0.02, timeout: float = 0.25) -> None:
        self.netns, self.host, self.port, self.path = netns, host, port, path
        self.interval, self.timeout = interval, timeout
        self.samples: list[LabSample] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        workers = max(4, int(timeout / interval) + 4)
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="lab-probe",
                                        initializer=enter_for_good, initargs=(netns,))
        self._ticker = threading.Thread(target=self._tick, daemon=True, name="lab-probe-tick")

    def start(self) -> LabProbe:
        self._ticker.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._ticker.join(5)
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> LabProbe:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _tick(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            self._pool.submit(self._ask, time.monotonic())
            next_at += self.interval
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def _ask(self, t: float) -> None:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        who: str | None = None
        try:
            conn.request("GET", self.path)
            resp = conn.getresponse()
            body = resp.read(200).decode(errors="replace")
            if resp.status == 200:
                who = body.splitlines()[0].strip() if body else ""
        except (OSError, http.client.HTTPException):
            pass
        finally:
            conn.close()
        with self._lock:
            self.samples.append(LabSample(t, who is not None, who))

    # -- reading ---------------------------------------------------------------------

    def snapshot(self) -> list[LabSample]:
        with self._lock:
            return sorted(self.samples, key=lambda s: s.t)

    def last_ok(self) -> bool:
        done = self.snapshot()
        return bool(done) and done[-1].ok

    def back_after(self, t0: float, not_from: str | None = None) -> LabSample | None:
        """The first success sent after a failure that was sent at/after t0 (optionally:
        answered by a node other than `not_from`), None while there is none."""
        failed = False
        for s in self.snapshot():
            if s.t < t0:
                continue
            if not s.ok:
                failed = True
            elif failed and (not_from is None or s.who != not_from):
                return s
        return None

    def outage_after(self, t0: float) -> float | None:
        """Seconds from the last success sent before the first failure at/after t0 to
        the first success sent after it: the gap the client saw. None if it did not
        come back; 0.0 if nothing failed."""
        return outage_after(self.snapshot(), t0)

    def served_by_since(self, t0: float) -> set[str]:
        """Every node that answered a request sent at/after t0."""
        return {s.who for s in self.snapshot() if s.t >= t0 and s.ok and s.who}
