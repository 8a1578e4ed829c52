"""Pacemaker CIB import: a CIB (XML) as a vigil config and cluster state.

    imported = import_cib_file("cib.xml")
    imported.yaml       # the vigil config, as YAML text `vigil config validate` accepts
    imported.config     # the same, loaded (ClusterConfig)
    imported.state      # the status section as a ClusterState (nodes, resource states,
                        # fail counts); every configured node, offline when unseen
    imported.notes      # everything the config or state cannot express: XML path + why

Pure apart from reading the file: `now` (for fail-count expiry) is passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vigil.model.cib.configuration import read_configuration
from vigil.model.cib.status import read_status
from vigil.model.cib.xml_tree import CibError, Note, parse_cib
from vigil.model.cib.yaml_text import dump_yaml
from vigil.model.config import ClusterConfig
from vigil.model.load import ConfigInvalid, load_config_data, load_config_text
from vigil.model.state import ClusterState

__all__ = ["CibError", "CibImport", "Note", "import_cib_file", "import_cib_text"]


@dataclass(frozen=True)
class CibImport:
    yaml: str
    config: ClusterConfig
    state: ClusterState
    notes: tuple[Note, ...]
    stonith_enabled: bool


def import_cib_file(path: str | Path, now: float = 0.0) -> CibImport:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CibError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise CibError(f"{path}: not UTF-8 text; a CIB is UTF-8 XML") from None
    return import_cib_text(text, str(path), now)


def import_cib_text(text: str, source: str = "<cib>", now: float = 0.0) -> CibImport:
    root = parse_cib(text, source)
    stem = Path(source).stem if source and not source.startswith("<") else "imported"
    conf = read_configuration(root, stem)
    yaml_text = dump_yaml(conf.doc, _header(source))
    config = _validate(conf.doc, yaml_text, f"<config imported from {source}>")
    order = [n["name"] for n in conf.doc.get("nodes", [])]
    state, status_notes = read_status(root, conf.node_names, order, conf.node_attributes,
                                      config, conf.stonith_enabled, now)
    return CibImport(yaml_text, config, state, tuple(conf.notes + status_notes),
                     conf.stonith_enabled)


def _header(source: str) -> str:
    return (f"# Imported from Pacemaker CIB {source} by `vigil import cib`.\n"
            "# Review the notes it printed (what the CIB had that this file does not).\n")


def _validate(doc: dict[str, Any], yaml_text: str, name: str) -> ClusterConfig:
    """The config loader's checks, run on the document itself rather than on the YAML
    text: reading 5,000 resources' YAML back takes seconds, and `yaml_text` reads back as
    exactly `doc` (yaml_text.py; tests/unit/test_cib_yaml.py checks it on every fidelity
    case). Only when a check fails is the text loaded, so that each problem has its line."""
    try:
        return load_config_data(doc, name)
    except ConfigInvalid:
        load_config_text(yaml_text, name)  # raises again, with lines and columns
        raise
