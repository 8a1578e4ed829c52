"""A client that asks a service every few milliseconds and records what it saw."""

from __future__ import annotations

import http.client
import threading
import time
from dataclasses import dataclass

from vigil.lab.queries import outage_after


@dataclass(frozen=True)
class Sample:
    t: float
    """Monotonic time the request was sent."""
    ok: bool


class HttpProbe(threading.Thread):
    def __init__(self, host: str, port: int, path: str = "/", interval: float = 0.05,
                 timeout: float = 0.25) -> None:
        super().__init__(daemon=True, name=f"probe-{host}:{port}")
        self.host, self.port, self.path = host, port, path
        self.interval, self.timeout = interval, timeout
        self.samples: list[Sample] = []
        self._stop_event = threading.Event()
        self._lock = threading.Lock()

    def ask(self) -> bool:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.request("GET", self.path)
            return conn.getresponse().status == 200
        except (OSError, http.client.HTTPException):
            return False
        finally:
            conn.close()

    def run(self) -> None:
        next_at = time.monotonic()
        while not self._stop_event.is_set():
            t = time.monotonic()
            ok = self.ask()
            with self._lock:
                self.samples.append(Sample(t, ok))
            next_at += self.interval
            self._stop_event.wait(max(0.0, next_at - time.monotonic()))

    def stop(self) -> None:
        self._stop_event.set()
        self.join(5)

    def snapshot(self) -> list[Sample]:
        with self._lock:
            return list(self.samples)

    def last_ok(self) -> bool:
        s = self.snapshot()
        return bool(s) and s[-1].ok

    def ok_since(self, t0: float) -> bool:
        """A success sent after t0 that follows a failure (the service came back)."""
        failed = False
        for s in self.snapshot():
            if s.t < t0:
                continue
            failed = failed or not s.ok
            if failed and s.ok:
                return True
        return False

    def outage_after(self, t0: float) -> float | None:
        """Seconds from the last success before the first failure after t0 to the next
        success: the gap a client saw. None if it never came back; 0.0 if no failure."""
        return outage_after(self.snapshot(), t0)
