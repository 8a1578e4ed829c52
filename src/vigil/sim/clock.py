"""A virtual clock with a timer heap: time only moves when the simulator says so."""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(order=True)
class _Timer:
    when: float
    seq: int
    fn: Callable[[], object] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)


class TimerHandle:
    """Returned by `call_at`; `cancel()` keeps the callback from ever firing."""

    def __init__(self, timer: _Timer) -> None:
        self._timer = timer

    @property
    def when(self) -> float:
        return self._timer.when

    def cancel(self) -> None:
        self._timer.cancelled = True


class VirtualClock:
    """Deterministic time: callbacks fire in (time, insertion) order, never on their own.

    A callback runs with `now()` equal to its due time and may schedule more timers; those
    due no later than the `run_until` target fire in the same call. A timer asked for in
    the past fires at the current time.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._heap: list[_Timer] = []
        self._seq = 0

    def now(self) -> float:
        return self._now

    def call_at(self, when: float, fn: Callable[[], object]) -> TimerHandle:
        timer = _Timer(max(when, self._now), self._seq, fn)
        self._seq += 1
        heapq.heappush(self._heap, timer)
        return TimerHandle(timer)

    def call_later(self, delay: float, fn: Callable[[], object]) -> TimerHandle:
        return self.call_at(self._now + delay, fn)

    def next_deadline(self) -> float | None:
        """Due time of the earliest pending timer (None when there is none)."""
        while self._heap and self._heap[0].cancelled:
            heapq.heappop(self._heap)
        return self._heap[0].when if self._heap else None

    def run_until(self, when: float) -> int:
        """Fire every timer due at or before `when`, then set the time to it.

        Returns how many callbacks ran. Time never goes backwards.
        """
        if when < self._now:
            raise ValueError(f"time cannot go back from {self._now} to {when}")
        fired = 0
        while self._heap and self._heap[0].when <= when:
            timer = heapq.heappop(self._heap)
            if timer.cancelled:
                continue
            self._now = timer.when
            timer.fn()
            fired += 1
        self._now = when
        return fired

    def advance(self, dt: float) -> int:
        if dt < 0:
            raise ValueError(f"cannot advance by a negative {dt}")
        return self.run_until(self._now + dt)
