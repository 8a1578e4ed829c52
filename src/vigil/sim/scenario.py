"""A random cluster drawn from a seed: nodes (2 + witness .. 9), resources, constraints,
timings, fencing and heartbeats, written as the YAML an operator would apply (so the
simulated agents load it through the same validator as real ones).
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass

NODE_WEIGHTS = ((2, 5), (3, 6), (4, 3), (5, 3), (6, 1), (7, 1), (9, 1))


@dataclass(frozen=True)
class Scenario:
    seed: int
    nodes: tuple[str, ...]
    """Member nodes (a witness, if any, is `witness`)."""
    witness: bool
    resources: tuple[str, ...]
    fencing: bool
    heartbeats: bool
    yaml: str

    @property
    def store_members(self) -> tuple[str, ...]:
        """Every etcd member (embedded store: one per node, plus the witness)."""
        return (*self.nodes, "witness") if self.witness else self.nodes


def draw_scenario(seed: int, nodes: int | None = None) -> Scenario:
    rng = random.Random(f"scenario-{seed}")
    if nodes is None:
        sizes = [n for n, _ in NODE_WEIGHTS]
        nodes = rng.choices(sizes, weights=[w for _, w in NODE_WEIGHTS])[0]
    if not 2 <= nodes <= 9:
        raise ValueError(f"--nodes must be between 2 and 9, got {nodes}")
    names = tuple(f"n{i + 1}" for i in range(nodes))
    witness = nodes % 2 == 0 and (nodes == 2 or rng.random() < 0.5)
    n_rsc = rng.randint(1, min(6, 2 + nodes))
    rscs = tuple(f"r{i + 1}" for i in range(n_rsc))
    fencing = rng.random() < 0.75
    heartbeats = rng.random() < 0.6
    lines = ["cluster: sim", "nodes:"]
    for i, n in enumerate(names):
        lines.append(f"  - {{name: {n}, address: 198.18.1.{i + 1}}}")
    if witness:
        lines.append("  - {name: witness, address: 198.18.1.100, role: witness}")
    ttl = rng.choice((2, 2, 3))
    lines.append(f"timings: {{lease_ttl: {ttl}s, keepalive_interval: 250ms, "
                 f"lease_margin: 500ms, self_fence_timeout: {rng.choice((0.5, 1.0))}s}}")
    lines.append("watchdog: {timeout: 2s}")
    if heartbeats:
        lines.append("heartbeat: {interval: 200ms, timeout: 700ms, key_file: /sim/key}")
    else:
        lines.append("heartbeat: {enabled: false}")
    if fencing:
        lines += ["fencing:", "  action: reboot", "  devices:",
                  f"    - {{id: pdu, agent: fence_sim, hosts: [{', '.join(names)}]}}"]
        if rng.random() < 0.5:
            lines.append(f"    - {{id: ipmi, agent: fence_sim, hosts: [{', '.join(names)}]}}")
    lines.append("resources:")
    for r in rscs:
        interval = rng.choice((0, 1, 2, 5))
        stick = rng.choice((0, 1, 1, 100))
        timeout = rng.choice((2, 5))
        lines.append(
            f"  - {{id: {r}, agent: process, params: {{command: sim}}, "
            f"operations: {{start: {{timeout: {timeout}s}}, stop: {{timeout: {timeout}s}}, "
            f"monitor: {{interval: {interval}s}}}}, meta: {{stickiness: {stick}}}}}")
    loc, col, order = [], [], []
    for r in rscs:
        if rng.random() < 0.5:
            loc.append(f"    - {{resource: {r}, node: {rng.choice(names)}, "
                       f"score: {rng.choice((10, 50, 200, 'INFINITY', '-INFINITY'))}}}")
    for a, b in itertools.pairwise(rscs):
        if rng.random() < 0.3:
            col.append(f"    - {{resource: {b}, with: {a}, "
                       f"score: {rng.choice(('INFINITY', '-INFINITY', 100))}}}")
        if rng.random() < 0.3:
            order.append(f"    - {{first: {a}, then: {b}}}")
    if loc or col or order:
        lines.append("constraints:")
        for name, items in (("location", loc), ("colocation", col), ("order", order)):
            if items:
                lines.append(f"  {name}:")
                lines += items
    return Scenario(seed, names, witness, rscs, fencing, heartbeats, "\n".join(lines) + "\n")


def config_variant(base: str, rng: random.Random) -> tuple[str, bool]:
    """A config push: a valid change (stickiness) or a broken file; (text, valid?)."""
    kind = rng.randrange(4)
    if kind == 0:
        return base.replace("stickiness: 1}", "stickiness: 5}"), True
    if kind == 1:
        return base.replace("keepalive_interval: 250ms", "keepalive_interval: 2s"), False
    if kind == 2:
        return base.replace("resources:", "resources:\n  - {id: bad, agent: process}"), False
    return base + "constraints: [oops\n", False
