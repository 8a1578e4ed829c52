"""Reading a CIB's XML: element paths for messages, name/value pairs, scores, durations.

Internal to the CIB importer (`vigil.model.cib`).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass

from vigil.model.config import INFINITY


@dataclass(frozen=True)
class Note:
    """Something in the CIB that the vigil config or state cannot hold (or holds differently)."""

    path: str
    """Where in the XML: /cib/configuration/resources/primitive[@id='web']/..."""
    why: str

    def __str__(self) -> str:
        return f"{self.path}: {self.why}"


class CibError(Exception):
    """The file is not a CIB we can read at all (bad XML, no <cib> element)."""


def parse_cib(text: str, source: str) -> ET.Element:
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        line, col = exc.position
        raise CibError(f"{source}:{line}:{col + 1}: not well-formed XML ({exc}); "
                       "give a CIB as `cibadmin --query` prints it") from None
    if root.tag != "cib":
        raise CibError(f"{source}: the root element is <{root.tag}>, not <cib>; give a whole "
                       "CIB (`cibadmin --query > cib.xml`)")
    return root


def path_of(parent: str, el: ET.Element) -> str:
    """XPath-like location of a child element, by id when it has one."""
    ident = el.get("id")
    step = f"{el.tag}[@id='{ident}']" if ident else el.tag
    return f"{parent}/{step}"


def children(el: ET.Element | None, *tags: str) -> Iterator[ET.Element]:
    if el is None:
        return
    for child in el:
        if isinstance(child.tag, str) and (not tags or child.tag in tags):
            yield child


def nvpairs(
    owner: ET.Element, set_tag: str, path: str, notes: list[Note]
) -> dict[str, str]:
    """The name/value pairs of every `set_tag` block of an element, in document order.

    Blocks guarded by rules (or id-refs to other blocks) cannot be evaluated here: they
    are noted and their pairs left out rather than applied unconditionally.
    """
    values: dict[str, str] = {}
    for block in children(owner, set_tag):
        bpath = path_of(path, block)
        if block.get("id-ref"):
            notes.append(Note(bpath, "id-ref to a shared attribute set is not followed; "
                              "copy the values into this element"))
            continue
        if any(True for _ in children(block, "rule")):
            notes.append(Note(bpath, "attribute set with a rule: vigil has no "
                              "rule-conditional attributes; its values were left out"))
            continue
        for pair in children(block, "nvpair"):
            name, value = pair.get("name"), pair.get("value")
            if name is None:
                continue
            if value is None:
                notes.append(Note(path_of(bpath, pair), "nvpair without a value: left out"))
                continue
            values[name] = value
    return values


_SCORE_WORDS = {"infinity": INFINITY, "+infinity": INFINITY, "-infinity": -INFINITY,
                "inf": INFINITY, "+inf": INFINITY, "-inf": -INFINITY}


def parse_score(text: str | None) -> int | None:
    """A Pacemaker score (clamped to ±INFINITY), or None if it is not one."""
    if text is None:
        return None
    word = text.strip().lower()
    if word in _SCORE_WORDS:
        return _SCORE_WORDS[word]
    if word in ("red", "yellow", "green"):  # node-health scores: configurable, not here
        return None
    try:
        return max(-INFINITY, min(INFINITY, int(word, 10)))
    except ValueError:
        return None


def score_text(score: int) -> int | str:
    """How a score is written in vigil's YAML."""
    if score >= INFINITY:
        return "INFINITY"
    if score <= -INFINITY:
        return "-INFINITY"
    return score


_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|msec|us|usec|s|sec|m|min|h|hr)?\s*", re.I)
_ISO = re.compile(r"P(?:T)?(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?", re.I)
_UNIT = {"ms": 0.001, "msec": 0.001, "us": 1e-6, "usec": 1e-6, "s": 1.0, "sec": 1.0,
         "m": 60.0, "min": 60.0, "h": 3600.0, "hr": 3600.0}


def parse_duration(text: str | None) -> float | None:
    """Seconds from a Pacemaker interval ("10s", "30000ms", "1m", "20", "PT10S")."""
    if text is None:
        return None
    m = _DURATION.fullmatch(text)
    if m:
        return float(m.group(1)) * _UNIT[(m.group(2) or "s").lower()]
    m = _ISO.fullmatch(text.strip())
    if m and any(m.groups()):
        h, mi, s = (int(g or 0) for g in m.groups())
        return float(h * 3600 + mi * 60 + s)
    return None


def duration_text(seconds: float) -> str:
    if seconds == 0:
        return "0"
    if seconds < 1 or not float(seconds).is_integer():
        return f"{round(seconds * 1000)}ms"
    return f"{int(seconds)}s"


def is_true(text: str | None) -> bool:
    return (text or "").strip().lower() in ("true", "yes", "on", "y", "1")
