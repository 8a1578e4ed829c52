"""`vigil import cib FILE`: a Pacemaker CIB as a vigil config (and cluster state)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from vigil.model.cib import CibError, import_cib_file
from vigil.model.cib.state_file import state_to_json
from vigil.model.load import ConfigInvalid


@click.group("import")
def import_group() -> None:
    """Import a configuration from another cluster manager."""


@import_group.command("cib")
@click.argument("cib_file", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Write the vigil config here (default: standard output).")
@click.option("--state", "state_file", type=click.Path(dir_okay=False),
              help="Also write the status section as a vigil state file (JSON), for "
                   "`vigil simulate --state`.")
def import_cib(cib_file: str, output: str | None, state_file: str | None) -> None:
    """Turn a Pacemaker CIB (`cibadmin --query > cib.xml`) into a vigil config.

    Everything the CIB holds that the vigil config cannot express is listed on standard
    error (where in the XML, and why); nothing is dropped silently.
    """
    try:
        imported = import_cib_file(cib_file, now=time.time())
    except CibError as e:
        click.echo(f"vigil: {e}", err=True)
        sys.exit(1)
    except ConfigInvalid as e:
        click.echo(f"vigil: {cib_file}: the imported config does not validate (a bug in the "
                   "importer; please report it with the CIB):", err=True)
        for p in e.problems:
            click.echo(f"  {p}", err=True)
        sys.exit(1)
    if output:
        Path(output).write_text(imported.yaml)
        click.echo(f"wrote {output}: {len(imported.config.nodes)} nodes, "
                   f"{len(imported.config.resources)} resources", err=True)
    else:
        click.echo(imported.yaml, nl=False)
    if state_file:
        Path(state_file).write_text(state_to_json(imported.state))
        click.echo(f"wrote {state_file}", err=True)
    if imported.notes:
        click.echo(f"{len(imported.notes)} thing(s) in {cib_file} not imported as they are:",
                   err=True)
        for note in imported.notes:
            click.echo(f"  {note}", err=True)


COMMANDS: list[click.Command] = [import_group]
