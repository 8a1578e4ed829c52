"""Location rules evaluated on node attributes, as Pacemaker's rule expressions.

A node's attributes are its permanent ones from the config, overridden by transient
ones from the state (`vigil node attribute`, agents' crm_attribute), plus `#uname`
(the node's name). Comparisons follow the expression's `type`: `string` compares
text, `integer`/`number` compare numbers (a value that is not a number makes the
comparison false), `version` compares dotted version numbers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from vigil.model.config import INFINITY, Rule, RuleExpression
from vigil.scheduler.scores import clamp

_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def _key(value: str, kind: str) -> tuple[object, ...] | None:
    """A comparable form of `value`, or None when it is not of `kind`."""
    text = value.strip()
    if kind == "string":
        return (value,)
    if kind == "integer":
        if text in ("INFINITY", "+INFINITY"):
            return (INFINITY,)
        if text == "-INFINITY":
            return (-INFINITY,)
        try:
            return (int(float(text)) if _NUMBER.fullmatch(text) else int(text),)
        except ValueError:
            return None
    if kind == "number":
        return (float(text),) if _NUMBER.fullmatch(text) else None
    parts = text.split(".")
    if not all(p.isdigit() for p in parts):
        return None
    return tuple(int(p) for p in parts)


def expression_holds(expr: RuleExpression, attrs: Mapping[str, str]) -> bool:
    actual = attrs.get(expr.attribute)
    if expr.op == "defined":
        return actual is not None
    if expr.op == "not_defined":
        return actual is None
    if actual is None:
        # As crm_simulate answers: a missing attribute is "not equal" to anything, and
        # neither equal to, less nor greater than it.
        return expr.op == "ne"
    kind = expr.type
    a, b = _key(actual, kind), _key(expr.value, kind)
    if a is None or b is None:
        # Pacemaker falls back to comparing as strings when a value is no number.
        a, b = (actual,), (expr.value,)
    if expr.op == "eq":
        return a == b
    if expr.op == "ne":
        return a != b
    if len(a) != len(b) or type(a[0]) is not type(b[0]):
        a, b = tuple(map(str, a)), tuple(map(str, b))
    if expr.op == "lt":
        return a < b
    if expr.op == "lte":
        return a <= b
    if expr.op == "gt":
        return a > b
    return a >= b


def rule_holds(rule: Rule, attrs: Mapping[str, str]) -> bool:
    results = (
        rule_holds(e, attrs) if isinstance(e, Rule) else expression_holds(e, attrs)
        for e in rule.expressions
    )
    return any(results) if rule.boolean_op == "or" else all(results)


def rule_score(rule: Rule, attrs: Mapping[str, str]) -> int | None:
    """The score the rule gives a node with `attrs`, or None if it does not hold."""
    if not rule_holds(rule, attrs):
        return None
    if rule.score_attribute:
        raw = attrs.get(rule.score_attribute)
        key = _key(raw, "integer") if raw is not None else None
        return clamp(int(key[0])) if key is not None else 0  # type: ignore[call-overload]
    return clamp(rule.score)


def describe_rule(rule: Rule) -> str:
    """Short text of a rule for reasons: `pingd lte 0 or pingd not_defined`."""
    parts = []
    for e in rule.expressions:
        if isinstance(e, Rule):
            parts.append(f"({describe_rule(e)})")
        elif e.op in ("defined", "not_defined"):
            parts.append(f"{e.attribute} {e.op}")
        else:
            parts.append(f"{e.attribute} {e.op} {e.value}")
    return f" {rule.boolean_op} ".join(parts)
