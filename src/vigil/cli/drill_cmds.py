"""`vigil drill` commands (registered by vigil.cli.main): run, list and validate drills."""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from vigil.lab.drills.model import Drill

SUITE = Path(__file__).resolve().parents[1] / "lab" / "drills" / "suite"
"""The drills that ship with vigil (`--suite`)."""


def _load(paths: tuple[str, ...], suite: bool, tags: tuple[str, ...],
          only: tuple[str, ...]) -> list[Drill]:
    from vigil.lab.drills.spec import DrillInvalid, load_drills

    sources = [*paths, *([str(SUITE)] if suite or not paths else [])]
    try:
        drills = load_drills(sources)
    except DrillInvalid as e:
        for p in e.problems:
            click.echo(str(p), err=True)
        click.echo(f"vigil: {len(e.problems)} problem(s) in the drill files; nothing was run",
                   err=True)
        sys.exit(2)
    if tags:
        drills = [d for d in drills if set(tags) & set(d.tags)]
    if only:
        unknown = set(only) - {d.name for d in drills}
        if unknown:
            click.echo(f"vigil: no drill named {', '.join(sorted(unknown))}; "
                       f"`vigil drill list` shows them", err=True)
            sys.exit(2)
        drills = [d for d in drills if d.name in only]
    return drills


@click.group("drill")
def drill() -> None:
    """Failure drills: planned and unplanned failures against a network-namespace lab."""


_paths = click.argument("paths", nargs=-1, type=click.Path(exists=True))
_suite = click.option("--suite", is_flag=True,
                      help="The drills shipped with vigil (the default when no PATH is given).")
_tag = click.option("--tag", "tags", multiple=True, help="Only drills with this tag (e.g. ci).")
_only = click.option("--only", "only", multiple=True, metavar="NAME",
                     help="Only the drill with this name (repeatable).")


@drill.command("list")
@_paths
@_suite
@_tag
def drill_list(paths: tuple[str, ...], suite: bool, tags: tuple[str, ...]) -> None:
    """List drills: name, tags, lab size and the first line of the procedure."""
    for d in _load(paths, suite, tags, ()):
        s = d.setup
        size = f"{s.nodes} nodes" + (" + witness" if s.witness else "") + \
            f", {s.links} link(s)" + ("" if s.fencing else ", NO fencing")
        tag_text = f" [{', '.join(d.tags)}]" if d.tags else ""
        click.echo(f"{d.name:<28} {size:<26}{tag_text}")
        click.echo(f"    {d.description.splitlines()[0]}")


@drill.command("validate")
@_paths
@_suite
def drill_validate(paths: tuple[str, ...], suite: bool) -> None:
    """Check drill files (and their cluster configs) without running them."""
    drills = _load(paths, suite, (), ())
    click.echo(f"{len(drills)} drill(s) valid: {', '.join(d.name for d in drills)}")


@drill.command("run")
@_paths
@_suite
@_tag
@_only
@click.option("--report", "report_dir", type=click.Path(file_okay=False), default=None,
              help="Write report.md, report.html, results.json and pictures here "
                   "(default: ./drill-report-<time>).")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.option("--keep-logs", is_flag=True,
              help="Copy every node's agent log into the report (failed drills always).")
def drill_run(paths: tuple[str, ...], suite: bool, tags: tuple[str, ...], only: tuple[str, ...],
              report_dir: str | None, as_json: bool, keep_logs: bool) -> None:
    """Run drills against a fresh lab each (root); exit 1 if any drill fails."""
    from vigil.lab.drills.report import write_report
    from vigil.lab.drills.runner import DrillRun
    from vigil.lab.netlab import check_root
    from vigil.lab.netns import LabError

    drills = _load(paths, suite, tags, only)
    try:
        check_root()
    except LabError as e:
        click.echo(f"vigil: {e}", err=True)
        sys.exit(2)
    started = datetime.now(UTC)
    out = Path(report_dir or f"drill-report-{started.strftime('%Y%m%d-%H%M%S')}")
    logs = out / "logs"
    results = []
    begin = time.monotonic()

    def log(text: str) -> None:
        click.echo(text, err=as_json)

    interrupted = False
    for i, d in enumerate(drills, 1):
        log(f"[{i}/{len(drills)}] {d.name}")
        run = DrillRun(d, log, logs_dir=logs, keep_all_logs=keep_logs)
        try:
            result = run.run()
        except KeyboardInterrupt:  # a second Ctrl-C during the teardown
            interrupted = True
            break
        results.append(result)
        verdict = "PASS" if result.passed else "FAIL"
        log(f"  {verdict} {d.name} ({result.wall_seconds:.0f}s)")
        for v in result.verdicts:
            log(f"    {'ok  ' if v.ok else 'FAIL'} {v.expectation}: {v.observed}")
        if run.interrupted:
            interrupted = True
            click.echo("interrupted: the lab was torn down; writing the report so far", err=True)
            break
    doc = write_report(results, out, started,
                       {"suite_seconds": round(time.monotonic() - begin, 1)})
    if as_json:
        click.echo(json.dumps({k: v for k, v in doc.items() if k != "drills"} | {
            "drills": [{k: v for k, v in d.items() if k != "record"} for d in doc["drills"]]},
            indent=1))
    else:
        click.echo(f"{doc['passed']} passed, {doc['failed']} failed in "
                   f"{time.monotonic() - begin:.0f}s; report: {out / 'report.html'}")
    if interrupted:
        sys.exit(130)
    sys.exit(1 if doc["failed"] or not results else 0)


COMMANDS: list[click.Command] = [drill]
