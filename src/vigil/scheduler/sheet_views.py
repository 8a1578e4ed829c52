"""Read-only mappings over a score sheet, built only when someone reads them.

A transition holds a placement per instance with its score on every node and the parts
of each score (`vigil explain`). Materialising them for 64 nodes x 10,000 instances
would cost more than the scheduling itself, so placements hold these views instead.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from vigil.scheduler.scores import ScoreSheet


class Scores(Mapping[str, int]):
    """Node -> final score, in config node order."""

    __slots__ = ("_sheet",)

    def __init__(self, sheet: ScoreSheet) -> None:
        self._sheet = sheet

    def __getitem__(self, node: str) -> int:
        if node not in self._sheet.nodes:
            raise KeyError(node)
        return self._sheet.score(node)

    def __iter__(self) -> Iterator[str]:
        return iter(self._sheet.nodes)

    def __len__(self) -> int:
        return len(self._sheet.nodes)

    def __repr__(self) -> str:
        return repr(dict(self))


class Parts(Mapping[str, tuple[tuple[int, str], ...]]):
    """Node -> (score, why) of every contribution to its score."""

    __slots__ = ("_sheet",)

    def __init__(self, sheet: ScoreSheet) -> None:
        self._sheet = sheet

    def __getitem__(self, node: str) -> tuple[tuple[int, str], ...]:
        if node not in self._sheet.nodes:
            raise KeyError(node)
        return tuple((c.score, c.why) for c in self._sheet.parts(node))

    def __iter__(self) -> Iterator[str]:
        return iter(self._sheet.nodes)

    def __len__(self) -> int:
        return len(self._sheet.nodes)

    def __repr__(self) -> str:
        return repr(dict(self))
