"""What reading a CIB's configuration section produces, shared by its readers.

Internal to the CIB importer (`vigil.model.cib`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vigil.model.cib.xml_tree import Note

CFG_PATH = "/cib/configuration"
ROLE_NAMES = {"started": "Started", "stopped": "Stopped", "promoted": "Promoted",
         "master": "Promoted", "unpromoted": "Unpromoted", "slave": "Unpromoted"}


@dataclass
class ConfigDoc:
    doc: dict[str, Any]
    """The vigil config, as plain data ready for YAML."""
    notes: list[Note] = field(default_factory=list)
    stonith_enabled: bool = True
    node_names: dict[str, str] = field(default_factory=dict)
    """CIB node id -> node name (uname)."""
    node_attributes: dict[str, dict[str, str]] = field(default_factory=dict)
    """Permanent node attributes (standby lives here and goes to the state)."""
    resources: list[str] = field(default_factory=list)
    containers: list[str] = field(default_factory=list)
    """Group and clone ids (constraints may name them)."""
    primitive_parent: dict[str, str] = field(default_factory=dict)
    """Clone child primitive id -> clone id."""
    ids: set[str] = field(default_factory=set)
    """`resources` and `containers` as a set: what constraints may name."""
