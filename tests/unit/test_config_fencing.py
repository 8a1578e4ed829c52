"""Config sections of issue #3: fencing, heartbeat, watchdog, witness, no_quorum_policy."""

from __future__ import annotations

import pytest

from vigil.model.load import ConfigInvalid, load_config_text

BASE = """cluster: c
nodes:
  - {name: a, address: 127.0.0.1, links: [127.0.0.1, 127.0.1.1]}
  - {name: b, address: 127.0.0.2, links: [127.0.0.2, 127.0.1.2]}
  - {name: w, address: 127.0.0.3, role: witness}
"""

FENCING = """fencing:
  action: off
  retries: 1
  devices:
    - id: ipmi
      agent: fence_ipmilan
      params: {ip: 10.0.1.1, username: admin}
      secret_files: {password: /etc/vigil/ipmi.pw}
      host_map: {a: "1", b: "2"}
      timeout: 5s
    - id: pdu
      agent: /usr/sbin/fence_apc
      hosts: [a]
  levels:
    a: [[ipmi], [pdu]]
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigInvalid) as caught:
        load_config_text(text, "c.yaml")
    return [str(p) for p in caught.value.problems]


def test_full_fencing_section_loads() -> None:
    cfg = load_config_text(BASE + FENCING + "heartbeat: {key_file: /etc/vigil/k}\n"
                           "watchdog: {timeout: 3s, device: /dev/watchdog}\n"
                           "no_quorum_policy: freeze\n")
    f = cfg.fencing
    assert [d.id for d in f.devices] == ["ipmi", "pdu"] and f.action == "off"
    assert f.devices[0].secret_files == {"password": "/etc/vigil/ipmi.pw"}
    assert f.devices[0].host_map == {"a": "1", "b": "2"} and f.devices[0].timeout == 5.0
    assert f.topology("a") == (("ipmi",), ("pdu",))
    assert f.topology("b") == (("ipmi",),)  # no levels: each device that can fence it
    assert cfg.node_names == ("a", "b") and cfg.node("w").role == "witness"
    assert cfg.node("a").heartbeat_addresses == ("127.0.0.1", "127.0.1.1")
    assert cfg.heartbeat.key_file == "/etc/vigil/k" and cfg.watchdog.device == "/dev/watchdog"
    assert cfg.no_quorum_policy == "freeze"


@pytest.mark.parametrize(("extra", "needle"), [
    ("fencing:\n  levels:\n    a: [[nope]]\n", "no fence device 'nope'"),
    ("fencing:\n  levels:\n    zz: [[x]]\n", "no node named 'zz'"),
    ("fencing:\n  devices:\n    - {id: d, agent: x, hosts: [q]}\n", "no node named 'q'"),
    ("fencing:\n  devices:\n    - {id: d, agent: x, secret_files: {password: pw}}\n",
     "not an absolute path"),
    ("fencing:\n  devices:\n    - {id: d, agent: x, params: {password: p}, "
     "secret_files: {password: /pw}}\n", "give a secret only as a file"),
    ("fencing:\n  devices:\n    - {id: d, agent: x}\n    - {id: d, agent: y}\n",
     "already used"),
    ("heartbeat: {interval: 200ms, timeout: 300ms}\n", "at least 3 x interval"),
    ("no_quorum_policy: freeze\n", "no fence device covers a, b"),
    ("no_quorum_policy: maybe\n", "expected one of: stop, freeze"),
])
def test_fencing_problems_name_the_place_and_the_fix(extra: str, needle: str) -> None:
    found = problems(BASE + extra)
    assert any(needle in p for p in found), found
    assert all(p.startswith("c.yaml:") for p in found)


def test_links_must_match_in_number() -> None:
    text = BASE.replace("links: [127.0.0.2, 127.0.1.2]", "links: [127.0.0.2]")
    assert any("same number of links" in p for p in problems(text))
