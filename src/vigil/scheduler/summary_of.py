"""Placements of groups and clones as a whole, built from their instances' placements.

`vigil explain GROUP|CLONE` and `vigil status` read these: a group is where its first
member is; a clone lists where its instances run (and which are promoted).
"""

from __future__ import annotations

from collections.abc import Mapping

from vigil.model.transition import Placement
from vigil.scheduler.inputs import Inputs


def aggregate_placements(inp: Inputs, placements: Mapping[str, Placement]) -> dict[str, Placement]:
    out: dict[str, Placement] = {}
    for group in inp.config.groups:
        if group.id in inp.layout.clone_of or group.id not in inp.layout.heads:
            continue
        parts = inp.layout.of_item.get(group.id, ())
        head = placements.get(inp.layout.heads[group.id][0])
        if head is None:
            continue
        running = [p for p in parts if placements[p].node is not None]
        where = head.node or "nowhere"
        reason = (f"{group.id}: group on {where} ({len(running)} of {len(parts)} members "
                  f"placed); first member {head.reason}")
        out[group.id] = Placement(group.id, head.node, reason, head.scores, head.contributions,
                                  "", tuple(parts))
    for clone in inp.config.clones:
        heads = inp.layout.heads.get(clone.id, ())
        if not heads:
            continue
        parts = inp.layout.of_item.get(clone.id, ())
        placed = [placements[h] for h in heads if placements[h].node is not None]
        words = ", ".join(
            f"{p.resource} on {p.node}" + (f" ({p.role})" if p.role else "") for p in placed)
        first = placements[heads[0]]
        reason = (f"{clone.id}: {len(placed)} of {len(heads)} instances placed"
                  + (f": {words}" if words else f"; {first.reason}"))
        out[clone.id] = Placement(clone.id, None, reason, first.scores, first.contributions,
                                  "", tuple(parts))
    return out
