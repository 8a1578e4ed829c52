"""The node watchdog with real processes: a real watchdog process, resources started by
the built-in `process` agent and by OCF `anything`, plain-pidfile daemons, and an agent
process that is SIGKILLed or frozen.

Every process a test starts (resources, daemons, agents, watchdogs) is killed at
teardown by pid — only if it is still the same process — whether the test passed or not.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from vigil.agents.base import NodeContext, OcfRc
from vigil.agents.ocf import OcfAgent
from vigil.agents.process import ProcessAgent, read_stat
from vigil.fencing.watchdog import Watchdog, WatchdogClient, WatchdogError
from vigil.fencing.watchdog_client import WatchdogPaths, live_watchdog
from vigil.fencing.watchdog_kill import kill_resources
from vigil.fencing.watchdog_policy import Feed, Tick
from vigil.model.config import Operations, Resource

pytestmark = pytest.mark.integration

TIMEOUT = 0.5
SLACK = 0.3
"""Everything must be dead within TIMEOUT + SLACK of the last feed."""
OPS = Operations(start_timeout=20, stop_timeout=20, monitor_interval=10, monitor_timeout=20)
HAVE_ANYTHING = Path("/usr/lib/ocf/resource.d/heartbeat/anything").exists()


# --- helpers ------------------------------------------------------------------------


def alive(pid: int) -> bool:
    stat = read_stat(pid)
    return stat is not None and stat.alive


def gone(pid: int) -> bool:
    """No such process, or only its zombie (it runs nothing)."""
    return not alive(pid)


async def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll until `predicate()`; the time it took. AssertionError after `timeout`."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.005)
    return time.monotonic() - start


async def stays(predicate: Callable[[], bool], duration: float, what: str) -> None:
    """`predicate()` holds throughout `duration` (for things that must NOT happen)."""
    end = time.monotonic() + duration
    while time.monotonic() < end:
        assert predicate(), f"no longer true: {what}"
        await asyncio.sleep(0.02)
    assert predicate(), f"no longer true: {what}"


class Feeder:
    """A feeding agent loop: feeds every `every` seconds a lease `lease` seconds ahead."""

    def __init__(self, client: WatchdogClient, every: float = 0.05, lease: float = 60.0) -> None:
        self.client, self.every, self.lease = client, every, lease
        self.last = 0.0
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            assert self.client.feed(time.monotonic() + self.lease)
            self.last = time.monotonic()
            await asyncio.sleep(self.every)

    async def stop(self) -> float:
        """Stop feeding; when the last feed was sent."""
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        return self.last


class Node:
    """A node state dir, and everything a test starts in it (cleaned up at teardown)."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.ctx = NodeContext("n1", state_dir)
        self.paths = WatchdogPaths(state_dir)
        self.agents: list[ProcessAgent | OcfAgent] = []
        self.clients: list[WatchdogClient] = []
        self.feeders: list[Feeder] = []
        self.pids: dict[int, int] = {}  # pid -> start ticks when tracked
        self.children: list[subprocess.Popen[bytes]] = []
        self.ctx.run_dir.mkdir(parents=True, exist_ok=True)

    def track(self, pid: int) -> int:
        stat = read_stat(pid)
        if stat is not None:
            self.pids[pid] = stat.start_ticks
        return pid

    def client(self, timeout: float = TIMEOUT, device: str = "") -> WatchdogClient:
        client = WatchdogClient(self.state_dir, timeout, device)
        self.clients.append(client)
        return client

    async def watchdog(self, timeout: float = TIMEOUT, device: str = "") -> WatchdogClient:
        client = self.client(timeout, device)
        self.track(await client.ensure_running())
        return client

    def feeder(self, client: WatchdogClient, every: float = 0.05) -> Feeder:
        feeder = Feeder(client, every)
        self.feeders.append(feeder)
        return feeder

    async def process_resource(self, rid: str, command: str) -> ProcessAgent:
        """A resource started by the built-in process agent (pidfile with start time)."""
        agent = ProcessAgent(Resource(rid, "process", {"command": command, "start_wait": "0"},
                                      OPS), self.ctx)
        self.agents.append(agent)
        result = await agent.run("start", 10)
        assert result.rc == OcfRc.SUCCESS, result.output
        return agent

    def resource_pid(self, rid: str) -> int:
        return int((self.ctx.run_dir / f"{rid}.pid").read_text().split()[0])

    async def process_with_child(self, rid: str) -> tuple[int, int]:
        """A process resource whose main process has a child in its process group."""
        child_file = self.state_dir / f"{rid}.child"
        await self.process_resource(rid, f"sleep 1000 & echo $! > {child_file}; exec sleep 1001")
        await wait_for(lambda: child_file.exists() and child_file.read_text().strip() != "",
                       5, "the child's pid")
        main, child = self.resource_pid(rid), int(child_file.read_text())
        self.track(child)
        assert read_stat(child) is not None and read_stat(child).pgrp == main  # type: ignore[union-attr]
        return main, child

    def plain_daemon(self, name: str) -> int:
        """A daemon the way `anything` starts one (`nohup cmd & echo $!` in the action's
        session), its bare pid written to `<run>/<name>.pid`."""
        out = subprocess.run(["/bin/sh", "-c", "sleep 1000 </dev/null >/dev/null 2>&1 & echo $!"],
                             capture_output=True, text=True, check=True, start_new_session=True)
        pid = self.track(int(out.stdout))
        (self.ctx.run_dir / f"{name}.pid").write_text(f"{pid}\n")
        return pid

    def spawn(self, argv: list[str], **kwargs: object) -> subprocess.Popen[bytes]:
        child: subprocess.Popen[bytes] = subprocess.Popen(  # type: ignore[call-overload]
            argv, start_new_session=True, **kwargs)
        self.children.append(child)
        self.track(child.pid)
        return child

    async def clean(self) -> None:
        for feeder in self.feeders:
            await feeder.stop()
        for client in self.clients:
            client.close()
        for child in self.children:  # agents first: no feed may re-arm a watchdog
            with contextlib.suppress(OSError):
                os.kill(child.pid, signal.SIGCONT)
        watchdog = live_watchdog(self.paths)  # one a test failed to track
        if watchdog is not None and watchdog != os.getpid():
            self.track(watchdog)
        for pid, ticks in self.pids.items():
            stat = read_stat(pid)
            if stat is None or stat.start_ticks != ticks:
                continue  # gone, or the number now names someone else's process
            for kill in (os.killpg, os.kill):
                with contextlib.suppress(OSError):
                    kill(pid, signal.SIGKILL)
        for child in self.children:
            child.wait()
        for agent in self.agents:
            with contextlib.suppress(Exception):
                await agent.run("stop", 5.0)


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    n = Node(tmp_path / "n1")
    try:
        yield n
    finally:
        await n.clean()


async def record(client: WatchdogClient) -> dict[str, Any]:
    await wait_for(lambda: client.fired() is not None, 5, "watchdog-fired.json")
    fired = client.fired()
    assert fired is not None
    return fired


# --- firing -------------------------------------------------------------------------


async def test_feeding_keeps_resources_and_silence_kills_them_all(node: Node) -> None:
    main, child = await node.process_with_child("web")
    daemon = node.plain_daemon("anything_db")
    client = await node.watchdog()
    feeder = node.feeder(client)
    everything = [main, child, daemon]

    await stays(lambda: all(alive(p) for p in everything), 3 * TIMEOUT, "resources run")
    last_feed = await feeder.stop()
    await wait_for(lambda: all(gone(p) for p in everything), TIMEOUT + 2, "every resource dead")
    latency = time.monotonic() - last_feed - TIMEOUT
    assert latency <= SLACK, f"killed {latency:.3f}s after the timeout"

    fired = await record(client)
    assert fired["reason"] == "agent silent for 0.5s"
    killed = fired["killed"]
    assert set(killed) == {"web.pid", "anything_db.pid"}
    assert {main, child} <= set(killed["web.pid"])
    assert killed["anything_db.pid"] == [daemon]
    assert fired["survivors"] == []
    late = fired["late"]
    assert isinstance(late, float) and 0 <= late < 0.05
    print(f"\nkilled everything {latency * 1000:.1f} ms after the timeout "
          f"(fired {late * 1000:.2f} ms late, kill took {fired['kill_duration']:.3f}s)")
    assert node.paths.log.read_text().count("firing: agent silent for 0.5s") == 1
    assert live_watchdog(node.paths) is not None  # fired, disarmed, still on guard


async def test_a_deadline_in_the_past_fires_at_once(node: Node) -> None:
    main = (await node.process_with_child("web"))[0]
    client = await node.watchdog(timeout=10.0)
    sent = time.monotonic()
    assert client.feed(sent - 1.0)
    await wait_for(lambda: gone(main), 2, "the resource dead")
    assert time.monotonic() - sent < SLACK
    assert (await record(client))["reason"] == "lease view ended"


async def test_the_lease_view_ending_fires_before_the_silence_timeout(node: Node) -> None:
    daemon = node.plain_daemon("d")
    client = await node.watchdog(timeout=10.0)
    sent = time.monotonic()
    assert client.feed(sent + 0.3)
    await wait_for(lambda: gone(daemon), 3, "the daemon dead")
    assert 0.3 <= time.monotonic() - sent < 0.3 + SLACK
    assert (await record(client))["reason"] == "lease view ended"


async def test_feeding_after_a_fire_arms_again(node: Node) -> None:
    client = await node.watchdog()
    assert client.feed(time.monotonic() - 1)
    assert (await record(client))["fires"] == 1
    daemon = node.plain_daemon("d")  # restarted by the agent after the fire
    assert client.feed(time.monotonic() + 60)
    await wait_for(lambda: gone(daemon), TIMEOUT + 2, "the daemon dead")
    await wait_for(lambda: (client.fired() or {}).get("fires") == 2, 2, "a second record")


async def test_disarm_means_nothing_is_killed(node: Node) -> None:
    main, child = await node.process_with_child("web")
    client = await node.watchdog()
    assert client.feed(time.monotonic() + 60)
    assert client.disarm()
    await stays(lambda: alive(main) and alive(child), TIMEOUT + 0.5, "resources run")
    assert client.fired() is None
    assert live_watchdog(node.paths) is not None
    assert "disarmed" in node.paths.log.read_text()


async def test_a_stale_pidfile_naming_a_foreign_process_is_left_alone(node: Node) -> None:
    foreign = node.spawn(["sleep", "1000"]).pid
    ticks = read_stat(foreign).start_ticks  # type: ignore[union-attr]
    # The process agent's format, but the pid now names a process started at another time.
    (node.ctx.run_dir / "old.pid").write_text(f"{foreign} 1700000000.0 {ticks + 1}\n")
    main = (await node.process_with_child("web"))[0]
    client = await node.watchdog()
    assert client.feed(time.monotonic() - 1)
    await wait_for(lambda: gone(main), 2, "the resource dead")
    fired = await record(client)
    assert alive(foreign)
    assert fired["skipped"] == {"old.pid": f"pid {foreign} now belongs to another process"}
    assert set(fired["killed"]) == {"web.pid"}


def refuse(pid: int, sig: int) -> None:
    raise PermissionError(1, "Operation not permitted")


async def test_what_is_not_ours_to_kill_is_skipped_not_a_survivor(node: Node) -> None:
    daemon = node.plain_daemon("other-user")
    expected = {"other-user.pid": f"not permitted to kill [{daemon}]"}
    kthreadd = read_stat(2)
    if kthreadd is not None and kthreadd.pgrp == 0:  # not in a pid namespace
        (node.ctx.run_dir / "kthread.pid").write_text("2\n")  # ignores SIGKILL
        expected["kthread.pid"] = "pid 2 is a kernel thread"
    report = kill_resources(node.ctx.run_dir, [os.getpid()], kill=refuse, killpg=refuse,
                            wait=0.5)
    assert report.survivors == [] and report.killed == {}
    assert report.skipped == expected
    assert alive(daemon)


@pytest.mark.skipif(not HAVE_ANYTHING, reason="resource-agents is not installed")
async def test_a_daemon_of_ocf_anything_is_killed(node: Node) -> None:
    agent = OcfAgent(Resource("sleeper", "ocf:heartbeat:anything",
                              {"binfile": "/bin/sleep", "cmdline_options": "1000"}, OPS),
                     node.ctx)
    node.agents.append(agent)
    result = await agent.run("start", 20)
    assert result.rc == OcfRc.SUCCESS, result.output
    pid = node.track(int((node.ctx.run_dir / "anything_sleeper.pid").read_text()))
    client = await node.watchdog()
    assert client.feed(time.monotonic() - 1)
    await wait_for(lambda: gone(pid), 2, "anything's sleep dead")
    assert (await record(client))["killed"] == {"anything_sleeper.pid": [pid]}


# --- the agent dies or freezes ------------------------------------------------------

AGENT = """
import asyncio, sys, time
from pathlib import Path
from vigil.fencing.watchdog import WatchdogClient

async def main() -> None:
    client = WatchdogClient(Path(sys.argv[1]), float(sys.argv[2]))
    await client.ensure_running()
    client.feed(time.monotonic() + 60)
    print("fed", flush=True)
    while True:
        await asyncio.sleep(0.05)
        client.feed(time.monotonic() + 60)

asyncio.run(main())
"""


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGSTOP])
async def test_an_agent_that_dies_or_freezes_gets_its_resources_killed(
        node: Node, how: signal.Signals) -> None:
    main, child = await node.process_with_child("web")
    daemon = node.plain_daemon("d")
    agent = node.spawn([sys.executable, "-c", AGENT, str(node.state_dir), str(TIMEOUT)],
                       stdout=subprocess.PIPE)
    assert agent.stdout is not None
    line = await asyncio.wait_for(asyncio.to_thread(agent.stdout.readline), 15)
    assert line == b"fed\n"
    watchdog = live_watchdog(node.paths)
    assert watchdog is not None
    node.track(watchdog)
    # The agent's own pid in a plain pidfile: the watchdog never kills the agent.
    (node.ctx.run_dir / "agent.pid").write_text(f"{agent.pid}\n")

    os.kill(agent.pid, how)
    stopped = time.monotonic()
    await wait_for(lambda: all(gone(p) for p in (main, child, daemon)), TIMEOUT + 2,
                   "every resource dead")
    assert time.monotonic() - stopped <= TIMEOUT + SLACK
    fired = await record(WatchdogClient(node.state_dir, TIMEOUT))
    assert fired["reason"] == "agent silent for 0.5s"
    assert "agent.pid" not in fired["killed"]
    if how == signal.SIGSTOP:
        assert alive(agent.pid)  # frozen, not killed
        assert "is the watchdog or the agent" in fired["skipped"]["agent.pid"]
    assert live_watchdog(node.paths) == watchdog  # it outlives the agent


# --- one watchdog per node ----------------------------------------------------------


async def test_a_restarted_agent_reuses_the_watchdog_and_keeps_its_resources(
        node: Node) -> None:
    main, child = await node.process_with_child("web")
    first = await node.watchdog()
    old = node.feeder(first)
    await asyncio.sleep(0.1)
    await old.stop()  # the old agent dies ...
    first.close()
    second = node.client()  # ... and its successor comes up within the timeout
    assert await second.ensure_running() == live_watchdog(node.paths)
    assert second._child is None  # reused, none started
    node.feeder(second)
    await stays(lambda: alive(main) and alive(child), 3 * TIMEOUT, "resources run")
    assert second.fired() is None


async def test_concurrent_starts_end_with_one_watchdog(node: Node) -> None:
    a, b = node.client(), node.client()
    pids = await asyncio.gather(a.ensure_running(), b.ensure_running())
    assert pids[0] == pids[1]
    node.track(pids[0])
    losers = [c._child for c in (a, b) if c._child is not None and c._child.pid != pids[0]]
    for loser in losers:
        def exited(p: subprocess.Popen[bytes] = loser) -> bool:
            return p.poll() is not None
        await wait_for(exited, 5, "the second watchdog's exit")
        assert loser.returncode == 0


async def test_a_killed_watchdog_is_replaced(node: Node) -> None:
    client = await node.watchdog()
    old = live_watchdog(node.paths)
    assert old is not None
    os.kill(old, signal.SIGKILL)
    await wait_for(lambda: live_watchdog(node.paths) is None, 5, "the watchdog gone")
    assert not client.feed(time.monotonic() + 60)  # logged, not raised
    new = node.track(await client.ensure_running())
    assert new != old
    daemon = node.plain_daemon("d")
    assert client.feed(time.monotonic() - 1)
    await wait_for(lambda: gone(daemon), 2, "the daemon dead")


async def test_a_long_state_dir_path_works(tmp_path: Path) -> None:
    n = Node(tmp_path / ("x" * 60) / ("y" * 60) / "n1")
    assert len(str(n.paths.socket)) > 108
    try:
        daemon = n.plain_daemon("d")
        client = await n.watchdog()
        assert client.feed(time.monotonic() - 1)
        await wait_for(lambda: gone(daemon), 2, "the daemon dead")
    finally:
        await n.clean()


# --- signals, exit --------------------------------------------------------------------


async def test_sigint_and_sighup_are_ignored_and_sigterm_fires_first(node: Node) -> None:
    main, child = await node.process_with_child("web")
    client = await node.watchdog()
    watchdog = live_watchdog(node.paths)
    assert watchdog is not None
    node.feeder(client)
    os.kill(watchdog, signal.SIGINT)
    os.kill(watchdog, signal.SIGHUP)
    await stays(lambda: alive(watchdog) and alive(main), 0.3, "watchdog and resources run")

    os.kill(watchdog, signal.SIGTERM)
    await wait_for(lambda: gone(main) and gone(child), 2, "resources dead")
    await wait_for(lambda: live_watchdog(node.paths) is None, 5, "the watchdog gone")
    assert (await record(client))["reason"] == "SIGTERM while armed"
    assert not node.paths.socket.exists()


async def test_stop_when_disarmed_kills_nothing(node: Node) -> None:
    main = (await node.process_with_child("web"))[0]
    client = await node.watchdog()
    assert client.feed(time.monotonic() + 60)
    assert client.disarm()
    assert await client.stop()
    assert live_watchdog(node.paths) is None and not node.paths.socket.exists()
    assert alive(main) and client.fired() is None


async def test_stop_while_armed_fires_first(node: Node) -> None:
    main = (await node.process_with_child("web"))[0]
    client = await node.watchdog()
    assert client.feed(time.monotonic() + 60)
    assert await client.stop()
    assert gone(main)
    assert (await record(client))["reason"] == "told to exit while armed"


# --- the kernel device (a regular file or FIFO stands in for /dev/watchdog) -----------


def pings(device: Path) -> bytes:
    return device.read_bytes()


async def test_device_is_pinged_while_resources_may_run_and_closed_with_magic(
        node: Node) -> None:
    device = node.state_dir / "fake-watchdog"
    device.write_bytes(b"")
    client = await node.watchdog(device=str(device))
    await wait_for(lambda: len(pings(device)) >= 2, 3, "pings while disarmed")
    feeder = node.feeder(client)
    armed_at = len(pings(device))
    await wait_for(lambda: len(pings(device)) >= armed_at + 2, 3, "pings while armed")
    await feeder.stop()
    assert client.disarm()
    assert await client.stop()
    data = pings(device)
    assert data.endswith(b"V") and set(data[:-1]) == {0}
    assert "cannot set its timeout to 1s" in node.paths.log.read_text()  # not a real device


async def test_a_device_that_cannot_be_opened_fails_the_start(node: Node) -> None:
    client = node.client(device=str(node.state_dir / "no-such-watchdog"))
    with pytest.raises(WatchdogError, match="no-such-watchdog"):
        await client.ensure_running()
    assert live_watchdog(node.paths) is None


def noop_kill(pid: int, sig: int) -> None:
    """A SIGKILL that has no effect, like one sent to a process in D state."""


async def test_a_failed_kill_stops_the_pings_for_good(node: Node) -> None:
    daemon = node.plain_daemon("stuck")
    device = node.state_dir / "fake-watchdog"
    device.write_bytes(b"")
    watchdog = Watchdog(node.state_dir, TIMEOUT, str(device), kill=noop_kill,
                        killpg=noop_kill, kill_wait=0.2)
    try:
        assert watchdog.start()
        watchdog.handle(Tick())
        assert pings(device) == b"\0"
        watchdog.handle(Feed(time.monotonic() - 1))  # fires at once; the kill "fails"
        assert watchdog.state.doomed and not watchdog.state.may_ping(time.monotonic())
        fired = WatchdogClient(node.state_dir, TIMEOUT).fired()
        assert fired is not None
        assert fired["survivors"] == [daemon] and fired["device"] == "stopped pinging"
        end = time.monotonic() + 2 * watchdog.device.ping_interval  # type: ignore[union-attr]
        while time.monotonic() < end:
            watchdog.handle(Tick())
            await asyncio.sleep(0.02)
        assert pings(device) == b"\0"
        assert alive(daemon)
    finally:
        watchdog.close()
    assert pings(device) == b"\0"  # closed without the magic 'V': the machine reboots


async def test_fifo_device_gets_pings_and_magic(node: Node) -> None:
    fifo = node.state_dir / "fifo-watchdog"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    watchdog = Watchdog(node.state_dir, TIMEOUT, str(fifo))
    try:
        assert watchdog.start()
        watchdog.handle(Tick())
        assert os.read(reader, 64) == b"\0"
        watchdog.handle(Feed(time.monotonic() + 60))
        watchdog.handle(Tick())  # armed, not due: no ping until the interval passed
        with pytest.raises(BlockingIOError):
            os.read(reader, 64)
    finally:
        watchdog.close()
        data = os.read(reader, 64)
        os.close(reader)
    assert data == b"V"
