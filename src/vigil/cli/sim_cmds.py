"""`vigil sim`: the deterministic simulator (registered by vigil.cli.main).

    vigil sim run --seeds 2000 [--start 0] [--nodes 3] [--workers 2] [--intensity 3] [--json]
    vigil sim replay SEED [--nodes 3] [--intensity 3] [--shrink]
"""

from __future__ import annotations

import json
import sys

import click

MAX_SHRINK = 3
"""Failing seeds shrunk per `vigil sim run` (each shrink runs the seed up to 60 times)."""


@click.group("sim")
def sim() -> None:
    """Run vigil's core in a simulated world with injected faults (S1-S5, L1)."""


@sim.command("run")
@click.option("--seeds", "count", type=click.IntRange(min=1), default=100, show_default=True,
              help="How many seeds to run.")
@click.option("--start", type=click.IntRange(min=0), default=0, show_default=True,
              help="First seed.")
@click.option("--nodes", type=click.IntRange(2, 9), default=None,
              help="Cluster size for every seed (default: drawn from each seed, 2-9).")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Worker processes (default: up to 2).")
@click.option("--intensity", type=click.IntRange(1, 10), default=1, show_default=True,
              help="Fault storms: this many independent fault draws per seed.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@click.option("--shrink/--no-shrink", default=True, show_default=True,
              help=f"Shrink the fault schedule of the first {MAX_SHRINK} failing seeds.")
def sim_run(count: int, start: int, nodes: int | None, workers: int | None, intensity: int,
            as_json: bool, shrink: bool) -> None:
    """Run seeds START..START+SEEDS-1; exit 1 if any invariant broke."""
    from vigil.sim.runner import run_seeds
    summary = run_seeds(range(start, start + count), nodes=nodes, workers=workers,
                        intensity=intensity)
    shrunk: dict[int, list[str]] = {}
    if shrink:
        from vigil.sim.faults import Fault
        from vigil.sim.shrink import shrink as shrink_seed
        from vigil.sim.world import World
        for o in summary.failed[:MAX_SHRINK]:
            if o.rules[0] == "CRASH":
                continue
            faults: list[Fault] = World(o.seed, nodes=nodes, intensity=intensity).faults
            small, _ = shrink_seed(o.seed, faults, o.rules[0], nodes=nodes)
            shrunk[o.seed] = [f.describe() for f in small]
    if as_json:
        click.echo(json.dumps({
            "seeds": summary.seeds, "first_seed": start, "intensity": intensity,
            "simulated_seconds": round(summary.simulated, 1),
            "wall_seconds": round(summary.wall, 2),
            "violations": summary.violations,
            "throughput": round(summary.throughput, 1),
            "failed": [{"seed": o.seed, "nodes": o.nodes, "violations": list(o.violations),
                        "shrunk_schedule": shrunk.get(o.seed)} for o in summary.failed],
        }))
    else:
        sizes = ", ".join(f"{n}: {c}" for n, c in sorted(summary.nodes_seen.items()))
        click.echo(f"seeds run:   {summary.seeds} ({start}..{start + count - 1}; "
                   f"clusters by size {sizes})")
        click.echo(f"simulated:   {summary.simulated:.0f} cluster-seconds in "
                   f"{summary.wall:.1f} s wall")
        click.echo(f"throughput:  {summary.throughput:.0f} simulated cluster-seconds per "
                   "wall second")
        click.echo(f"violations:  {summary.violations}")
        for o in summary.failed:
            click.echo(f"  seed {o.seed} ({o.nodes} nodes):")
            for v in o.violations:
                click.echo(f"    {v}")
            if o.seed in shrunk:
                click.echo("    shrunk fault schedule that still fails:")
                for line in shrunk[o.seed] or ["(no faults at all)"]:
                    click.echo(f"      {line}")
            click.echo(f"    replay: vigil sim replay {o.seed}"
                       + (f" --nodes {nodes}" if nodes else "")
                       + (f" --intensity {intensity}" if intensity > 1 else "")
                       + (" --shrink" if o.seed in shrunk else ""))
    sys.exit(1 if summary.failed else 0)


@sim.command("replay")
@click.argument("seed", type=click.IntRange(min=0))
@click.option("--nodes", type=click.IntRange(2, 9), default=None,
              help="The cluster size the seed was run with, if one was forced.")
@click.option("--intensity", type=click.IntRange(1, 10), default=1,
              help="The fault intensity the seed was run with.")
@click.option("--shrink", is_flag=True,
              help="Shrink a failing schedule first, then replay the short one.")
def sim_replay(seed: int, nodes: int | None, intensity: int, shrink: bool) -> None:
    """Re-run one seed and print every event and decision; exit 1 if it fails."""
    from vigil.sim.world import World
    world = World(seed, nodes=nodes, trace=True, intensity=intensity)
    faults = world.faults
    if shrink:
        first = World(seed, nodes=nodes, faults=faults).run()
        if first.violations:
            from vigil.sim.shrink import shrink as shrink_seed
            faults, _ = shrink_seed(seed, faults, first.violations[0].rule, nodes=nodes)
            world = World(seed, nodes=nodes, faults=faults, trace=True)
    sc = world.scenario
    click.echo(f"seed {seed}: {len(sc.nodes)} nodes{' + witness' if sc.witness else ''}, "
               f"resources {', '.join(sc.resources)}, fencing "
               f"{'on' if sc.fencing else 'off'}, heartbeats "
               f"{'on' if sc.heartbeats else 'off'}")
    click.echo("config:")
    for line in sc.yaml.splitlines():
        click.echo(f"  {line}")
    click.echo("fault schedule:" if faults else "fault schedule: (none)")
    for f in faults:
        click.echo(f"  {f.describe()}")
    result = world.run()
    click.echo("trace:")
    for line in result.trace:
        click.echo(line)
    click.echo(f"simulated {result.simulated:.1f}s; "
               + ("no violation" if result.ok else
                  "violations:\n" + "\n".join(f"  {v.describe()}" for v in result.violations)))
    sys.exit(0 if result.ok else 1)


COMMANDS: list[click.Command] = [sim]
