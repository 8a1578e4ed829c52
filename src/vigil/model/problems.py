"""What the config loader reports: one `Problem` per mistake, every one in `ConfigInvalid`.

`_Report` collects the problems while a config is read; `vigil.model.load` is the public
entry and re-exports `Problem` and `ConfigInvalid`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

Pos = tuple[int | None, int | None]
"""1-based (line, column); (None, None) when a problem has no place in the file."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a config: where, which field, what is wrong and the fix."""

    file: str
    line: int | None
    column: int | None
    field: str
    message: str

    def __str__(self) -> str:
        place = self.file
        if self.line is not None:
            place += f":{self.line}"
            if self.column is not None:
                place += f":{self.column}"
        return ": ".join(part for part in (place, self.field, self.message) if part)


class ConfigInvalid(Exception):
    """A config was rejected; `problems` holds every problem found, sorted by line."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


# --- collecting problems -------------------------------------------------------------


class _Report:
    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []
        self.bad: set[str] = set()
        """Fields whose value was rejected: cross-field checks skip them."""

    def add(self, pos: Pos, field: str, message: str) -> None:
        self.problems.append(Problem(self.file, pos[0], pos[1], field, message))

    def reject(self, pos: Pos, field: str, message: str) -> None:
        self.add(pos, field, message)
        self.bad.add(field)

    def sorted(self) -> list[Problem]:
        unique = dict.fromkeys(self.problems)  # one mistake may be reached twice
        return sorted(unique, key=lambda p: (p.line or 0, p.column or 0))
