"""The client: from the lab's client host, an HTTP GET to the service's VIP every 20 ms.

A request is sent every interval whether or not the previous one finished (a dead owner
makes a request hang until its timeout; the next ones must still go out on time, or the
outage would be measured in timeouts). The thread enters the client namespace for good
and runs its own asyncio loop, so no process is spawned per request. The lab service
answers with its node's name, so each answer also says who served it.
"""

from __future__ import annotations

import asyncio
import threading
import time

from vigil.lab.drills.record import ProbeSample
from vigil.lab.netns import enter_for_good


async def ask(host: str, port: int, timeout: float) -> tuple[bool, str | None]:
    """One GET; (answered 200, the body's first line)."""
    writer = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(f"GET / HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
            data = await reader.read(4096)
            while data and b"\r\n\r\n" not in data:
                more = await reader.read(4096)
                if not more:
                    break
                data += more
            head, _, body = data.partition(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.") or head.split(b" ", 2)[1:2] != [b"200"]:
                return False, None
            if not body:
                body = await reader.read(4096)
            name = body.decode(errors="replace").strip().splitlines()
            return True, name[0] if name else None
    except (OSError, TimeoutError, IndexError):
        return False, None
    finally:
        if writer is not None:
            writer.close()


class VipProbe(threading.Thread):
    def __init__(self, netns: str | None, host: str, port: int, t0: float,
                 interval: float = 0.02, timeout: float = 1.0) -> None:
        super().__init__(daemon=True, name=f"drill-probe-{host}")
        self.netns, self.host, self.port = netns, host, port
        self.t0, self.interval, self.timeout = t0, interval, timeout
        self.samples: list[ProbeSample] = []
        self.in_flight: set[float] = set()
        """Send times of requests not answered yet."""
        self.error: str | None = None
        self._stop_event = threading.Event()
        self._lock = threading.Lock()

    def run(self) -> None:
        try:
            if self.netns is not None:
                enter_for_good(self.netns)
            asyncio.run(self._main())
        except Exception as e:  # surfaced in the drill's errors, never silently lost
            self.error = f"probe failed: {e!r}"

    async def _one(self, sent: float) -> None:
        with self._lock:
            self.in_flight.add(sent)
        ok, node = await ask(self.host, self.port, self.timeout)
        with self._lock:
            self.in_flight.discard(sent)
            self.samples.append(ProbeSample(sent - self.t0, ok, node,
                                            time.monotonic() - sent))

    async def _main(self) -> None:
        tasks: set[asyncio.Task[None]] = set()
        next_at = time.monotonic()
        while not self._stop_event.is_set():
            sent = time.monotonic()
            task = asyncio.create_task(self._one(sent))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            next_at += self.interval
            if next_at < sent:
                next_at = sent
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        if tasks:
            await asyncio.wait(tasks, timeout=self.timeout + 1)

    def stop(self) -> None:
        self._stop_event.set()
        if self.is_alive():
            self.join(5)

    def snapshot(self) -> list[ProbeSample]:
        with self._lock:
            return sorted(self.samples, key=lambda s: s.t)

    def serving(self, count: int = 10, since: float = 0.0) -> str | None:
        """The node that answered the last `count` probes (all ok, all the same node, the
        newest sent less than a timeout ago, and no request older than 0.1 s unanswered:
        a dead owner's requests hang rather than fail), or None. Only requests sent after
        `since` (seconds since t0) count: a step waits for answers that follow it."""
        with self._lock:
            samples = sorted((s for s in self.samples if s.t >= since),
                             key=lambda s: s.t)[-count:]
            oldest_waiting = min(self.in_flight, default=None)
        now = time.monotonic()
        if oldest_waiting is not None and now - oldest_waiting > 0.1:
            return None
        if len(samples) < count or now - self.t0 - samples[-1].t > self.timeout + 0.1:
            return None
        nodes = {s.node for s in samples}
        if not all(s.ok for s in samples) or len(nodes) != 1:
            return None
        return samples[-1].node
