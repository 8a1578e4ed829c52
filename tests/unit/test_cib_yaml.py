"""The importer writes its YAML itself (fast) and validates the document directly; these
tests hold it to what `vigil config validate` would read from the written file."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from vigil.model.cib import import_cib_file, import_cib_text
from vigil.model.cib.configuration import read_configuration
from vigil.model.cib.xml_tree import parse_cib
from vigil.model.cib.yaml_text import dump_yaml, scalar
from vigil.model.load import load_config_text

CASES = sorted((Path(__file__).parents[1] / "fidelity" / "cases").glob("*.xml"))


def _read_back(text: str) -> object:
    return YAML(typ="rt").load(text)


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_written_yaml_is_the_validated_config(case: Path) -> None:
    imported = import_cib_file(case)
    # What `vigil config validate FILE` reads from the written file...
    assert load_config_text(imported.yaml, str(case)) == imported.config
    # ...and the text holds exactly the document the importer built.
    doc = read_configuration(parse_cib(case.read_text(), str(case)), case.stem).doc
    assert _read_back(imported.yaml) == doc


def test_same_text_as_ruamels_own_emitter() -> None:
    """On the whole corpus, byte for byte what ruamel.yaml's block style writes."""
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[assignment]
    for case in CASES:
        doc = read_configuration(parse_cib(case.read_text(), str(case)), case.stem).doc
        buf = io.StringIO()
        yaml.dump(doc, buf)
        assert dump_yaml(doc) == buf.getvalue(), case.stem


def test_a_generated_bench_cib_round_trips() -> None:
    sys.path.insert(0, str(Path(__file__).parents[2] / "bench"))
    from scheduler import generate_cib  # type: ignore[import-not-found]

    imported = import_cib_text(generate_cib(5, 60), "<bench>")
    assert load_config_text(imported.yaml) == imported.config


TRICKY = ["", " x", "x ", "a: b", "a:", "a:b", "- x", "-x", "#x", "x #y", "x#y", "...",
          "---", "yes", "no", "on", "true", "False", "null", "~", "0", "007", "1e3", "0x1f",
          ".inf", "-.nan", "1_000", "2001-12-14", "it's", 'say "hi"', "a\tb", "line\nnext",
          "é", "\u2028", "\ufeffx", "\x85", "\U0001f600", "back\\slash", "{a}", "[a]", "*a",
          "&a", "!a", "|", ">", "%x", "@x", "`x", "?", "? x", "a,b", "ocf:heartbeat:IPaddr2",
          "node1 -> node2"]


@pytest.mark.parametrize("text", TRICKY)
def test_tricky_strings_read_back_as_themselves(text: str) -> None:
    doc = {"k": text, "l": [text, {"m": text, text or "e": 1}]}
    assert _read_back(dump_yaml(doc)) == doc


@settings(max_examples=300, deadline=None)
@given(st.recursive(
    st.one_of(st.text(), st.integers(), st.booleans(), st.none(),
              st.floats(allow_nan=False, allow_infinity=False)),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(min_size=1), inner, max_size=3)),
    max_leaves=12))
def test_any_plain_document_reads_back(value: object) -> None:
    doc = {"v": value}
    assert _read_back(dump_yaml(doc)) == doc


def test_long_keys_are_explicit() -> None:
    doc = {"x" * 2000: {"y" * 1500: ["z" * 3000]}}
    assert _read_back(dump_yaml(doc)) == doc


def test_values_it_cannot_write_are_refused() -> None:
    with pytest.raises(TypeError, match="cannot write"):
        scalar(object())


def test_a_rejected_document_is_reported_with_lines_of_the_written_yaml() -> None:
    from vigil.model.cib import _validate
    from vigil.model.load import ConfigInvalid

    doc = {"cluster": "c", "nodes": [{"name": "n1", "address": "192.0.2.1", "bogus": 1}]}
    with pytest.raises(ConfigInvalid) as err:
        _validate(doc, dump_yaml(doc), "imported.yaml")
    assert any(p.line == 5 and "bogus" in str(p) for p in err.value.problems), err.value
