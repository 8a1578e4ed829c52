"""Fencing topology (`fence_node`), `verify` and the runner's pure parts, without processes.

A scripted fake stands in for `run_fence_agent`: it records every call and answers from
a plan ("ok", an exit code, "timeout" or "raise" per device and action).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping

import pytest

from vigil.agents.base import OcfRc
from vigil.fencing.runner import (
    FenceError,
    FenceResult,
    agent_input,
    fence_node,
    last_line,
    redact,
    verify,
)
from vigil.model.config import FenceDevice, FencingConfig

Plan = Mapping[tuple[str, str], list[object]]


class FakeRun:
    def __init__(self, plan: Plan | None = None) -> None:
        self.plan = {k: list(v) for k, v in (plan or {}).items()}
        self.calls: list[tuple[str, str, str | None]] = []

    async def __call__(self, device: FenceDevice, action: str, node: str | None = None,
                       timeout: float | None = None) -> FenceResult:
        self.calls.append((device.id, action, node))
        steps = self.plan.get((device.id, action), [])
        outcome = steps.pop(0) if steps else "ok"
        def result(ok: bool, rc: int, output: str, duration: float,
                   timed_out: bool = False) -> FenceResult:
            return FenceResult(device.id, action, node or "", ok, rc, output, duration,
                               timed_out, agent=device.agent, timeout=device.timeout)

        if outcome == "ok":
            return result(True, 0, "Success: done\n", 0.25)
        if outcome == "timeout":
            return result(False, OcfRc.TIMEOUT, "vigil: timed out\n", device.timeout + 2, True)
        if outcome == "raise":
            raise RuntimeError("device exploded")
        assert isinstance(outcome, int)
        return result(False, outcome, f"Failed: {device.id} said no\n", 0.5)

    def actions(self) -> list[str]:
        return [f"{d}:{a}" for d, a, _ in self.calls]


def dev(did: str, *, params: Mapping[str, str] | None = None, hosts: tuple[str, ...] = (),
        host_map: Mapping[str, str] | None = None) -> FenceDevice:
    return FenceDevice(id=did, agent="fence_dummy", params=params or {}, hosts=hosts,
                       host_map=host_map or {})


TWO_LEVELS = FencingConfig(
    devices=(dev("ipmi-db1", hosts=("db1",)), dev("pdu", hosts=("db1", "db2"))),
    levels={"db1": (("ipmi-db1",), ("pdu",))},
)


# --- level order and escalation -------------------------------------------------------


async def test_first_level_success_stops_there() -> None:
    run = FakeRun()
    outcome = await fence_node(TWO_LEVELS, "db1", run=run)
    assert outcome.ok and outcome.level == 1 and outcome.action == "reboot"
    assert run.calls == [("ipmi-db1", "reboot", "db1")]
    assert outcome.reason == "db1 fenced (reboot) by level 1: ipmi-db1"
    assert [r.device for r in outcome.results] == ["ipmi-db1"]


async def test_failed_level_escalates_to_the_next() -> None:
    run = FakeRun({("ipmi-db1", "reboot"): ["timeout"]})
    outcome = await fence_node(TWO_LEVELS, "db1", run=run)
    assert outcome.ok and outcome.level == 2
    assert run.actions() == ["ipmi-db1:reboot", "pdu:reboot"]
    assert outcome.reason == ("db1 fenced (reboot) by level 2: pdu after level 1 "
                              "(ipmi-db1): timed out after 20s")
    assert [r.ok for r in outcome.results] == [False, True]


async def test_default_topology_is_one_level_per_capable_device_in_config_order() -> None:
    config = FencingConfig(devices=(dev("a", hosts=("db2",)), dev("b"), dev("c", hosts=("db1",)),
                                    dev("d", host_map={"db1": "7"})))
    run = FakeRun({("b", "off"): [1], ("c", "off"): [1]})
    outcome = await fence_node(config, "db1", "off", run=run)
    assert run.actions() == ["b:off", "c:off", "d:off"]
    assert outcome.ok and outcome.level == 3
    assert outcome.reason.startswith("db1 fenced (off) by level 3: d after level 1 (b): rc 1:")


async def test_every_device_of_a_level_must_succeed() -> None:
    config = FencingConfig(devices=(dev("psu-a"), dev("psu-b"), dev("ipmi")),
                           levels={"db1": (("psu-a", "psu-b"), ("ipmi",))}, action="off")
    run = FakeRun({("psu-b", "off"): [1]})
    outcome = await fence_node(config, "db1", run=run)
    assert run.actions() == ["psu-a:off", "psu-b:off", "ipmi:off"]
    assert outcome.ok and outcome.level == 2
    assert "level 1 (psu-a, psu-b): psu-b off: rc 1: Failed: psu-b said no" in outcome.reason


async def test_a_level_stops_at_its_first_failing_device() -> None:
    config = FencingConfig(devices=(dev("psu-a"), dev("psu-b")),
                           levels={"db1": (("psu-a", "psu-b"),)}, action="off", retries=0)
    run = FakeRun({("psu-a", "off"): [1]})
    outcome = await fence_node(config, "db1", run=run)
    assert run.actions() == ["psu-a:off"]
    assert not outcome.ok and outcome.level is None


# --- reboot on a multi-device level -----------------------------------------------------


PSUS = FencingConfig(devices=(dev("psu-a"), dev("psu-b"), dev("ipmi")),
                     levels={"db1": (("psu-a", "psu-b"), ("ipmi",))})


async def test_reboot_on_several_devices_is_all_off_then_all_on() -> None:
    run = FakeRun()
    outcome = await fence_node(PSUS, "db1", "reboot", run=run)
    assert run.actions() == ["psu-a:off", "psu-b:off", "psu-a:on", "psu-b:on"]
    assert outcome.ok and outcome.level == 1
    assert outcome.reason == "db1 fenced (reboot) by level 1: psu-a, psu-b"


async def test_reboot_counts_as_done_once_every_off_succeeded() -> None:
    run = FakeRun({("psu-a", "on"): ["timeout"]})
    outcome = await fence_node(PSUS, "db1", "reboot", run=run)
    assert run.actions() == ["psu-a:off", "psu-b:off", "psu-a:on", "psu-b:on"]
    assert outcome.ok and outcome.level == 1
    assert outcome.reason.endswith("; power on failed (ignored): psu-a on: timed out after 20s")


async def test_reboot_with_a_failed_off_never_powers_on_and_escalates() -> None:
    run = FakeRun({("psu-b", "off"): [1]})
    outcome = await fence_node(PSUS, "db1", "reboot", run=run)
    assert run.actions() == ["psu-a:off", "psu-b:off", "ipmi:reboot"]
    assert outcome.ok and outcome.level == 2


async def test_single_device_level_gets_a_plain_reboot() -> None:
    run = FakeRun()
    await fence_node(FencingConfig(devices=(dev("ipmi"),)), "db1", run=run)
    assert run.actions() == ["ipmi:reboot"]


# --- retries -----------------------------------------------------------------------------


async def test_whole_topology_is_retried_then_fails_with_every_reason() -> None:
    run = FakeRun({("ipmi-db1", "reboot"): ["timeout"] * 3, ("pdu", "reboot"): [1] * 3})
    outcome = await fence_node(TWO_LEVELS, "db1", run=run)
    assert not outcome.ok and outcome.level is None
    assert run.actions() == ["ipmi-db1:reboot", "pdu:reboot"] * 3
    assert len(outcome.results) == 6
    assert outcome.reason == ("fencing db1 failed: level 1 (ipmi-db1): timed out after 20s; "
                              "level 2 (pdu): rc 1: Failed: pdu said no; retried 2 times")


@pytest.mark.parametrize(("retries", "suffix"), [(0, "said no"), (1, "; retried 1 time")])
async def test_retry_count_follows_the_config(retries: int, suffix: str) -> None:
    config = FencingConfig(devices=(dev("ipmi"),), retries=retries)
    run = FakeRun({("ipmi", "reboot"): [1] * 5})
    outcome = await fence_node(config, "db1", run=run)
    assert len(run.calls) == retries + 1
    assert not outcome.ok and outcome.reason.endswith(suffix)


async def test_success_on_a_retry_says_which_attempt() -> None:
    run = FakeRun({("ipmi-db1", "reboot"): [1], ("pdu", "reboot"): [1]})
    outcome = await fence_node(TWO_LEVELS, "db1", run=run)
    assert outcome.ok and outcome.level == 1
    assert run.actions() == ["ipmi-db1:reboot", "pdu:reboot", "ipmi-db1:reboot"]
    assert outcome.reason == "db1 fenced (reboot) by level 1: ipmi-db1 (attempt 2 of 3)"


# --- nothing to fence with, bad levels, broken runners ---------------------------------


async def test_no_devices_at_all() -> None:
    run = FakeRun()
    outcome = await fence_node(FencingConfig(), "db1", run=run)
    assert not outcome.ok and run.calls == [] and outcome.results == ()
    assert outcome.reason == "cannot fence db1: fencing is not configured (no fence devices)"


async def test_no_device_can_fence_this_node() -> None:
    config = FencingConfig(devices=(dev("ipmi-db2", hosts=("db2",)),
                                    dev("pdu", host_map={"db2": "3"})))
    run = FakeRun()
    outcome = await fence_node(config, "db1", run=run)
    assert not outcome.ok and run.calls == []
    assert outcome.reason == "cannot fence db1: no fence device can fence db1"


async def test_unknown_or_unfit_device_in_a_level_fails_that_level_only() -> None:
    config = FencingConfig(devices=(dev("pdu", host_map={"db2": "3"}), dev("ipmi")),
                           levels={"db1": (("ghost",), ("pdu",), ("ipmi",))}, retries=0)
    run = FakeRun()
    outcome = await fence_node(config, "db1", "off", run=run)
    assert run.actions() == ["ipmi:off"]
    assert outcome.ok and outcome.level == 3
    assert outcome.reason == ("db1 fenced (off) by level 3: ipmi after level 1 (ghost): "
                              "no fence device named ghost; level 2 (pdu): pdu cannot fence db1")


async def test_a_runner_exception_fails_the_device_and_the_next_level_runs() -> None:
    run = FakeRun({("ipmi-db1", "reboot"): ["raise"]})
    outcome = await fence_node(TWO_LEVELS, "db1", run=run)
    assert outcome.ok and outcome.level == 2
    assert "RuntimeError: device exploded" in outcome.reason


async def test_action_comes_from_the_config_unless_given() -> None:
    config = FencingConfig(devices=(dev("ipmi"),), action="off")
    run = FakeRun()
    assert (await fence_node(config, "db1", run=run)).action == "off"
    assert (await fence_node(config, "db1", "reboot", run=run)).action == "reboot"
    on = await fence_node(config, "db1", "on", run=run)
    assert on.reason == "db1 unfenced (on) by level 1: ipmi"
    assert run.actions() == ["ipmi:off", "ipmi:reboot", "ipmi:on"]
    with pytest.raises(ValueError, match="monitor"):
        await fence_node(config, "db1", "monitor", run=run)


# --- verify -------------------------------------------------------------------------------


async def test_verify_reports_failing_devices_and_unfenceable_nodes() -> None:
    config = FencingConfig(
        devices=(dev("ipmi-db1", hosts=("db1",)), dev("ipmi-db2", hosts=("db2",)),
                 dev("psu-a", hosts=("db3",)), dev("psu-b", hosts=("db3",))),
        levels={"db3": (("psu-a", "psu-b"),)})
    run = FakeRun({("ipmi-db2", "monitor"): ["timeout"], ("psu-b", "monitor"): [1]})
    report = await verify(config, ["db1", "db2", "db3", "db4"], run=run)
    assert sorted(run.actions()) == ["ipmi-db1:monitor", "ipmi-db2:monitor",
                                     "psu-a:monitor", "psu-b:monitor"]
    assert all(node is None for _, _, node in run.calls)
    assert not report.ok
    assert report.failed_devices == ("ipmi-db2", "psu-b")
    assert report.unfenceable == ("db2", "db3", "db4")
    reasons = {n.node: n.reason for n in report.nodes}
    assert reasons["db1"] == "db1 can be fenced by level 1: ipmi-db1"
    assert reasons["db2"] == ("db2 cannot be fenced: level 1 (ipmi-db2): ipmi-db2 failed "
                              "its monitor")
    assert reasons["db3"] == ("db3 cannot be fenced: level 1 (psu-a, psu-b): psu-b failed its "
                              "monitor")
    assert reasons["db4"] == "db4 cannot be fenced: no fence device can fence db4"
    assert report.devices[1].reason == "fence_dummy (ipmi-db2) monitor: timed out after 20s"
    assert len(report.lines()) == 8
    doc = report.to_dict()
    assert json.loads(json.dumps(doc)) == doc
    assert doc["unfenceable"] == ["db2", "db3", "db4"] and not doc["ok"]
    assert [d["device"] for d in doc["devices"] if not d["ok"]] == ["ipmi-db2", "psu-b"]


async def test_verify_monitors_all_devices_at_once() -> None:
    devices = tuple(dev(f"d{i}") for i in range(4))
    started: list[str] = []
    all_started = asyncio.Event()

    async def run(device: FenceDevice, action: str, node: str | None = None,
                  timeout: float | None = None) -> FenceResult:
        started.append(device.id)
        if len(started) == len(devices):
            all_started.set()
        await asyncio.wait_for(all_started.wait(), 5)  # a sequential verify would hang here
        return FenceResult(device.id, action, "", True, 0, "", 0.0)

    report = await verify(FencingConfig(devices=devices), ["db1"], run=run)
    assert report.ok and sorted(started) == ["d0", "d1", "d2", "d3"]


# --- what goes to the agent, and what comes back ------------------------------------------


def lines(data: bytes) -> list[str]:
    return data.decode().splitlines()


def test_agent_input_order_and_target() -> None:
    device = dev("pdu", params={"ip": "10.0.0.9", "username": "apc"},
                 host_map={"db1": "3"})
    data = agent_input(device, "off", "db1", {"password": "s3cret"})
    assert lines(data) == ["ip=10.0.0.9", "username=apc", "password=s3cret", "plug=3",
                           "nodename=db1", "action=off"]
    plain = agent_input(dev("ipmi"), "reboot", "db1", {})
    assert lines(plain) == ["plug=db1", "nodename=db1", "action=reboot"]
    assert lines(agent_input(dev("ipmi"), "monitor", "db1", {})) == ["action=monitor"]


def test_agent_input_keeps_a_configured_port_and_ignores_an_action_param() -> None:
    device = dev("pdu", params={"port": "5", "action": "on"})
    assert lines(agent_input(device, "off", "db1", {})) == ["port=5", "nodename=db1",
                                                            "action=off"]


def test_agent_input_quotes_values_fencing_py_would_change() -> None:
    device = dev("d", params={"a": " padded ", "b": '"quoted"', "c": 'x"y'})
    assert lines(agent_input(device, "monitor", None, {})) == [
        'a=" padded "', 'b=""quoted""', 'c=x"y', "action=monitor"]


def test_agent_input_refuses_line_breaks_without_showing_secrets() -> None:
    with pytest.raises(FenceError, match="'a\\\\nb'"):
        agent_input(dev("d", params={"k": "a\nb"}), "monitor", None, {})
    with pytest.raises(FenceError) as info:
        agent_input(dev("d"), "monitor", None, {"password": "top\nsecret"})
    assert "secret" in str(info.value) and "top" not in str(info.value)
    with pytest.raises(FenceError, match="cannot fence db9"):
        agent_input(dev("d", hosts=("db1",)), "off", "db9", {})


def test_redact_hides_whole_and_cut_off_secrets() -> None:
    out = "WARNING: Ignoring unknown option 'password=hunter22'\nhunter22 again"
    assert redact(out, ["hunter22", ""]) == ("WARNING: Ignoring unknown option "
                                             "'password=***'\n*** again")
    assert redact("[...]\nter22 tail", ["hunter22"]) == "[...]\n*** tail"
    assert redact("r22 tail", ["hunter22"]) == "r22 tail"  # too short to tell


def test_describe_and_last_line() -> None:
    ok = FenceResult("ipmi-db1", "off", "db1", True, 0, "Success: Powered OFF", 1.23,
                     agent="fence_ipmilan")
    assert ok.describe() == "fence_ipmilan (ipmi-db1) off db1: ok in 1.2s"
    failed = FenceResult("pdu", "off", "db1", False, 1,
                         "2026-01-01 10:00:00,123 ERROR: Failed: Unable to connect\n"
                         "ERROR:root:Please use '-h' for usage\n", 0.4, agent="fence_apc")
    assert failed.describe() == ("fence_apc (pdu) off db1: failed, rc 1: ERROR: Failed: "
                                 "Unable to connect")
    status = FenceResult("d", "status", "db1", True, 2, "Status: OFF", 0.05, agent="fence_dummy")
    assert status.power == "off" and status.describe() == "fence_dummy (d) status db1: off in 0.1s"
    assert last_line("") == "" and last_line("x" * 300).endswith("...")
