"""Pure helpers of the resource-agent runners (no processes started)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from vigil.agents.base import NodeContext
from vigil.agents.factory import make_agent
from vigil.agents.ocf import OcfAgent, agent_environment, exit_reason, parse_agent
from vigil.agents.process import (
    PidRecord,
    ProcessAgent,
    parse_env,
    parse_params,
    parse_signal,
    parse_stat,
)
from vigil.agents.subprocess_run import kill_grace, tail_text
from vigil.agents.vip import VipAgent
from vigil.model.config import Operations, Resource

OPS = Operations(start_timeout=20, stop_timeout=20, monitor_interval=10, monitor_timeout=20)
CTX = NodeContext("n1", Path("/var/lib/vigil/n1"))


def rsc(agent: str, **params: str) -> Resource:
    return Resource(id="r1", agent=agent, params=params, ops=OPS)


# --- subprocess_run -----------------------------------------------------------------


def test_tail_text_keeps_short_output() -> None:
    assert tail_text(b"one\ntwo\n") == "one\ntwo\n"


def test_tail_text_cuts_at_a_line_boundary() -> None:
    data = b"".join(b"line %d\n" % i for i in range(1000))
    text = tail_text(data, limit=100)
    assert text.startswith("[...]\n")
    body = text.removeprefix("[...]\n")
    assert len(body) <= 100 and body.endswith("line 999\n")
    assert body.splitlines()[0].startswith("line ")  # no half line at the top


def test_tail_text_survives_invalid_utf8() -> None:
    assert tail_text(b"caf\xe9\n") == "caf\ufffd\n"


@pytest.mark.parametrize(("timeout", "grace"), [(0, 0), (1, 0.1), (10, 1), (60, 2)])
def test_kill_grace(timeout: float, grace: float) -> None:
    assert kill_grace(timeout) == pytest.approx(grace)


# --- ocf ------------------------------------------------------------------------------


def test_parse_agent() -> None:
    assert parse_agent("ocf:heartbeat:IPaddr2") == ("heartbeat", "IPaddr2")


@pytest.mark.parametrize(
    "agent", ["ocf:heartbeat", "lsb:foo:bar", "ocf:../..:sh", "ocf:heartbeat:a/b", "ocf::x"]
)
def test_parse_agent_rejects(agent: str) -> None:
    with pytest.raises(ValueError):
        parse_agent(agent)


def test_exit_reason_is_the_last_one() -> None:
    out = "noise\nocf-exit-reason:first\nmore\nocf-exit-reason: second \n"
    assert exit_reason(out) == "second"
    assert exit_reason("nothing here") is None


def test_agent_environment() -> None:
    env = agent_environment(
        resource_id="vip",
        provider="heartbeat",
        kind="IPaddr2",
        params={"ip": "198.18.0.10", "cidr_netmask": "24"},
        op="monitor",
        timeout=20,
        interval=0.5,
        root=Path("/usr/lib/ocf"),
        ctx=CTX,
    )
    assert env["OCF_RESKEY_ip"] == "198.18.0.10"
    assert env["OCF_RESKEY_cidr_netmask"] == "24"
    assert env["OCF_RESKEY_CRM_meta_timeout"] == "20000"
    assert env["OCF_RESKEY_CRM_meta_interval"] == "500"
    assert env["OCF_RESKEY_CRM_meta_on_node"] == "n1"
    assert env["HA_RSCTMP"] == "/var/lib/vigil/n1/rsctmp"
    assert env["HA_VARRUN"] == "/var/lib/vigil/n1/run"
    assert env["OCF_EXIT_REASON_PREFIX"] == "ocf-exit-reason:"
    assert env["HA_LOGFACILITY"] == "none"


def test_ocf_root_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_OCF_ROOT", "/opt/ocf")
    agent = OcfAgent(rsc("ocf:acme:Thing"), CTX)
    assert agent.script == Path("/opt/ocf/resource.d/acme/Thing")
    monkeypatch.delenv("VIGIL_OCF_ROOT")
    assert OcfAgent(rsc("ocf:acme:Thing"), CTX).root == Path("/usr/lib/ocf")


# --- process --------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["TERM", "term", "SIGTERM", "15", " TERM "])
def test_parse_signal(text: str) -> None:
    assert parse_signal(text) is signal.SIGTERM


def test_parse_signal_rejects() -> None:
    with pytest.raises(ValueError):
        parse_signal("NOPE")


def test_parse_env_quoting() -> None:
    assert parse_env("A=1 B='two words' C=\"x=y\" D=") == {
        "A": "1",
        "B": "two words",
        "C": "x=y",
        "D": "",
    }
    with pytest.raises(ValueError):
        parse_env("1A=x")


def test_parse_params_defaults() -> None:
    p = parse_params({"command": "exec sleep 1"})
    assert (p.cwd, p.env, p.stop_signal, p.start_wait) == ("/", {}, signal.SIGTERM, 0.2)


@pytest.mark.parametrize(
    "params",
    [{}, {"command": "  "}, {"command": "x", "start_wait": "-1"}, {"command": "x", "y": "z"}],
)
def test_parse_params_rejects(params: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        parse_params(params)


def test_parse_stat_with_awkward_comm() -> None:
    # comm may hold spaces and ')' — fields are counted after the last ')'.
    fields = ["S", "1", "4242", "4242"] + ["0"] * 15 + ["987654"] + ["0"] * 10
    stat = parse_stat("4243 (my ) prog) " + " ".join(fields))
    assert (stat.state, stat.pgrp, stat.start_ticks, stat.alive) == ("S", 4242, 987654, True)
    zombie = parse_stat("5 (z) Z " + " ".join(fields[1:]))
    assert not zombie.alive


def test_pid_record_round_trip() -> None:
    record = PidRecord(pid=123, create_time=1700000000.123456, start_ticks=456)
    assert record.to_text() == "123 1700000000.123456 456\n"
    assert PidRecord.from_text(record.to_text()) == record
    for bad in ("", "123", "123 abc 456", "1 2 3 4"):
        with pytest.raises(ValueError):
            PidRecord.from_text(bad)


# --- factory --------------------------------------------------------------------------


def test_factory_dispatch() -> None:
    assert isinstance(make_agent(rsc("process", command="true"), CTX), ProcessAgent)
    ocf = make_agent(rsc("ocf:heartbeat:Dummy"), CTX)
    assert isinstance(ocf, OcfAgent) and (ocf.provider, ocf.kind) == ("heartbeat", "Dummy")
    assert isinstance(make_agent(rsc("vip", ip="198.18.0.10"), CTX), VipAgent)


@pytest.mark.parametrize("agent", ["lsb:nginx", "systemd:nginx", "stonith:fence_xvm", "proc"])
def test_factory_rejects_unknown_classes(agent: str) -> None:
    with pytest.raises(ValueError, match=r"supported: process, vip, ocf:<provider>:<type>"):
        make_agent(rsc(agent), CTX)


def test_factory_rejects_malformed_ocf() -> None:
    with pytest.raises(ValueError, match="resource r1"):
        make_agent(rsc("ocf:heartbeat"), CTX)
