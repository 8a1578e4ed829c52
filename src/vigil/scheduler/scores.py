"""Score arithmetic and the per-node score sheet of one resource.

Scores follow Pacemaker: integers clamped to [-INFINITY, INFINITY], and addition
saturates so that a ban (-INFINITY) can never be outvoted by anything, not even by
+INFINITY. The sheet also remembers *why* each node got what it got, because every
decision the scheduler makes must be explainable in words (`vigil explain`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
    """The scores of one instance on every configured node, and where they came from.

    Sparse, because most instances have something to say about few nodes: a node
    without contributions scores 0, or -INFINITY when it cannot host (`unavailable`,
    shared by every sheet) or when a restriction (a mandatory colocation: "only where
    the target is") leaves it out. So building a sheet costs its contributions, not
    the number of nodes.
    """

    __slots__ = ("_parts", "_restrictions", "_seq", "_total", "_unavailable", "nodes")

    def __init__(self, nodes: Sequence[str],
                 unavailable: Mapping[str, str | None] | None = None) -> None:
        self.nodes = tuple(nodes)
        # Keys: every node (also tells a configured node from an unknown one).
        self._unavailable: Mapping[str, str | None] = (
            unavailable if unavailable is not None else dict.fromkeys(self.nodes))
        self._total: dict[str, int] = {}
        self._parts: dict[str, list[tuple[int, Contribution]]] = {}
        self._restrictions: list[tuple[int, frozenset[str], str]] = []
        self._seq = 0

    def add(self, node: str, score: int, why: str) -> None:
        if score == 0 or node not in self._unavailable:
            return
        self._total[node] = add_scores(self._total.get(node, 0), score)
        self._seq += 1
        self._parts.setdefault(node, []).append((self._seq, Contribution(node, clamp(score), why)))

    def restrict(self, allowed: frozenset[str], why: str) -> None:
        """Every node outside `allowed` gets -INFINITY, said as `why`."""
        self._seq += 1
        self._restrictions.append((self._seq, allowed, why))

    def allowed(self) -> frozenset[str] | None:
        """The nodes the restrictions leave (None: no restriction)."""
        if not self._restrictions:
            return None
        out = self._restrictions[0][1]
        for _, nodes, _ in self._restrictions[1:]:
            out = out & nodes
        return out

    def own_parts(self) -> list[tuple[str, Contribution]]:
        """(node, contribution) added to this sheet, in order (no unavailability)."""
        out = [(seq, n, c) for n, parts in self._parts.items() for seq, c in parts]
        out.sort(key=lambda p: p[0])
        return [(n, c) for _, n, c in out]

    def restrictions(self) -> list[tuple[frozenset[str], str]]:
        return [(allowed, why) for _, allowed, why in self._restrictions]

    def has_negative(self) -> bool:
        """Any part below 0, or a restriction (nodes unavailable to all do not count)."""
        return bool(self._restrictions) or any(v < 0 for v in self._total.values())

    def explicit(self) -> list[str]:
        """Nodes with contributions of their own."""
        return list(self._total)

    def score(self, node: str) -> int:
        if self._unavailable.get(node) is not None:
            return -INFINITY
        for _, allowed, _ in self._restrictions:
            if node not in allowed:
                return -INFINITY
        return self._total.get(node, 0)

    def parts(self, node: str) -> tuple[Contribution, ...]:
        """Every contribution to the node's score, in the order they were added."""
        out: list[tuple[int, Contribution]] = []
        unavailable = self._unavailable.get(node)
        if unavailable is not None:
            out.append((0, Contribution(node, -INFINITY, unavailable)))
        out.extend(self._parts.get(node, ()))
        for seq, allowed, why in self._restrictions:
            if node not in allowed:
                out.append((seq, Contribution(node, -INFINITY, why)))
        out.sort(key=lambda p: p[0])
        return tuple(c for _, c in out)

    def totals(self) -> dict[str, int]:
        """Final score per node, in config node order."""
        return {n: self.score(n) for n in self.nodes}

    def copy(self) -> ScoreSheet:
        other = ScoreSheet.__new__(ScoreSheet)
        other.nodes = self.nodes
        other._unavailable = self._unavailable
        other._total = dict(self._total)
        other._parts = {n: list(p) for n, p in self._parts.items()}
        other._restrictions = list(self._restrictions)
        other._seq = self._seq
        return other

    def restore(self, saved: ScoreSheet) -> None:
        self._total = saved._total
        self._parts = saved._parts
        self._restrictions = saved._restrictions
        self._seq = saved._seq

    def any_allowed(self) -> bool:
        candidates = self.allowed()
        nodes = self.nodes if candidates is None else candidates
        return any(self.score(n) >= 0 for n in nodes)

    def ban(self, node: str) -> str | None:
        """Why the node is banned (the first -INFINITY contribution), if it is."""
        for part in self.parts(node):
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
