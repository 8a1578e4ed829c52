"""The node's own view of its membership lease (S2), on its monotonic clock.

The deadline counts from when the node *sent* its last acknowledged keepalive, so the
node's view always ends before the store's (which counts from when it received it).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class LeaseClock:
    margin: float
    """Stop resources once less than this remains."""
    deadline: float | None = None

    def acked(self, sent_at: float, granted_ttl: float) -> None:
        end = sent_at + granted_ttl
        # Acks may arrive out of order; a later-sent ack only ever extends the view.
        if self.deadline is None or end > self.deadline:
            self.deadline = end

    def remaining(self, now: float) -> float:
        return -1.0 if self.deadline is None else self.deadline - now

    def must_stop(self, now: float) -> bool:
        """True once the node may no longer run resources (S2)."""
        return self.deadline is None or self.deadline - now <= self.margin

    def stop_at(self) -> float | None:
        """When `must_stop` becomes true, if nothing is acked meanwhile."""
        return None if self.deadline is None else self.deadline - self.margin
