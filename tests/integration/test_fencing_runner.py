"""The fence-device runner against real fence agents and real processes.

- Debian's `/usr/sbin/fence_dummy` (fence-agents' `fencing.py`): its `status_file` holds
  the power state of a pretend machine.
- vigil's lab agent (`vigil.lab.fence_lab`, through an installed wrapper program) against
  processes this test starts, tagged with a fresh `VIGIL_LAB_NODE` value.

Every process a test starts is killed at teardown (by pid, found through its unique tag),
and pytest removes every temporary directory, whether the test passed or not.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from vigil.agents.base import OcfRc
from vigil.fencing.runner import (
    FenceAgentNotFound,
    FenceSecretError,
    fence_node,
    read_secret,
    resolve_agent,
    run_fence_agent,
    verify,
)
from vigil.lab.fence_lab import install_wrapper
from vigil.lab.local import TAG_VAR, node_pids
from vigil.model.config import FenceDevice, FencingConfig

pytestmark = pytest.mark.integration

FENCE_DUMMY = Path("/usr/sbin/fence_dummy")
needs_fence_agents = pytest.mark.skipif(not FENCE_DUMMY.exists(),
                                        reason="fence-agents is not installed")
SECRET = "pa55-" + uuid.uuid4().hex
T = TypeVar("T")


def wait_for(what: str, predicate: Callable[[], T], timeout: float = 10.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.02)


# --- fixtures -------------------------------------------------------------------------


@pytest.fixture
def fence_lab(tmp_path: Path) -> Path:
    return install_wrapper(tmp_path / "bin" / "fence_lab")


class LabNode:
    """Processes tagged as one lab node; all killed at teardown."""

    def __init__(self) -> None:
        self.tag = f"test-{uuid.uuid4().hex[:12]}/n1"
        self.procs: list[subprocess.Popen[bytes]] = []

    def spawn(self, *argv: str) -> subprocess.Popen[bytes]:
        env = {**os.environ, TAG_VAR: self.tag}
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, start_new_session=True)
        self.procs.append(proc)
        return proc

    def pids(self) -> list[int]:
        return node_pids(self.tag)

    def cleanup(self) -> None:
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(5)


@pytest.fixture
def lab_node() -> Iterator[LabNode]:
    node = LabNode()
    try:
        yield node
    finally:
        node.cleanup()


def start_three(node: LabNode) -> None:
    """A sleeper, a shell, and a Python parent whose child has its own process group."""
    node.spawn("sleep", "300")
    node.spawn("sh", "-c", "sleep 300; true")
    node.spawn(sys.executable, "-c",
               "import subprocess, time\n"
               "subprocess.Popen(['sleep', '300'], start_new_session=True)\n"
               "time.sleep(300)\n")
    wait_for("4 tagged processes", lambda: len(node.pids()) >= 5)  # + the shell's sleep


def dummy(tmp_path: Path, did: str = "dummy", hosts: tuple[str, ...] = ()) -> FenceDevice:
    params = {"status_file": str(tmp_path / f"{did}.status")}
    return FenceDevice(id=did, agent=str(FENCE_DUMMY), params=params, hosts=hosts, timeout=10)


def lab(agent: Path, did: str, node: LabNode | None = None, timeout: float = 10,
        **params: str) -> FenceDevice:
    if node is not None:
        params["tag"] = node.tag
    return FenceDevice(id=did, agent=str(agent), params=params, timeout=timeout)


# --- fence_dummy ----------------------------------------------------------------------


@needs_fence_agents
async def test_fence_dummy_power_cycle(tmp_path: Path) -> None:
    device = dummy(tmp_path)
    state = tmp_path / "dummy.status"

    status = await run_fence_agent(device, "status", "db1")
    assert status.ok and status.rc == 2 and status.power == "off"  # no file: off
    assert not state.exists()
    on = await run_fence_agent(device, "on", "db1")
    assert on.ok and "Powered ON" in on.output and state.read_text() == "on"
    assert (await run_fence_agent(device, "status", "db1")).power == "on"
    off = await run_fence_agent(device, "off", "db1")
    assert off.ok and state.read_text() == "off"
    again = await run_fence_agent(device, "off", "db1")
    assert again.ok and "Already OFF" in again.output
    reboot = await run_fence_agent(device, "reboot", "db1")
    assert reboot.ok and "Rebooted" in reboot.output and state.read_text() == "on"
    assert reboot.describe().startswith("fence_dummy (dummy) reboot db1: ok in ")
    # fence_dummy has no plug, so fencing.py warns about (and ignores) the target.
    assert "Ignoring unknown option 'plug=db1'" in reboot.output


@needs_fence_agents
async def test_fence_dummy_monitor_list_metadata(tmp_path: Path) -> None:
    device = dummy(tmp_path)
    monitor = await run_fence_agent(device, "monitor")
    assert monitor.ok and monitor.rc == 0 and monitor.node == ""
    # A device without plugs has no list action in fencing.py: rc 1, not "N/A".
    listed = await run_fence_agent(device, "list")
    assert not listed.ok and listed.rc == 1
    assert "Unrecognised action 'list'" in listed.describe()
    meta = await run_fence_agent(device, "metadata")
    # fence_dummy's metadata is ~5 KB; vigil keeps the last 4 KiB of any output.
    assert meta.ok and meta.output.startswith("[...]\n")
    assert meta.output.rstrip().endswith("</resource-agent>")
    assert '<action name="monitor" />' in meta.output


@needs_fence_agents
async def test_fence_dummy_unreadable_state_fails_status_and_monitor(tmp_path: Path) -> None:
    (tmp_path / "dummy.status").write_text("smoke")
    device = dummy(tmp_path)
    for action in ("status", "monitor", "off"):
        result = await run_fence_agent(device, action, "db1")
        assert not result.ok and result.rc == 1, result
        assert "Unable to obtain correct plug status" in result.describe()


# --- the lab agent --------------------------------------------------------------------


async def test_lab_off_kills_every_process_of_the_node(
        fence_lab: Path, lab_node: LabNode, tmp_path: Path) -> None:
    start_three(lab_node)
    state_dir = tmp_path / "n1"
    (state_dir / "rsctmp").mkdir(parents=True)
    record = tmp_path / "calls.log"
    device = lab(fence_lab, "lab-n1", lab_node, state_dir=str(state_dir), record=str(record))

    before = await run_fence_agent(device, "status", "n1")
    assert before.ok and before.power == "on"
    off = await run_fence_agent(device, "off", "n1")
    assert off.ok, off.describe()
    assert lab_node.pids() == []
    assert "5 processes killed" in off.output
    assert not (state_dir / "rsctmp").exists() and state_dir.exists()
    after = await run_fence_agent(device, "status", "n1")
    assert after.ok and after.rc == 2 and after.power == "off"
    calls = [line.split()[1:] for line in record.read_text().splitlines()]
    assert calls == [["status", lab_node.tag], ["off", lab_node.tag], ["status", lab_node.tag]]


async def test_lab_agent_uses_the_plug_from_the_host_map(
        fence_lab: Path, lab_node: LabNode) -> None:
    lab_node.spawn("sleep", "300")
    wait_for("the tagged sleeper", lab_node.pids)
    device = FenceDevice(id="lab", agent=str(fence_lab), host_map={"n1": lab_node.tag})
    outcome = await fence_node(FencingConfig(devices=(device,)), "n1", "reboot")
    assert outcome.ok and outcome.level == 1, outcome.reason
    assert outcome.reason == "n1 fenced (reboot) by level 1: lab"
    assert lab_node.pids() == []
    on = await run_fence_agent(device, "on", "n1")
    assert on.ok and (await run_fence_agent(device, "monitor")).ok
    listed = await run_fence_agent(device, "list")
    assert listed.ok and listed.output == ""
    meta = await run_fence_agent(device, "metadata")
    assert ET.fromstring(meta.output).get("name") == "fence_lab"


async def test_lab_fail_knob_leaves_the_node_running(fence_lab: Path, lab_node: LabNode) -> None:
    lab_node.spawn("sleep", "300")
    pids = wait_for("the tagged sleeper", lab_node.pids)
    result = await run_fence_agent(lab(fence_lab, "lab", lab_node, fail="1"), "off", "n1")
    assert not result.ok and result.rc == 1
    assert result.describe() == (f"fence_lab (lab) off n1: failed, rc 1: Failed: off of "
                                 f"{lab_node.tag} failed because fail=1 was given")
    assert lab_node.pids() == pids


async def test_timeout_kills_the_agent(fence_lab: Path, lab_node: LabNode,
                                       tmp_path: Path) -> None:
    record = tmp_path / "calls.log"
    device = lab(fence_lab, "slow", lab_node, timeout=0.5, delay="30", record=str(record))
    start = time.monotonic()
    result = await run_fence_agent(device, "off", "n1")
    assert time.monotonic() - start < 5
    assert result.timed_out and not result.ok and result.rc == OcfRc.TIMEOUT
    assert result.describe() == "fence_lab (slow) off n1: timed out after 0.5s"
    assert "process group" in result.output
    assert record.read_text().split()[1] == "off"  # it did start
    assert not [p for p in _pids_running(str(fence_lab))], "the agent outlived its timeout"


def _pids_running(program: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                if program.encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                    found.append(int(entry))
    return found


async def test_topology_escalates_from_a_failing_to_a_working_lab_device(
        fence_lab: Path, lab_node: LabNode) -> None:
    start_three(lab_node)
    config = FencingConfig(
        devices=(lab(fence_lab, "broken", lab_node, fail="1"), lab(fence_lab, "good", lab_node)),
        levels={"n1": (("broken",), ("good",))}, action="off")
    outcome = await fence_node(config, "n1")
    assert outcome.ok and outcome.level == 2
    assert outcome.reason == (f"n1 fenced (off) by level 2: good after level 1 (broken): "
                              f"rc 1: Failed: off of {lab_node.tag} failed because fail=1 "
                              "was given")
    assert lab_node.pids() == []


# --- secrets ----------------------------------------------------------------------------


def secret_file(tmp_path: Path, mode: int, text: str = SECRET + "\n") -> Path:
    path = tmp_path / "ipmi.pw"
    path.write_text(text)
    path.chmod(mode)
    return path


@needs_fence_agents
async def test_secret_goes_to_the_agent_but_never_into_output(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    path = secret_file(tmp_path, 0o600)
    device = FenceDevice(id="dummy", agent="fence_dummy",
                         params={"status_file": str(tmp_path / "st")},
                         secret_files={"password": str(path)})
    result = await run_fence_agent(device, "off", "db1")
    assert result.ok
    # fence_dummy takes no password, so fencing.py echoes the line back: redacted.
    assert "Ignoring unknown option 'password=***'" in result.output
    outcome = await fence_node(FencingConfig(devices=(device,), retries=0), "db1", "off")
    report = await verify(FencingConfig(devices=(device,)), ["db1"])
    texts = [result.output, result.describe(), outcome.reason, *report.lines(),
             str(report.to_dict()), caplog.text, *(r.output for r in outcome.results)]
    assert not [t for t in texts if SECRET in t]


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660])
async def test_secret_file_open_to_others_is_refused(
        tmp_path: Path, fence_lab: Path, mode: int) -> None:
    path = secret_file(tmp_path, mode)
    device = FenceDevice(id="ipmi", agent=str(fence_lab), secret_files={"password": str(path)})
    result = await run_fence_agent(device, "off", "n1")
    assert not result.ok and result.rc == OcfRc.EXEC_ERROR
    assert str(path) in result.describe() and f"chmod 600 {path}" in result.describe()
    assert f"mode 0{mode:o}" in result.output
    with pytest.raises(FenceSecretError) as info:
        read_secret("ipmi", "password", str(path))
    assert SECRET not in str(info.value) + result.output + result.describe()


async def test_secret_file_problems_name_the_file_never_the_value(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pw"
    with pytest.raises(FenceSecretError, match=f"{missing}.*No such file"):
        read_secret("ipmi", "password", str(missing))
    two_lines = secret_file(tmp_path, 0o600, f"{SECRET}\n{SECRET}\n")
    with pytest.raises(FenceSecretError, match="more than one line") as info:
        read_secret("ipmi", "password", str(two_lines))
    assert SECRET not in str(info.value)
    ok = secret_file(tmp_path, 0o400, SECRET + "\r\n")
    assert read_secret("ipmi", "password", str(ok)) == SECRET


# --- agents that are not there, verify --------------------------------------------------


async def test_missing_agent_program_says_where_it_looked() -> None:
    with pytest.raises(FenceAgentNotFound) as info:
        resolve_agent("fence_no_such_agent")
    text = str(info.value)
    for where in ("/usr/sbin", "/usr/local/sbin", "/sbin", "apt-get install fence-agents"):
        assert where in text
    device = FenceDevice(id="ghost", agent="fence_no_such_agent")
    result = await run_fence_agent(device, "off", "db1")
    assert not result.ok and result.rc == OcfRc.EXEC_ERROR
    assert result.describe().startswith("fence_no_such_agent (ghost) off db1: fence agent "
                                        "fence_no_such_agent not found in /usr/sbin, ")
    absent = await run_fence_agent(FenceDevice(id="x", agent="/opt/none/fence_x"), "monitor")
    assert "/opt/none/fence_x does not exist or is not an executable file" in absent.output
    if FENCE_DUMMY.exists():
        assert resolve_agent("fence_dummy") == FENCE_DUMMY


@needs_fence_agents
async def test_verify_reports_a_failing_device_and_an_unfenceable_node(
        tmp_path: Path, fence_lab: Path) -> None:
    (tmp_path / "broken.status").write_text("smoke")
    config = FencingConfig(devices=(
        dummy(tmp_path, "good", hosts=("db1",)),
        FenceDevice(id="broken", agent=str(FENCE_DUMMY), hosts=("db2",),
                    params={"status_file": str(tmp_path / "broken.status")}),
        FenceDevice(id="lab", agent=str(fence_lab), hosts=("db1", "db2")),
        FenceDevice(id="gone", agent="fence_no_such_agent", hosts=("db3",)),
    ), levels={"db1": (("good",),), "db2": (("broken", "lab"),), "db3": (("gone",),)})
    report = await verify(config, ["db1", "db2", "db3", "db4"])
    assert report.failed_devices == ("broken", "gone")
    assert report.unfenceable == ("db2", "db3", "db4")
    devices = {d.device: d.reason for d in report.devices}
    assert devices["good"].startswith("fence_dummy (good) monitor: ok in ")
    assert "Unable to obtain correct plug status" in devices["broken"]
    nodes = {n.node: n.reason for n in report.nodes}
    assert nodes["db2"] == ("db2 cannot be fenced: level 1 (broken, lab): broken failed its "
                            "monitor")
    assert nodes["db4"] == "db4 cannot be fenced: no fence device can fence db4"
