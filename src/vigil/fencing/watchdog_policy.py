"""The node watchdog's decisions (DESIGN S2, self-fencing), with no I/O and no clock.

The agent feeds the watchdog `feed <deadline>`: "the node's resources may run until
`deadline`" (CLOCK_MONOTONIC, the same clock in every process of the machine). While
armed, the watchdog fires at

    fire_at = min(deadline, last_feed + timeout)

that is when the agent's lease view ends, or when the agent has been silent for
`timeout` (killed, frozen, hung) — whichever comes first. Firing kills every resource
process of the node and disarms; the next feed arms again. `disarm` says nothing may run
(the node holds no lease, or a planned exit drained it). `exit` and SIGTERM end the
watchdog, but an armed watchdog fires first: a dying watchdog must not leave resources
running unguarded.

With a kernel watchdog device the watchdog pings it while nothing is due to be killed:
while disarmed, and while armed before `fire_at`. If a kill fails (a process survives
SIGKILL, e.g. in D state) the node is *doomed*: pings stop for good and the kernel
reboots the machine; only a doomed or crashed watchdog closes the device without the
magic 'V' that disables it.

`step(state, event, now) -> (state, actions)`: the shell feeds events (messages, ticks,
the outcome of a kill) and performs the actions it gets back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

# --- events -------------------------------------------------------------------------


@dataclass(frozen=True)
class Feed:
    deadline: float
    """CLOCK_MONOTONIC time until which resources may run (the agent's lease view)."""


@dataclass(frozen=True)
class Disarm:
    pass


@dataclass(frozen=True)
class SetTimeout:
    """A (restarted) agent's silence timeout, for a watchdog it reuses."""

    timeout: float


@dataclass(frozen=True)
class Exit:
    why: str = "told to exit"


@dataclass(frozen=True)
class Tick:
    """Time passed: fire or ping if due."""


@dataclass(frozen=True)
class Fired:
    """The outcome of a `Fire` action: how many processes are still alive after it."""

    survivors: int


Event = Feed | Disarm | SetTimeout | Exit | Tick | Fired


# --- actions ------------------------------------------------------------------------


@dataclass(frozen=True)
class Fire:
    """Kill every resource process of the node, record why; report back with `Fired`."""

    reason: str


@dataclass(frozen=True)
class Ping:
    """Write to the kernel watchdog device."""


@dataclass(frozen=True)
class StopPinging:
    """A kill failed: never ping the device again, so the kernel reboots the machine."""

    reason: str


@dataclass(frozen=True)
class Quit:
    magic_close: bool
    """Write the magic 'V' before closing the device (a clean exit)."""


Action = Fire | Ping | StopPinging | Quit


# --- state --------------------------------------------------------------------------

LEASE_ENDED = "lease view ended"


def silent_reason(timeout: float) -> str:
    return f"agent silent for {timeout:.1f}s"


@dataclass(frozen=True)
class WatchdogState:
    timeout: float
    """Fire when the agent has not fed for this long (seconds)."""
    ping_interval: float | None = None
    """How often to ping the kernel device; None: no device."""
    armed: bool = False
    deadline: float = math.inf
    last_feed: float = -math.inf
    last_ping: float = -math.inf
    doomed: bool = False
    """A kill failed: the device is no longer pinged (the machine reboots)."""
    exiting: bool = False
    fires: int = 0

    def fire_at(self) -> float | None:
        """When the watchdog fires if nothing is fed meanwhile; None while disarmed."""
        if not self.armed:
            return None
        return min(self.deadline, self.last_feed + self.timeout)

    def fire_reason(self) -> str:
        if self.deadline <= self.last_feed + self.timeout:
            return LEASE_ENDED
        return silent_reason(self.timeout)

    def may_ping(self, now: float) -> bool:
        """Whether pinging the device is safe now: nothing runs, or it may still run."""
        if self.ping_interval is None or self.doomed:
            return False
        fire_at = self.fire_at()
        return fire_at is None or now < fire_at

    def next_wake(self, now: float) -> float | None:
        """The next time a `Tick` can make a difference; None: only messages can."""
        wakes = []
        fire_at = self.fire_at()
        if fire_at is not None:
            wakes.append(fire_at)
        if self.ping_interval is not None and not self.doomed:
            wakes.append(self.last_ping + self.ping_interval)
        return min(wakes) if wakes else None


def step(state: WatchdogState, event: Event, now: float) -> tuple[WatchdogState, list[Action]]:
    """Apply one event at time `now`; return the new state and what to do, in order."""
    if isinstance(event, Fired):
        actions: list[Action] = []
        if event.survivors and not state.doomed:
            state = replace(state, doomed=True)
            if state.ping_interval is not None:
                actions.append(StopPinging(
                    f"{event.survivors} process(es) still alive after SIGKILL"))
        if state.exiting:
            actions.append(Quit(magic_close=not state.doomed))
        return state, actions
    if state.exiting:
        return state, []  # waiting for the outcome of the last fire
    if isinstance(event, Exit):
        state = replace(state, exiting=True)
        if state.armed:
            return _fire(state, f"{event.why} while armed")
        return state, [Quit(magic_close=not state.doomed)]
    if isinstance(event, Feed):
        state = replace(state, armed=True, deadline=event.deadline, last_feed=now)
    elif isinstance(event, Disarm):
        state = replace(state, armed=False)
    elif isinstance(event, SetTimeout):
        state = replace(state, timeout=event.timeout)
    return _check(state, now)


def _fire(state: WatchdogState, reason: str) -> tuple[WatchdogState, list[Action]]:
    return replace(state, armed=False, fires=state.fires + 1), [Fire(reason)]


def _check(state: WatchdogState, now: float) -> tuple[WatchdogState, list[Action]]:
    fire_at = state.fire_at()
    if fire_at is not None and now >= fire_at:
        return _fire(state, state.fire_reason())
    interval = state.ping_interval
    if interval is not None and state.may_ping(now) and now - state.last_ping >= interval:
        return replace(state, last_ping=now), [Ping()]
    return state, []


# --- messages -----------------------------------------------------------------------


def parse_message(text: str) -> Feed | Disarm | SetTimeout | Exit:
    """`feed <deadline>` | `disarm` | `timeout <seconds>` | `exit`; ValueError otherwise."""
    words = text.split()
    if words and words[0] in ("feed", "timeout") and len(words) == 2:
        try:
            value = float(words[1])
        except ValueError:
            raise ValueError(f"{words[0]}: {words[1]!r} is not a number") from None
        if not math.isfinite(value):
            raise ValueError(f"{words[0]}: {words[1]!r} is not a finite number")
        if words[0] == "feed":
            return Feed(value)
        if value <= 0:
            raise ValueError(f"timeout: {value} is not positive")
        return SetTimeout(value)
    if words == ["disarm"]:
        return Disarm()
    if words == ["exit"]:
        return Exit()
    raise ValueError(f"unknown message {text[:80]!r}")


def feed_message(deadline: float) -> str:
    return f"feed {deadline!r}"
