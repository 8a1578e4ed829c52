"""Score arithmetic and the per-node score sheet of one resource.

Scores follow Pacemaker: integers clamped to [-INFINITY, INFINITY], and addition
saturates so that a ban (-INFINITY) can never be outvoted by anything, not even by
+INFINITY. The sheet also remembers *why* each node got what it got, because every
decision the scheduler makes must be explainable in words (`vigil explain`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from vigil.model.config import INFINITY, ResourceMeta
from vigil.model.state import FailCount


def clamp(score: int) -> int:
    """Clamp a raw score (a config value may exceed INFINITY) into the score range."""
    return max(-INFINITY, min(INFINITY, score))


def add_scores(a: int, b: int) -> int:
    """Saturating score addition: -INFINITY dominates, then +INFINITY, else clamp."""
    if a <= -INFINITY or b <= -INFINITY:
        return -INFINITY
    if a >= INFINITY or b >= INFINITY:
        return INFINITY
    return clamp(a + b)


def format_score(score: int) -> str:
    if score >= INFINITY:
        return "INFINITY"
    if score <= -INFINITY:
        return "-INFINITY"
    return str(score)


@dataclass(frozen=True)
class Contribution:
    node: str
    score: int
    why: str
    """A sentence fragment naming the node, e.g. "n1 is in standby"."""


class ScoreSheet:
    """The scores of one resource on every configured node, and where they came from."""

    __slots__ = ("_parts", "_total", "nodes")

    def __init__(self, nodes: Sequence[str]) -> None:
        self.nodes = tuple(nodes)
        self._total: dict[str, int] = dict.fromkeys(self.nodes, 0)
        self._parts: dict[str, list[Contribution]] = {n: [] for n in self.nodes}

    def add(self, node: str, score: int, why: str) -> None:
        if node not in self._total or score == 0:
            return
        self._total[node] = add_scores(self._total[node], score)
        self._parts[node].append(Contribution(node, clamp(score), why))

    def score(self, node: str) -> int:
        return self._total[node]

    def parts(self, node: str) -> tuple[Contribution, ...]:
        """Every contribution to the node's score, in the order they were added."""
        return tuple(self._parts.get(node, ()))

    def totals(self) -> dict[str, int]:
        """Final score per node, in config node order."""
        return dict(self._total)

    def ban(self, node: str) -> str | None:
        """Why the node is banned (the first -INFINITY contribution), if it is."""
        for part in self._parts[node]:
            if part.score <= -INFINITY:
                return part.why
        return None


def live_failure(fc: FailCount | None, meta: ResourceMeta, now: float) -> FailCount | None:
    """The fail count if it still counts: not zero and not expired by failure-timeout.

    An expired failure is ignored entirely (no ban, no mention in reasons), as if
    `vigil resource cleanup` had cleared it.
    """
    if fc is None or fc.count <= 0:
        return None
    if meta.failure_timeout > 0 and now - fc.last_failure >= meta.failure_timeout:
        return None
    return fc


def threshold_reached(meta: ResourceMeta, fc: FailCount | None) -> bool:
    """migration-threshold reached: the node is banned for the resource.

    A threshold of 0 or less disables the ban, as in Pacemaker.
    """
    return fc is not None and 0 < meta.migration_threshold <= fc.count
