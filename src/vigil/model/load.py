"""Load a YAML cluster config into a `ClusterConfig`, or report every problem in it.

Validation is by hand rather than through a schema library so that each problem points
at the exact line of the offending key or value and says how to fix it (S5: bad input
gets a clear error naming where, and nothing is applied). Reading never stops at the
first problem: a bad value is recorded and replaced by its default so the rest of the
file is still checked, and the field is remembered as bad so cross-field checks that
involve it stay quiet instead of reporting a consequence of the same mistake.

Field paths name list items by their id when it is known (`resources[web].meta`) and by
their 0-based index otherwise (`nodes[2].address`). Lines and columns are 1-based.
"""

from __future__ import annotations

from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from vigil.model.config import ClusterConfig
from vigil.model.problems import ConfigInvalid, Pos, Problem, _Report
from vigil.model.sections import _read_config

_NOWHERE: Pos = (None, None)

__all__ = ["ConfigInvalid", "Problem", "load_config_file", "load_config_text"]


def load_config_file(path: str | Path) -> ClusterConfig:
    """Read and validate a config file; raises `ConfigInvalid` (also if unreadable)."""
    name = str(path)
    try:
        # utf-8-sig: tolerate the byte-order mark some Windows editors write.
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise _file_problem(name, "no such file; `vigil init` writes a starting config") from None
    except IsADirectoryError:
        raise _file_problem(name, "is a directory; give the path of the YAML file") from None
    except PermissionError:
        raise _file_problem(name, "permission denied; make it readable by vigil") from None
    except UnicodeDecodeError as exc:
        message = f"not UTF-8 text (bad byte at offset {exc.start}); save it as UTF-8"
        raise _file_problem(name, message) from None
    except OSError as exc:
        raise _file_problem(name, f"cannot read: {exc.strerror or exc}") from None
    return load_config_text(text, name)


def _file_problem(name: str, message: str) -> ConfigInvalid:
    return ConfigInvalid([Problem(name, None, None, "", message)])


def load_config_text(text: str, filename: str = "<config>") -> ClusterConfig:
    """Validate YAML text; raises `ConfigInvalid` listing every problem found."""
    report = _Report(filename)
    document = _parse_yaml(text, report)
    config = None if report.problems else _read_config(report, document)
    if report.problems or config is None:
        raise ConfigInvalid(report.sorted())
    return config


def load_config_data(document: object, filename: str = "<config>") -> ClusterConfig:
    """Validate an already parsed document (mappings, lists, scalars) with the same checks
    as a file; problems carry no line numbers unless the document is ruamel's."""
    report = _Report(filename)
    config = _read_config(report, document)
    if report.problems or config is None:
        raise ConfigInvalid(report.sorted())
    return config


def _parse_yaml(text: str, report: _Report) -> object:
    try:
        # The round-trip loader keeps the line and column of every key and list item.
        document = YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        report.add(_mark_pos(exc), "", _yaml_message(exc))
        return None
    except YAMLError as exc:
        report.add(_NOWHERE, "", f"invalid YAML: {exc}")
        return None
    if document is None:
        message = (
            "the config is empty; expected a mapping with at least `cluster:` and `nodes:`"
            " (`vigil init` writes a starting config)"
        )
        report.add(_NOWHERE, "", message)
    return document


def _mark_pos(exc: MarkedYAMLError) -> Pos:
    mark = exc.problem_mark or exc.context_mark
    return _NOWHERE if mark is None else (mark.line + 1, mark.column + 1)


def _yaml_message(exc: MarkedYAMLError) -> str:
    problem = str(exc.problem or exc.context or "syntax error")
    message = f"invalid YAML: {problem}"
    if "duplicate key" in problem:
        message += "; each key may appear once in a mapping: remove or merge the other one"
    elif "'\\t'" in problem:
        message += "; indent with spaces, not tabs"
    elif "mapping values are not allowed" in problem:
        message += "; check the indentation, and quote values that contain ': '"
    return message
