"""The node watchdog's pure decisions: when it fires, why, and when it pings the device."""

from __future__ import annotations

import math

import pytest

from vigil.fencing.watchdog_policy import (
    LEASE_ENDED,
    Action,
    Disarm,
    Event,
    Exit,
    Feed,
    Fire,
    Fired,
    Ping,
    Quit,
    SetTimeout,
    StopPinging,
    Tick,
    WatchdogState,
    feed_message,
    parse_message,
    silent_reason,
    step,
)

TIMEOUT = 2.0


def run(state: WatchdogState, *timeline: tuple[float, Event]
        ) -> tuple[WatchdogState, list[tuple[float, Action]]]:
    """Apply events in order; answer every Fire with Fired(0) (all killed)."""
    done: list[tuple[float, Action]] = []
    for now, event in timeline:
        state, actions = step(state, event, now)
        done += [(now, a) for a in actions]
        for a in actions:
            if isinstance(a, Fire):
                state, more = step(state, Fired(0), now)
                done += [(now, m) for m in more]
    return state, done


def fires(actions: list[tuple[float, Action]]) -> list[tuple[float, str]]:
    return [(t, a.reason) for t, a in actions if isinstance(a, Fire)]


# --- fire time ------------------------------------------------------------------------


def test_disarmed_watchdog_never_fires() -> None:
    state = WatchdogState(TIMEOUT)
    assert state.fire_at() is None
    assert state.next_wake(0.0) is None
    _, actions = run(state, (0.0, Tick()), (1e6, Tick()))
    assert actions == []


def test_fire_time_is_the_silence_timeout_when_the_lease_lasts_longer() -> None:
    state, _ = step(WatchdogState(TIMEOUT), Feed(deadline=100.0), 10.0)
    assert state.armed
    assert state.fire_at() == 10.0 + TIMEOUT
    assert state.fire_reason() == silent_reason(TIMEOUT) == "agent silent for 2.0s"


def test_fire_time_is_the_lease_deadline_when_it_ends_first() -> None:
    state, _ = step(WatchdogState(TIMEOUT), Feed(deadline=11.0), 10.0)
    assert state.fire_at() == 11.0
    assert state.fire_reason() == LEASE_ENDED


@pytest.mark.parametrize(("deadline", "expected"), [
    (100.0, 12.0), (12.0, 12.0), (11.5, 11.5), (10.001, 10.001)])
def test_fire_time_is_the_minimum_of_deadline_and_last_feed_plus_timeout(
        deadline: float, expected: float) -> None:
    state, _ = step(WatchdogState(TIMEOUT), Feed(deadline), 10.0)
    assert state.fire_at() == expected
    assert state.next_wake(10.0) == expected


def test_fires_exactly_at_fire_time_with_the_reason_and_disarms() -> None:
    state, actions = run(WatchdogState(TIMEOUT), (10.0, Feed(100.0)),
                         (11.999, Tick()), (12.0, Tick()), (13.0, Tick()))
    assert fires(actions) == [(12.0, "agent silent for 2.0s")]
    assert not state.armed and state.fire_at() is None
    assert state.fires == 1


def test_lease_end_fires_before_the_silence_timeout() -> None:
    _, actions = run(WatchdogState(TIMEOUT), (10.0, Feed(10.5)),
                     (10.4, Tick()), (10.5, Tick()))
    assert fires(actions) == [(10.5, LEASE_ENDED)]


def test_each_feed_pushes_the_silence_timeout() -> None:
    timeline: list[tuple[float, Event]] = [(t / 10, Feed(100.0)) for t in range(0, 100, 15)]
    state, actions = run(WatchdogState(TIMEOUT), *timeline, (10.999, Tick()))
    assert fires(actions) == []
    assert state.fire_at() == pytest.approx(9.0 + TIMEOUT)


def test_the_latest_feed_wins_even_with_an_earlier_deadline() -> None:
    # A restarted agent may know a shorter lease than its previous incarnation did.
    state, _ = run(WatchdogState(TIMEOUT), (10.0, Feed(50.0)), (10.1, Feed(10.6)))
    assert state.fire_at() == 10.6


def test_a_deadline_in_the_past_fires_at_once() -> None:
    state, actions = step(WatchdogState(TIMEOUT), Feed(deadline=9.0), 10.0)
    assert actions == [Fire(LEASE_ENDED)]
    assert not state.armed


def test_new_timeout_applies_to_the_running_countdown() -> None:
    state, _ = run(WatchdogState(TIMEOUT), (10.0, Feed(100.0)), (10.5, SetTimeout(5.0)))
    assert state.fire_at() == 15.0
    state, actions = run(state, (11.0, SetTimeout(0.5)))
    assert fires(actions) == [(11.0, "agent silent for 0.5s")]


# --- disarm, re-arm -------------------------------------------------------------------


def test_disarm_prevents_firing() -> None:
    state, actions = run(WatchdogState(TIMEOUT), (10.0, Feed(10.5)), (10.2, Disarm()),
                         (10.5, Tick()), (20.0, Tick()))
    assert fires(actions) == []
    assert not state.armed and state.next_wake(20.0) is None


def test_feed_after_disarm_arms_again() -> None:
    _, actions = run(WatchdogState(TIMEOUT), (10.0, Feed(100.0)), (10.2, Disarm()),
                     (30.0, Feed(100.0)), (31.0, Tick()), (32.0, Tick()))
    assert fires(actions) == [(32.0, "agent silent for 2.0s")]


def test_feed_after_fire_rearms() -> None:
    state, actions = run(WatchdogState(TIMEOUT), (10.0, Feed(100.0)), (12.0, Tick()),
                         (12.5, Feed(100.0)))
    assert fires(actions) == [(12.0, "agent silent for 2.0s")]
    assert state.armed and state.fire_at() == 14.5
    state, actions = run(state, (14.5, Tick()))
    assert fires(actions) == [(14.5, "agent silent for 2.0s")]
    assert state.fires == 2


# --- exit and SIGTERM -----------------------------------------------------------------


def test_exit_while_disarmed_quits_cleanly() -> None:
    state, actions = step(WatchdogState(TIMEOUT), Exit(), 1.0)
    assert actions == [Quit(magic_close=True)]
    assert state.exiting


def test_exit_while_armed_fires_first() -> None:
    _, actions = run(WatchdogState(TIMEOUT), (10.0, Feed(100.0)), (10.5, Exit("SIGTERM")))
    assert [a for _, a in actions] == [Fire("SIGTERM while armed"), Quit(magic_close=True)]


def test_nothing_arms_a_watchdog_that_is_exiting() -> None:
    state, _ = step(WatchdogState(TIMEOUT), Feed(100.0), 10.0)
    state, actions = step(state, Exit(), 10.1)
    assert actions == [Fire("told to exit while armed")]
    state, late = step(state, Feed(100.0), 10.2)  # queued before the exit
    assert late == [] and not state.armed
    state, actions = step(state, Fired(0), 10.3)
    assert actions == [Quit(magic_close=True)]


# --- the kernel device ----------------------------------------------------------------


def pings(actions: list[tuple[float, Action]]) -> list[float]:
    return [t for t, a in actions if isinstance(a, Ping)]


def ticks(start: float, end: float, every: float = 0.1) -> list[tuple[float, Event]]:
    return [(round(start + i * every, 6), Tick())
            for i in range(round((end - start) / every) + 1)]


def test_no_device_no_pings() -> None:
    _, actions = run(WatchdogState(TIMEOUT), *ticks(0.0, 3.0))
    assert pings(actions) == []


def test_pings_every_interval_while_disarmed() -> None:
    state = WatchdogState(TIMEOUT, ping_interval=0.5)
    _, actions = run(state, *ticks(0.0, 2.0))
    assert pings(actions) == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert state.next_wake(0.0) == -math.inf  # never pinged: ping now


def test_pings_while_armed_only_before_fire_time_then_resume_after_a_good_kill() -> None:
    state = WatchdogState(TIMEOUT, ping_interval=0.5)
    state, actions = run(state, (0.0, Feed(1.2)), *ticks(0.1, 3.0))
    assert fires(actions) == [(1.2, LEASE_ENDED)]
    assert pings(actions) == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0]


def test_a_failed_kill_stops_pings_for_good() -> None:
    state = WatchdogState(TIMEOUT, ping_interval=0.5)
    state, actions = step(state, Feed(1.0), 0.0)
    assert actions == [Ping()]
    state, actions = step(state, Tick(), 1.0)
    assert actions == [Fire(LEASE_ENDED)]
    state, actions = step(state, Fired(survivors=2), 1.1)
    assert actions == [StopPinging("2 process(es) still alive after SIGKILL")]
    assert state.doomed and state.next_wake(1.1) is None
    later: list[Action] = []
    timeline: list[tuple[float, Event]] = [
        (1.5, Tick()), (2.0, Disarm()), (3.0, Feed(100.0)), (3.5, Tick())]
    for now, event in timeline:
        state, actions = step(state, event, now)
        later += actions
    assert not any(isinstance(a, Ping) for a in later)
    assert Fire(LEASE_ENDED) not in later and state.armed  # the fed deadline is ahead
    state, actions = step(state, Exit(), 4.0)
    assert actions == [Fire("told to exit while armed")]  # a doomed node still kills
    state, actions = step(state, Fired(survivors=0), 4.1)
    assert actions == [Quit(magic_close=False)]  # and lets the device expire: reboot


def test_a_failed_kill_without_a_device_is_remembered_but_quits_without_reboot() -> None:
    state, _ = step(WatchdogState(TIMEOUT), Feed(0.0), 1.0)
    state, actions = step(state, Fired(survivors=1), 1.0)
    assert actions == [] and state.doomed


# --- messages -------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "event"), [
    ("feed 123.5", Feed(123.5)),
    (feed_message(4405.161626894), Feed(4405.161626894)),
    ("  feed -1\n", Feed(-1.0)),
    ("disarm", Disarm()),
    ("exit\n", Exit()),
    ("timeout 0.5", SetTimeout(0.5)),
])
def test_parse_message(text: str, event: Event) -> None:
    assert parse_message(text) == event


@pytest.mark.parametrize(("text", "error"), [
    ("", "unknown message"),
    ("feed", "unknown message"),
    ("feed soon", "is not a number"),
    ("feed nan", "not a finite number"),
    ("feed inf", "not a finite number"),
    ("timeout 0", "not positive"),
    ("disarm now", "unknown message"),
    ("reboot", "unknown message"),
])
def test_parse_message_rejects(text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_message(text)
