"""The outage a client saw, from its probe samples (pure)."""

from __future__ import annotations

from dataclasses import dataclass

from vigil.lab.queries import outage_after


@dataclass
class S:
    t: float
    ok: bool


def test_outage_runs_from_the_last_success_before_the_failure_to_the_next_success() -> None:
    samples = [S(0.0, True), S(0.1, True), S(0.2, False), S(0.3, False), S(0.45, True)]
    assert outage_after(samples, 0.15) == 0.45 - 0.1


def test_no_failure_is_no_outage_and_no_recovery_is_none() -> None:
    assert outage_after([S(0.0, True), S(0.2, True)], 0.1) == 0.0
    assert outage_after([S(0.0, True), S(0.2, False)], 0.1) is None


def test_failures_before_t0_do_not_count() -> None:
    samples = [S(0.0, False), S(0.1, True), S(0.3, True)]
    assert outage_after(samples, 0.2) == 0.0
