"""Running many seeds: in worker processes, with a summary and the failing seeds shrunk.

Throughput is simulated cluster-seconds per wall-clock second: the sum of every run's
simulated time divided by the wall time of the whole search.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from vigil.sim.world import run_seed


@dataclass(frozen=True)
class SeedOutcome:
    seed: int
    nodes: int
    simulated: float
    violations: tuple[str, ...]
    rules: tuple[str, ...]


@dataclass
class Summary:
    seeds: int = 0
    simulated: float = 0.0
    wall: float = 0.0
    failed: list[SeedOutcome] = field(default_factory=list)
    nodes_seen: dict[int, int] = field(default_factory=dict)

    @property
    def violations(self) -> int:
        return sum(len(f.violations) for f in self.failed)

    @property
    def throughput(self) -> float:
        return self.simulated / self.wall if self.wall > 0 else 0.0


def _one(args: tuple[int, int | None, int]) -> SeedOutcome:
    seed, nodes, intensity = args
    try:
        r = run_seed(seed, nodes=nodes, intensity=intensity)
    except Exception as e:  # a crash in the core is a finding too
        return SeedOutcome(seed, nodes or 0, 0.0, (f"CRASH: {e!r}",), ("CRASH",))
    return SeedOutcome(seed, r.nodes, r.simulated, tuple(v.describe() for v in r.violations),
                       tuple(v.rule for v in r.violations))


def default_workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))


def run_seeds(seeds: Iterable[int], *, nodes: int | None = None,
              workers: int | None = None, intensity: int = 1) -> Summary:
    todo = [(s, nodes, intensity) for s in seeds]
    workers = workers or default_workers()
    summary = Summary()
    started = time.perf_counter()
    if workers == 1:
        results: Iterable[SeedOutcome] = map(_one, todo)
        _collect(summary, results)
    else:
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(workers) as pool:
            _collect(summary, pool.imap_unordered(_one, todo, chunksize=8))
    summary.wall = time.perf_counter() - started
    summary.failed.sort(key=lambda o: o.seed)
    return summary


def _collect(summary: Summary, results: Iterable[SeedOutcome]) -> None:
    for o in results:
        summary.seeds += 1
        summary.simulated += o.simulated
        summary.nodes_seen[o.nodes] = summary.nodes_seen.get(o.nodes, 0) + 1
        if o.violations:
            summary.failed.append(o)
