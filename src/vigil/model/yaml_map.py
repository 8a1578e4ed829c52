"""Reading a ruamel round-trip YAML document: where each node sits in the file, and one
mapping at a time (`_Map`), with unknown keys reported and likely misspellings guessed.

Internal to the config loader (`vigil.model.load`): the names keep their leading
underscore because nothing outside the loader should use them.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from vigil.model.durations import describe
from vigil.model.problems import Pos, _Report
from vigil.model.values import _NAME

T = TypeVar("T")


# --- positions of YAML nodes ---------------------------------------------------------


def _start(node: object, fallback: Pos) -> Pos:
    lc = getattr(node, "lc", None)
    if lc is None or lc.line is None:
        return fallback
    return (lc.line + 1, lc.col + 1)


def _lc_pos(node: object, kind: str, index: object, fallback: Pos) -> Pos:
    """Position of a key ("key"), a value ("value") or a list item ("item")."""
    try:
        line, col = getattr(node.lc, kind)(index)  # type: ignore[attr-defined]
    except (AttributeError, KeyError, IndexError, TypeError):
        # Keys brought in by a `<<:` merge, or plain dicts, have no recorded position.
        return fallback
    return (line + 1, col + 1)


# --- reading one mapping -------------------------------------------------------------

# Keys people write from habit (Pacemaker, other tools) that difflib would not match.
_ALIASES = {
    "type": "agent",
    "class": "agent",
    "ops": "operations",
    "op": "operations",
    "with_resource": "with",
    "rsc": "resource",
    "uname": "name",
    "ip": "address",
    "host": "address",
    "mode": "type",
    "ttl": "lease_ttl",
}


class _Map:
    """One YAML mapping being read: its field path, allowed keys and key positions."""

    def __init__(
        self,
        report: _Report,
        node: Mapping[Any, object],
        path: str,
        keys: Sequence[str] | None,
        where: Pos,
    ) -> None:
        self.report = report
        self.node = node
        self.path = path
        self.where = where
        """Where the mapping starts: the place to report a missing key."""
        self.misspelt: set[str] = set()
        """Keys an unknown key probably meant: not reported again as missing."""
        if keys is None:  # free-form, e.g. params
            return
        for key in node:
            if key not in keys:
                guess = _guess(key, keys)
                self.report.add(self.key_pos(key), self.field(str(key)), _unknown(key, guess, keys))
                if guess is not None:
                    self.misspelt.add(guess)

    def field(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def has(self, key: str) -> bool:
        return key in self.node

    def key_pos(self, key: object) -> Pos:
        return _lc_pos(self.node, "key", key, self.where)

    def value_pos(self, key: str) -> Pos:
        return _lc_pos(self.node, "value", key, self.key_pos(key))

    def at(self, key: str) -> Pos:
        """The key's line if the file sets it, else the mapping's own line."""
        return self.key_pos(key) if self.has(key) else self.where

    def reject(self, key: str, message: str) -> None:
        self.report.reject(self.value_pos(key), self.field(key), message)

    def get(self, key: str, parse: Callable[[object], T], default: T) -> T:
        if key not in self.node:
            return default
        try:
            return parse(self.node[key])
        except ValueError as exc:
            self.reject(key, str(exc))
            return default

    def require(self, key: str, parse: Callable[[object], T], example: str) -> T | None:
        if key not in self.node:
            if key not in self.misspelt:
                message = f"missing required key '{key}'; add it, e.g. {example}"
                self.report.add(self.where, self.field(key), message)
            self.report.bad.add(self.field(key))
            return None
        try:
            return parse(self.node[key])
        except ValueError as exc:
            self.reject(key, str(exc))
            return None


def _guess(key: object, allowed: Sequence[str]) -> str | None:
    """The allowed key that an unknown one most likely meant, if any."""
    if not isinstance(key, str):
        return None
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    guess = close[0] if close else _ALIASES.get(key.lower())
    return guess if guess in allowed else None


def _unknown(key: object, guess: str | None, allowed: Sequence[str]) -> str:
    expected = f"expected one of: {', '.join(allowed)}"
    if not isinstance(key, str):
        return f"{describe(key)} is not a valid key; {expected}"
    if guess is not None:
        return f"unknown key '{key}' — did you mean '{guess}'? {expected}"
    return f"unknown key '{key}'; {expected}"


def _section(parent: _Map, key: str, keys: Sequence[str] | None, example: str) -> _Map:
    """A nested mapping; absent or empty reads as `{}` so that defaults apply."""
    raw = parent.node.get(key)
    if raw is None:
        return _Map(parent.report, {}, parent.field(key), keys, parent.at(key))
    if not isinstance(raw, dict):
        parent.reject(key, f"expected a mapping, e.g. {example}; got {describe(raw)}")
        return _Map(parent.report, {}, parent.field(key), keys, parent.at(key))
    return _Map(parent.report, raw, parent.field(key), keys, _start(raw, parent.at(key)))


@dataclass(frozen=True)
class _Item:
    """A mapping inside a list, with the label used in its field path."""

    node: Mapping[Any, object]
    path: str
    where: Pos


def _items(parent: _Map, key: str, id_key: str, example: str) -> list[_Item]:
    """The mappings of a list; absent or empty reads as no items."""
    raw = parent.node.get(key)
    if raw is None:
        return []
    if not isinstance(raw, list):
        parent.reject(key, f"expected a list of mappings, e.g. {example}; got {describe(raw)}")
        return []
    items = []
    for index, node in enumerate(raw):
        where = _lc_pos(raw, "item", index, parent.at(key))
        label = _label(node, id_key, index)
        path = f"{parent.field(key)}[{label}]"
        if isinstance(node, dict):
            items.append(_Item(node, path, _start(node, where)))
        else:
            message = f"expected a mapping, e.g. {example}; got {describe(node)}"
            parent.report.reject(where, path, message)
    return items


def _label(node: object, id_key: str, index: int) -> str:
    value = node.get(id_key) if isinstance(node, dict) else None
    return value if isinstance(value, str) and _NAME.fullmatch(value) else str(index)


def _check_unique(m: _Map, key: str, value: str, seen: dict[str, Pos], what: str) -> None:
    if value in seen:
        first = seen[value][0]
        m.reject(key, f"{what} '{value}' is already used at line {first}; names must be unique")
    else:
        seen[value] = m.value_pos(key)
