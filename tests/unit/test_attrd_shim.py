"""vigil's crm_attribute / crm_master / attrd_updater / crm_node for resource agents:
the options agents use, what lands in the node's attribute file, and queries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vigil.agents.attrd_shim import install_shims, main, read_entries


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VIGIL_ATTR_FILE", str(tmp_path / "attributes.json"))
    monkeypatch.setenv("VIGIL_ATTR_CLUSTER_FILE", str(tmp_path / "cluster.json"))
    monkeypatch.setenv("OCF_RESKEY_CRM_meta_on_node", "n1")
    monkeypatch.setenv("OCF_RESOURCE_INSTANCE", "db")
    return tmp_path


def values(path: Path) -> dict[str, dict[str, object]]:
    return {n: {k: v["value"] for k, v in a.items()}
            for n, a in read_entries(path / "attributes.json").items()}


def test_promotion_scores_the_ways_agents_set_them(env: Path) -> None:
    assert main(["crm_attribute", "--promotion", "-v", "5"]) == 0
    assert values(env) == {"n1": {"master-db": "5"}}
    assert main(["crm_master", "-l", "reboot", "-v", "10"]) == 0
    assert values(env) == {"n1": {"master-db": "10"}}
    assert main(["crm_attribute", "-p", "-D"]) == 0
    assert values(env) == {"n1": {"master-db": None}}
    entry = read_entries(env / "attributes.json")["n1"]["master-db"]
    assert entry["lifetime"] == "reboot"


def test_queries_answer_from_the_node_then_the_cluster(
        env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (env / "cluster.json").write_text(json.dumps(
        {"n2": {"pingd": {"value": "100", "lifetime": "reboot"}}}))
    assert main(["attrd_updater", "-n", "pingd", "-B", "200", "-d", "5s"]) == 0
    assert main(["crm_attribute", "-N", "n1", "-n", "pingd", "-G", "-q"]) == 0
    assert main(["crm_attribute", "-N", "n2", "-n", "pingd", "-G", "-q"]) == 0
    assert capsys.readouterr().out == "200\n100\n"
    assert main(["crm_master", "-G", "-q"]) == 6  # not set: crm_attribute's ENXIO
    assert main(["attrd_updater", "-n", "pingd", "-Q"]) == 0
    assert capsys.readouterr().out == 'name="pingd" host="n1" value="200"\n'
    assert main(["crm_attribute", "-t", "nodes", "-N", "n2", "-n", "rack", "-v", "r1"]) == 0
    assert read_entries(env / "attributes.json")["n2"]["rack"]["lifetime"] == "forever"
    assert main(["crm_node", "-n"]) == 0 and capsys.readouterr().out == "n1\n"


def test_outside_an_agent_it_says_what_is_missing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("VIGIL_ATTR_FILE", "OCF_RESKEY_CRM_meta_on_node", "VIGIL_NODE"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(SystemExit, match="cannot tell the node"):
        main(["crm_attribute", "-n", "x", "-v", "1"])
    assert main(["nope"]) == 2


def test_install_shims_writes_executable_wrappers(tmp_path: Path) -> None:
    d = install_shims(tmp_path / "sbin", python="/usr/bin/python3")
    for name in ("crm_attribute", "crm_master", "attrd_updater", "crm_node"):
        script = d / name
        assert script.stat().st_mode & 0o111
        assert f"-m vigil.agents.attrd_shim {name}" in script.read_text()
