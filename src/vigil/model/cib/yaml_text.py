"""The imported config as YAML text, written directly.

ruamel.yaml's pure-Python emitter needs seconds for a large CIB's config (about 7 s for
5,000 resources on a loaded 2-core machine) and has nothing to decide here: the document
is plain data (mappings with string keys, lists, strings, ints, bools). So it is laid out
here in ruamel's block style (`key: value`, list items `- ` at their key's indentation),
and ruamel's own resolver decides which strings must be quoted so that each one reads
back as the same string. tests/unit/test_cib_yaml.py loads the text of every fidelity
case back with the config loader's round-trip YAML reader and compares.

Internal to the CIB importer (`vigil.model.cib`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache

from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.resolver import VersionedResolver

_STR_TAG = "tag:yaml.org,2002:str"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_RESOLVER = VersionedResolver()  # YAML 1.2, what the round-trip loader reads
# Plain (unquoted) only for unsurprising text: words of these characters separated by
# single spaces; what could start an indicator, a comment or a `key: value` is quoted.
# (A word may hold ':' but not end with it: ": " and a final ":" make a mapping; a
# leading '-' must be followed by a word character, or it is a list item.)
_WORD = r"[A-Za-z0-9_./@:()+=,~-]*[A-Za-z0-9_./@()+=,~-]"
_PLAIN = re.compile(rf"(?:[A-Za-z0-9_/(]|-(?=[A-Za-z0-9_/(.]))(?:{_WORD})?"
                    rf"(?: [A-Za-z0-9_./@()+=,~-](?:{_WORD})?)*")


def dump_yaml(doc: Mapping[str, object], header: str = "") -> str:
    """`header` (comment lines, each ending in a newline) followed by the document."""
    out: list[str] = [header]
    _mapping(doc, 0, out)
    return "".join(out)


def _mapping(doc: Mapping[str, object], indent: int, out: list[str], first: str = "") -> None:
    """Each `key: value` on its own line at `indent`; `first`, if given, replaces the
    indentation of the first line (a list item's `- `)."""
    pad = " " * indent
    for i, (key, value) in enumerate(doc.items()):
        lead = first if i == 0 and first else pad
        text = scalar(key)
        if len(text) > 1000:  # YAML's implicit keys end at 1024 characters
            out.append(f"{lead}? {text}\n{pad}:")
        else:
            out.append(f"{lead}{text}:")
        _value(value, indent, out)


def _value(value: object, indent: int, out: list[str]) -> None:
    """The rest of a `key:` line: an inline scalar, or a nested block on the next lines."""
    if isinstance(value, Mapping) and value:
        out.append("\n")
        _mapping(value, indent + 2, out)
    elif isinstance(value, Sequence) and not isinstance(value, str) and value:
        out.append("\n")
        _sequence(value, indent, out)
    else:
        out.append(f" {scalar(value)}\n")


def _sequence(items: Sequence[object], indent: int, out: list[str]) -> None:
    pad = " " * indent
    for item in items:
        if isinstance(item, Mapping) and item:
            _mapping(item, indent + 2, out, first=f"{pad}- ")
        elif isinstance(item, Sequence) and not isinstance(item, str) and item:
            out.append(f"{pad}-\n")
            _sequence(item, indent + 2, out)
        else:
            out.append(f"{pad}- {scalar(item)}\n")


def scalar(value: object) -> str:
    """One scalar (or empty collection) as YAML that reads back as the same value."""
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        text = repr(value)
        if _RESOLVER.resolve(ScalarNode, text, (True, False)) == _FLOAT_TAG:
            return text
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, Mapping) and not value:
        return "{}"
    if isinstance(value, Sequence) and not value:
        return "[]"
    raise TypeError(f"cannot write {type(value).__name__} {value!r} as a YAML scalar")


@lru_cache(maxsize=4096)
def _string(s: str) -> str:
    if _PLAIN.fullmatch(s) and _RESOLVER.resolve(ScalarNode, s, (True, False)) == _STR_TAG:
        return s
    if s.isprintable():
        return "'" + s.replace("'", "''") + "'"
    return '"' + "".join(_escape(c) for c in s) + '"'


def _escape(c: str) -> str:
    if c == "\\":
        return "\\\\"
    if c == '"':
        return '\\"'
    if c.isprintable():
        return c
    code = ord(c)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"
