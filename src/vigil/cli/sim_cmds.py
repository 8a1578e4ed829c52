"""`vigil sim` commands (registered by vigil.cli.main)."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
