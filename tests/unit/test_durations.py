from __future__ import annotations

import pytest

from vigil.model.config import INFINITY
from vigil.model.durations import format_duration, parse_duration, parse_score


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (2, 2.0),
        (0.5, 0.5),
        (0, 0.0),
        ("500ms", 0.5),
        ("2s", 2.0),
        ("1.5s", 1.5),
        ("1m", 60.0),
        ("1h", 3600.0),
        ("1m30s", 90.0),
        ("1h 30m", 5400.0),
        ("2S", 2.0),
        (" 3 ", 3.0),
        (".5s", 0.5),
    ],
)
def test_parse_duration(value: object, seconds: float) -> None:
    assert parse_duration(value) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("fast", "'fast' is not a duration"),
        ("2 sec", "is not a duration"),
        ("5d", "is not a duration"),
        ("-1s", "cannot be negative"),
        (-2, "cannot be negative"),
        (float("inf"), "finite"),
        (True, "the boolean true"),
        ([1], "a list"),
        (None, "an empty value"),
    ],
)
def test_parse_duration_rejects(value: object, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_duration(value)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("value", "score"),
    [
        (100, 100),
        (-5, -5),
        ("42", 42),
        ("INFINITY", INFINITY),
        ("+INFINITY", INFINITY),
        ("-INFINITY", -INFINITY),
        ("inf", INFINITY),
        ("-Inf", -INFINITY),
        ("infinity", INFINITY),
        (float("inf"), INFINITY),
        (float("-inf"), -INFINITY),
        (5_000_000, INFINITY),
        (-5_000_000, -INFINITY),
        (7.0, 7),
    ],
)
def test_parse_score(value: object, score: int) -> None:
    assert parse_score(value) == score


@pytest.mark.parametrize("value", ["lots", "--inf", "1.5", 1.5, True, None, {"a": 1}])
def test_parse_score_rejects(value: object) -> None:
    with pytest.raises(ValueError, match="score"):
        parse_score(value)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (0.1, "100ms"), (0.5, "500ms"), (1.0, "1s"), (1.5, "1.5s"), (60, "1m"),
     (90, "90s"), (3600, "1h"), (0.6666, "667ms")],
)  # fmt: skip
def test_format_duration_round_trips(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == pytest.approx(seconds, abs=0.001)
