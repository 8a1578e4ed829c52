"""The failure detector: suspicion timing, unknown peers, link alerts, next_change."""

from __future__ import annotations

import math

import pytest

from vigil.core.detector import FailureDetector

T = 0.5
ADDRS = {"n2": ("127.0.1.2", "127.0.2.2"), "n3": ("127.0.1.3", "127.0.2.3")}


def detector() -> FailureDetector:
    return FailureDetector({"n2": 2, "n3": 2}, T, addresses=ADDRS)


def after(t: float) -> float:
    return math.nextafter(t, math.inf)


def heard_both(d: FailureDetector, node: str, now: float) -> None:
    d.heard(node, 0, now)
    d.heard(node, 1, now)


def test_suspected_only_after_timeout_strictly() -> None:
    d = detector()
    heard_both(d, "n2", 10.0)
    assert d.view(10.5).peer("n2").state == "alive"
    assert d.view(after(10.5)).peer("n2").state == "suspected"
    assert d.view(after(10.5)).suspected == frozenset({"n2"})


def test_the_newest_link_counts() -> None:
    d = detector()
    d.heard("n2", 0, 10.0)
    d.heard("n2", 1, 10.3)
    assert not d.view(10.8).peer("n2").suspected
    v = d.view(10.81)
    assert v.peer("n2").suspected
    assert v.peer("n2").reason == "no valid heartbeat from n2 on any link for 0.51s (timeout 0.5s)"


def test_never_heard_peer_is_unknown_not_suspected() -> None:
    d = detector()
    heard_both(d, "n2", 1.0)
    v = d.view(1000.0)
    n3 = v.peer("n3")
    assert n3.state == "unknown" and not n3.suspected and n3.last_heard is None
    assert v.suspected == frozenset({"n2"})
    assert v.alerts == ()


def test_heard_reports_view_changes_only() -> None:
    d = detector()
    assert d.heard("n2", 0, 1.0), "first heard: unknown -> alive"
    assert not d.heard("n2", 1, 1.01)
    assert not d.heard("n2", 0, 1.1)
    assert d.heard("n2", 0, 5.0), "suspected -> alive"


def test_one_link_down_is_an_alert_not_a_suspicion() -> None:
    d = detector()
    heard_both(d, "n2", 1.0)
    for i in range(1, 9):  # link 1 goes silent; link 0 keeps talking every 0.1 s
        changed = d.heard("n2", 0, 1.0 + i * 0.1)
        assert changed == (i == 6), i  # first packet after link 1's deadline (1.5)
    v = d.view(1.8)
    n2 = v.peer("n2")
    assert n2.state == "alive" and not n2.suspected
    assert n2.links_up == (0,) and n2.links_down == (1,)
    assert [a.reason for a in v.alerts] == [
        "link 1 (127.0.2.2) to n2 silent for 0.8s; n2 still answers on link 0"]
    assert v.alerts[0].node == "n2" and v.alerts[0].link == 1


def test_a_dying_peer_raises_no_passing_alert() -> None:
    d = detector()
    d.heard("n2", 0, 1.0)
    d.heard("n2", 1, 1.001)  # the same round, a hair later
    assert d.view(1.5005).peer("n2").links_down == ()
    assert d.view(1.5005).alerts == ()
    assert d.view(1.502).peer("n2").suspected
    assert d.view(1.502).alerts == ()


def test_link_never_heard_is_an_alert_once_the_peer_is_heard_past_its_timeout() -> None:
    d = FailureDetector({"n2": 2}, T, addresses={"n2": ("a0", "a1")})
    d.heard("n2", 0, 1.0)
    assert not d.heard("n2", 0, 1.4)
    assert d.heard("n2", 0, 1.6)
    (alert,) = d.view(1.6).alerts
    assert alert.reason == "link 1 (a1) to n2 has carried no heartbeat in 0.6s; " \
                           "n2 still answers on link 0"


def test_recovery_clears_alert_and_suspicion() -> None:
    d = detector()
    heard_both(d, "n2", 1.0)
    d.heard("n2", 0, 1.3)
    d.heard("n2", 0, 1.6)
    assert d.view(1.6).alerts
    assert d.heard("n2", 1, 1.7), "the link came back"
    v = d.view(1.7)
    assert v.alerts == () and v.peer("n2").links_down == () and v.peer("n2").links_up == (0, 1)
    assert d.view(3.0).peer("n2").suspected
    assert d.heard("n2", 1, 3.0), "suspected -> alive"
    v = d.view(3.0)
    assert v.peer("n2").state == "alive" and v.peer("n2").links_down == (), \
        "back from a suspicion, link 0 gets a full timeout again"
    assert v.peer("n2").reason == "n2 heard 0.00s ago on link 1"
    assert not d.heard("n2", 1, 3.4)
    assert d.heard("n2", 1, 3.6)
    assert [a.reason for a in d.view(3.6).alerts] == [
        "link 0 (127.0.1.2) to n2 silent for 0.6s; n2 still answers on link 1"]


def test_alerts_need_no_addresses() -> None:
    d = FailureDetector({"n2": 3}, 1.0)
    for i in range(3):
        d.heard("n2", i, 0.0)
    for t in (0.9, 1.8):
        d.heard("n2", 0, t)
        d.heard("n2", 2, t)
    assert [a.reason for a in d.view(2.0).alerts] == [
        "link 1 to n2 silent for 2.0s; n2 still answers on links 0, 2"]


def test_next_change_is_the_first_instant_a_suspicion_flips() -> None:
    d = detector()
    assert d.next_change(0.0) is None, "nothing heard: nothing can change by itself"
    heard_both(d, "n2", 10.0)
    d.heard("n3", 0, 10.2)
    assert d.next_change(10.1) == after(10.5)
    assert d.next_change(10.5) == after(10.5)
    t = d.next_change(10.5)
    assert t is not None and d.view(t).suspected == frozenset({"n2"})
    assert d.next_change(t) == after(10.7)
    assert d.next_change(10.8) is None, "every heard peer suspected"


def test_next_change_walk_reproduces_every_flip() -> None:
    """Sampling only at next_change() instants sees exactly what dense sampling sees."""
    d = FailureDetector({"a": 1, "b": 2, "c": 1}, 0.3)
    d.heard("a", 0, 0.0)
    d.heard("b", 0, 0.05)
    d.heard("b", 1, 0.2)
    d.heard("c", 0, 0.1)
    keys = []
    now: float | None = 0.0
    while now is not None:
        keys.append(d.view(now).key)
        now = d.next_change(now)
    dense = [d.view(i / 1000).key for i in range(0, 1000)]
    assert [k for i, k in enumerate(dense) if i == 0 or k != dense[i - 1]] == keys


def test_view_is_deterministic_and_time_only_moves_forward() -> None:
    a, b = detector(), detector()
    for d in (a, b):
        d.heard("n2", 0, 2.0)
        d.heard("n2", 0, 1.0)  # late and out of order: never moves last_heard back
    assert a.view(2.3) == b.view(2.3)
    assert a.view(2.3).peer("n2").last_heard == 2.0


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError):
        FailureDetector({"n2": 1}, 0)
    with pytest.raises(ValueError):
        FailureDetector({"n2": 0}, 1)
    d = detector()
    with pytest.raises(ValueError):
        d.heard("n9", 0, 1.0)
    with pytest.raises(ValueError):
        d.heard("n2", 2, 1.0)
