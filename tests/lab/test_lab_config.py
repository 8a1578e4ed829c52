"""How the lab merges the user's config with what it owns (no root needed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from vigil.lab.lab_config import EXAMPLE_CONFIG, merge
from vigil.lab.netlab import NetnsLab
from vigil.lab.netns import LabError
from vigil.model.load import load_config_text

USER = """
cluster: shop
nodes:
  - {name: db1, address: 10.0.0.1}
store: {type: external, endpoints: [http://10.0.0.9:2379], etcd_election_timeout: 300ms}
heartbeat: {key_file: /etc/vigil/key, port: 9999, interval: 60ms, timeout: 300ms}
fencing:
  action: off
  retries: 3
  devices:
    - {id: ipmi, agent: fence_ipmilan, params: {ip: 10.0.1.1}, hosts: [db1]}
resources:
  - id: vip
    agent: vip
    params: {ip: "${vip}", nic: "${nic}", note: "$HOME stays"}
"""


def lab(config: str = USER, **kw: object) -> NetnsLab:
    return NetnsLab.create(Path("/nonexistent/lab"), name="cfgtest", config=config,
                           **kw)  # type: ignore[arg-type]


def test_the_lab_owns_nodes_store_heartbeat_and_fencing() -> None:
    cfg = load_config_text(lab().config_text())
    assert cfg.name == "shop"  # kept
    assert [n.name for n in cfg.nodes] == ["n1", "n2", "n3"]
    assert cfg.node("n2").address == "198.18.1.12"
    assert cfg.node("n2").links == ("198.18.1.12", "198.18.2.12")
    assert cfg.store.mode == "embedded" and cfg.store.endpoints == ()
    assert cfg.store.etcd_election_timeout == pytest.approx(0.3)  # the user's timing kept
    assert cfg.heartbeat.key_file == "/nonexistent/lab/cluster.key"
    assert cfg.heartbeat.port == 7410
    assert (cfg.heartbeat.interval, cfg.heartbeat.timeout) == pytest.approx((0.06, 0.3))
    assert [d.id for d in cfg.fencing.devices] == ["lab"]  # real hardware dropped
    assert (cfg.fencing.action, cfg.fencing.retries) == ("off", 3)
    device = cfg.fencing.devices[0]
    assert device.agent == "/nonexistent/lab/fence_netns"
    assert dict(device.host_map) == {"n1": "n1", "n2": "n2", "n3": "n3"}
    assert device.params["prefix"] == "vigil-lab-cfgtest-"


def test_placeholders_are_replaced_and_other_dollars_kept() -> None:
    cfg = load_config_text(lab().config_text().replace("    note: $HOME stays\n", ""))
    params = cfg.resource("vip").params
    assert params["ip"] == "198.18.1.100" and params["nic"] == "eth1"
    text = lab().config_text()
    assert "$HOME stays" in text and "${vip}" not in text


def test_no_fencing_and_witness() -> None:
    cfg = load_config_text(lab(nodes=2, witness=True, fencing=False).config_text())
    assert not cfg.fencing.enabled
    assert [(n.name, n.role) for n in cfg.nodes] == [
        ("n1", "member"), ("n2", "member"), ("w1", "witness")]
    assert cfg.node("w1").address == "198.18.1.5"


def test_the_example_config_is_valid() -> None:
    cfg = load_config_text(lab(config=EXAMPLE_CONFIG.read_text()).config_text())
    assert {r.id for r in cfg.resources} == {"vip", "web"}
    assert "lab_service.py 80" in cfg.resource("web").params["command"]


def test_bad_yaml_and_bad_names_are_refused() -> None:
    with pytest.raises(LabError, match="not valid YAML"):
        merge("a: [\n", nodes=[], key_file="k", hb_port=1, fence_device=None, values={})
    with pytest.raises(LabError, match="lab name"):
        NetnsLab.create(Path("/x"), name="bad name")
    with pytest.raises(LabError, match="--nodes 12"):
        NetnsLab.create(Path("/x"), nodes=12)


def test_cli_up_refuses_an_invalid_config_before_building_anything(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("resources:\n  - id: web\n    agent: nosuch\n")
    out = subprocess.run([sys.executable, "-m", "vigil", "lab", "up", "--config", str(bad),
                          "--name", "cfgbad", "--dir", str(tmp_path / "lab")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert "merged lab config is invalid" in out.stderr and "nosuch" in out.stderr
    assert not (tmp_path / "lab" / "lab.json").exists()
