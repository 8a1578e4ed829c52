"""The scheduler's output: an ordered, dependency-annotated action list."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

ActionOp = Literal["start", "stop"]


@dataclass(frozen=True)
class Action:
    id: int
    """Unique within its transition; actions are listed in an order that honours deps."""
    node: str
    resource: str
    op: ActionOp
    deps: tuple[int, ...] = ()
    """Ids of actions that must succeed before this one runs."""
    reason: str = ""


@dataclass(frozen=True)
class Placement:
    resource: str
    node: str | None
    """Where the resource should run; None: nowhere."""
    reason: str
    scores: Mapping[str, int] = field(default_factory=dict)
    """Final score per node (after all constraints)."""
    contributions: Mapping[str, tuple[tuple[int, str], ...]] = field(default_factory=dict)
    """Per node: (score, why) for every part of its score (`vigil explain`)."""


@dataclass(frozen=True)
class Transition:
    actions: tuple[Action, ...]
    placements: Mapping[str, Placement] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.actions
