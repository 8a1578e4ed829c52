"""The scheduler's output: an ordered, dependency-annotated action list."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

ActionOp = Literal["start", "stop", "promote", "demote"]


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
    instance: str = ""
    """The scheduler's name for what acts (`web-clone` instance `web:2`, shown by
    `vigil simulate`); "" when it is `resource` itself."""


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
    role: str = ""
    """"Promoted"/"Unpromoted" for instances of promotable clones, else ""."""
    instances: tuple[str, ...] = ()
    """For a group or clone id: the placements (keys of `placements`) it is made of."""


@dataclass(frozen=True)
class Transition:
    actions: tuple[Action, ...]
    placements: Mapping[str, Placement] = field(default_factory=dict)
    fence: tuple[tuple[str, str], ...] = ()
    """(node, reason): nodes to fence because an operation with on_fail fence failed
    there; their resources are blocked until fencing is confirmed."""

    @property
    def empty(self) -> bool:
        return not self.actions
