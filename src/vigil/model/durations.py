"""Durations and scores as operators write them in the config.

Durations: a plain number is seconds (`2`, `0.5`); a string carries units (`500ms`, `2s`,
`1.5s`, `1m`, `1h`, or combined like `1m30s`). Scores: integers, or `INFINITY` /
`+INFINITY` / `-INFINITY` / `inf` / `-inf` (any case), clamped to +-`INFINITY` like
Pacemaker does.

Parsers raise `ValueError` whose text is ready to show an operator: it names the bad
value and what would be accepted. They take `object` because they read YAML values.
"""

from __future__ import annotations

import math
import re

from vigil.model.config import INFINITY

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
_PART = re.compile(rf"({_NUMBER})(ms|s|m|h)")
_DURATION = re.compile(rf"(?:{_NUMBER}(?:ms|s|m|h))+|{_NUMBER}")
_INFINITE = {"infinity", "inf"}

DURATION_HINT = "a duration such as 500ms, 2s, 1.5s, 1m or 1h (a plain number means seconds)"
SCORE_HINT = "a score: a whole number or INFINITY / -INFINITY"


def describe(value: object) -> str:
    """Name a YAML value's kind for an error message ("the string 'x'", "a list")."""
    if value is None:
        return "nothing (an empty value)"
    if is_bool(value):
        return f"the boolean {str(bool(value)).lower()}"
    if isinstance(value, int):
        return f"the integer {int(value)}"
    if isinstance(value, float):
        return f"the number {float(value):g}"
    if isinstance(value, str):
        return f"the string {str(value)!r}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!s}"


def is_bool(value: object) -> bool:
    # ruamel.yaml loads an anchored `true` as ScalarBoolean, an int subclass, not a bool.
    return isinstance(value, bool) or type(value).__name__ == "ScalarBoolean"


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not is_bool(value)


def parse_duration(value: object) -> float:
    """Seconds as a float; never negative, never infinite."""
    if _is_number(value):
        seconds = float(value)  # type: ignore[arg-type]
    elif isinstance(value, str):
        seconds = _parse_duration_text(value)
    else:
        raise ValueError(f"expected {DURATION_HINT}; got {describe(value)}")
    if math.isnan(seconds) or math.isinf(seconds):
        raise ValueError(f"expected a finite duration, {DURATION_HINT}; got {value!s}")
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative (got {value!s}); use 0 or more")
    return seconds


def _parse_duration_text(text: str) -> float:
    compact = text.strip().lower().replace(" ", "")
    if compact.startswith("-"):
        raise ValueError(f"a duration cannot be negative (got {text!r}); use 0 or more")
    if not _DURATION.fullmatch(compact):
        raise ValueError(f"{text!r} is not a duration; expected {DURATION_HINT}")
    parts = _PART.findall(compact)
    if not parts:  # a bare number in quotes: seconds, like an unquoted number
        return float(compact)
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)


def format_duration(seconds: float) -> str:
    """The shortest config spelling of a duration: 0.5 -> "500ms", 120 -> "2m"."""
    millis = round(seconds * 1000, 3)
    if millis == 0:
        return "0s"
    if millis < 1000:  # etcd takes milliseconds: finer would be noise
        return f"{max(1, round(millis))}ms"
    if millis % 1000 == 0:
        whole = int(millis // 1000)
        if whole % 3600 == 0:
            return f"{whole // 3600}h"
        if whole % 60 == 0:
            return f"{whole // 60}m"
        return f"{whole}s"
    return f"{round(seconds, 3):g}s"


def parse_score(value: object) -> int:
    """An integer score clamped to [-INFINITY, INFINITY]."""
    if is_bool(value):
        raise ValueError(f"expected {SCORE_HINT}; got {describe(value)}")
    if isinstance(value, int):
        return _clamp(int(value))
    if isinstance(value, float):
        if math.isinf(value):  # YAML's own `.inf`
            return INFINITY if value > 0 else -INFINITY
        if value.is_integer():
            return _clamp(int(value))
        raise ValueError(f"a score is a whole number; got {value:g}. Use {round(value)}")
    if isinstance(value, str):
        return _parse_score_text(value)
    raise ValueError(f"expected {SCORE_HINT}; got {describe(value)}")


def _parse_score_text(text: str) -> int:
    word = text.strip()
    sign = -1 if word.startswith("-") else 1
    magnitude = word.lstrip("+-")
    if len(word) - len(magnitude) <= 1 and magnitude.lower() in _INFINITE:
        return sign * INFINITY
    try:
        return _clamp(int(word, 10))
    except ValueError:
        raise ValueError(f"{text!r} is not a score; expected {SCORE_HINT}") from None


def _clamp(score: int) -> int:
    return max(-INFINITY, min(INFINITY, score))


def format_score(score: int) -> str:
    if score >= INFINITY:
        return "INFINITY"
    if score <= -INFINITY:
        return "-INFINITY"
    return str(score)
