"""Sentences that explain placements and actions, built from score sheets.

Kept apart from the decisions so that wording changes never touch the logic, and so
tests can assert on reasons the way Patroni's tests assert on its cycle reasons.
"""

from __future__ import annotations

from vigil.model.config import INFINITY, ResourceMeta
from vigil.model.state import FailCount
from vigil.scheduler.scores import ScoreSheet, format_score


def why_not(sheet: ScoreSheet, node: str, chosen: str | None) -> str:
    """Why the resource will not run on `node` (given it goes to `chosen`)."""
    ban = sheet.ban(node)
    if ban is not None:
        return ban
    score = sheet.score(node)
    if score < 0:
        return f"{node} scores {format_score(score)}, below 0"
    if chosen is None:
        return f"{node} scores {format_score(score)}"
    best = sheet.score(chosen)
    if best == score:
        return f"{chosen} wins the tie with {node} (score {format_score(score)})"
    return f"{chosen} scores higher than {node} ({format_score(best)} vs {format_score(score)})"


def cannot_run_anywhere(sheet: ScoreSheet) -> str:
    """Every distinct reason a node is ruled out, in node order."""
    seen: dict[str, None] = {}
    for node in sheet.nodes:
        seen.setdefault(why_not(sheet, node, None), None)
    return "cannot run anywhere: " + "; ".join(seen) if seen else "no nodes configured"


def failure_words(fc: FailCount | None, meta: ResourceMeta) -> str:
    """Words like `monitor failure (fail count 1 of 3)`, or `a failure` if none is recorded."""
    if fc is None:
        return "a failure"
    what = f"{fc.op} failure" if fc.op else "a failure"
    if 0 < meta.migration_threshold < INFINITY:
        return f"{what} (fail count {fc.count} of {meta.migration_threshold})"
    return f"{what} (fail count {fc.count})"
