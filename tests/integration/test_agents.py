"""Resource-agent runners against real agents and real processes.

OCF: Debian's resource-agents scripts (Dummy, anything), run unmodified; small agent
scripts written to a temporary OCF root for timeouts and the environment. process: the
built-in agent with real shells, sleeps and a Python HTTP server.

Every process a test starts is killed at teardown (by pid, only if it is still the same
process), and every temporary directory is removed, whether the test passed or not.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from vigil.agents.base import NodeContext, OcfRc, OpResult, ResourceAgent
from vigil.agents.ocf import OCF_ROOT_ENV, OcfAgent
from vigil.agents.process import PidRecord, ProcessAgent, read_stat
from vigil.model.config import Operations, Resource

pytestmark = pytest.mark.integration

OCF_HEARTBEAT = Path("/usr/lib/ocf/resource.d/heartbeat")
needs_resource_agents = pytest.mark.skipif(
    not (OCF_HEARTBEAT / "Dummy").exists(), reason="resource-agents is not installed"
)
OPS = Operations(start_timeout=20, stop_timeout=20, monitor_interval=10, monitor_timeout=20)


# --- helpers ------------------------------------------------------------------------


def resource(rid: str, agent: str, **params: str) -> Resource:
    return Resource(id=rid, agent=agent, params=params, ops=OPS)


def gone(pid: int) -> bool:
    """No such process, or only its zombie (a zombie runs nothing; here PID 1 reaps
    orphans only now and then, so killed grandchildren linger as zombies)."""
    stat = read_stat(pid)
    return stat is None or not stat.alive


def alive(pid: int) -> bool:
    return not gone(pid)


async def wait_for(
    predicate: Callable[[], bool | Awaitable[bool]], timeout: float = 10.0, what: str = ""
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if not isinstance(value, bool):
            value = await value
        if value:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        await asyncio.sleep(0.02)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


class Janitor:
    """Stops agents and kills tracked processes at teardown."""

    def __init__(self) -> None:
        self.agents: list[ResourceAgent] = []
        self.pids: dict[int, int] = {}  # pid -> start ticks when tracked

    def agent(self, agent: ResourceAgent) -> ResourceAgent:
        self.agents.append(agent)
        return agent

    def track(self, pid: int) -> int:
        stat = read_stat(pid)
        if stat is not None:
            self.pids[pid] = stat.start_ticks
        return pid

    async def clean(self) -> None:
        for agent in self.agents:
            with contextlib.suppress(Exception):
                await agent.run("stop", 5.0)
        for pid, ticks in self.pids.items():
            stat = read_stat(pid)
            if stat is None or stat.start_ticks != ticks:
                continue  # gone, or the number now names someone else's process
            for kill in (os.killpg, os.kill):
                with contextlib.suppress(OSError):
                    kill(pid, signal.SIGKILL)


@pytest.fixture
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="vigil-agents-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def ctx(workdir: Path) -> NodeContext:
    return NodeContext("n1", workdir / "n1")


@pytest.fixture
async def janitor() -> AsyncIterator[Janitor]:
    j = Janitor()
    try:
        yield j
    finally:
        await j.clean()


def write_agent(root: Path, provider: str, kind: str, body: str) -> Path:
    path = root / "resource.d" / provider / kind
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + textwrap.dedent(body))
    path.chmod(0o755)
    return path


# --- OCF: Dummy -------------------------------------------------------------------


@needs_resource_agents
async def test_dummy_follows_ocf_tester_semantics(ctx: NodeContext) -> None:
    agent = OcfAgent(resource("d1", "ocf:heartbeat:Dummy"), ctx)

    probe = await agent.run("monitor", 20, 0)
    assert probe.rc == OcfRc.NOT_RUNNING
    assert probe.output == ""  # Dummy gives no exit reason for a probe

    for _ in range(2):  # starting a started resource succeeds
        assert (await agent.run("start", 20)).rc == OcfRc.SUCCESS
    assert (ctx.state_dir / "rsctmp" / "Dummy-d1.state").exists()
    assert (await agent.run("monitor", 20, 10)).rc == OcfRc.SUCCESS

    for _ in range(2):  # stopping a stopped resource succeeds
        assert (await agent.run("stop", 20)).rc == OcfRc.SUCCESS
    after = await agent.run("monitor", 20, 10)
    assert after.rc == OcfRc.NOT_RUNNING
    assert "No process state file found" in after.output
    assert after.describe("d1") == (
        "monitor of d1 returned 7 (not_running): ocf-exit-reason:No process state file found"
    )
    # ocf_log went to the node's agent log, not to syslog or the executor's stderr.
    assert "Dummy(d1)" in (ctx.state_dir / "agents.log").read_text()


@needs_resource_agents
async def test_dummy_state_is_per_node(workdir: Path) -> None:
    n1 = OcfAgent(resource("d1", "ocf:heartbeat:Dummy"), NodeContext("n1", workdir / "n1"))
    n2 = OcfAgent(resource("d1", "ocf:heartbeat:Dummy"), NodeContext("n2", workdir / "n2"))
    assert (await n1.run("start", 20)).rc == OcfRc.SUCCESS
    assert (await n2.run("probe", 20)).rc == OcfRc.NOT_RUNNING
    assert (await n1.run("monitor", 20, 10)).rc == OcfRc.SUCCESS
    assert (await n2.run("start", 20)).rc == OcfRc.SUCCESS
    assert (await n1.run("stop", 20)).rc == OcfRc.SUCCESS
    assert (await n2.run("monitor", 20, 10)).rc == OcfRc.SUCCESS
    assert (await n1.run("monitor", 20, 10)).rc == OcfRc.NOT_RUNNING


@needs_resource_agents
async def test_meta_data_and_validate(ctx: NodeContext) -> None:
    agent = OcfAgent(resource("d1", "ocf:heartbeat:Dummy"), ctx)
    meta = await agent.run("meta-data", 5)
    assert meta.rc == OcfRc.SUCCESS
    assert '<resource-agent name="Dummy"' in meta.output
    assert (await agent.run("validate-all", 5)).rc == OcfRc.SUCCESS


# --- OCF: environment, missing agents, timeouts ---------------------------------------


async def test_agent_environment(
    workdir: Path, ctx: NodeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = workdir / "ocf"
    dump = workdir / "env.txt"
    write_agent(root, "vigiltest", "envdump", f"env > {dump}\nexit 0\n")
    monkeypatch.setenv(OCF_ROOT_ENV, str(root))
    monkeypatch.setenv("VIRTUAL_ENV", "/somewhere/venv")
    agent = OcfAgent(resource("r1", "ocf:vigiltest:envdump", ip="10.0.0.1", nic="eth0"), ctx)

    result = await agent.run("monitor", 7.5, 30)
    assert result.rc == OcfRc.SUCCESS
    env = dict(line.split("=", 1) for line in dump.read_text().splitlines() if "=" in line)
    expected = {
        "OCF_ROOT": str(root),
        "OCF_RA_VERSION_MAJOR": "1",
        "OCF_RA_VERSION_MINOR": "1",
        "OCF_RESOURCE_INSTANCE": "r1",
        "OCF_RESOURCE_TYPE": "envdump",
        "OCF_RESOURCE_PROVIDER": "vigiltest",
        "OCF_RESKEY_ip": "10.0.0.1",
        "OCF_RESKEY_nic": "eth0",
        "OCF_RESKEY_CRM_meta_name": "monitor",
        "OCF_RESKEY_CRM_meta_timeout": "7500",
        "OCF_RESKEY_CRM_meta_interval": "30000",
        "OCF_RESKEY_CRM_meta_on_node": "n1",
        "HA_RSCTMP": str(ctx.state_dir / "rsctmp"),
        "HA_VARRUN": str(ctx.run_dir),
        "HA_LOGFILE": str(ctx.state_dir / "agents.log"),
    }
    assert {k: env.get(k) for k in expected} == expected
    assert env["PATH"].split(":")[-1] == "/bin"
    assert "VIRTUAL_ENV" not in env
    assert (ctx.state_dir / "rsctmp").is_dir()

    await agent.run("probe", 5)
    env = dict(line.split("=", 1) for line in dump.read_text().splitlines() if "=" in line)
    assert env["OCF_RESKEY_CRM_meta_interval"] == "0"
    await agent.run("start", 5, 30)
    env = dict(line.split("=", 1) for line in dump.read_text().splitlines() if "=" in line)
    assert (env["OCF_RESKEY_CRM_meta_name"], env["OCF_RESKEY_CRM_meta_interval"]) == (
        "start",
        "0",
    )


async def test_missing_agent_is_not_installed(
    workdir: Path, ctx: NodeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = await OcfAgent(resource("r", "ocf:heartbeat:NoSuchAgent"), ctx).run("start", 5)
    assert result.rc == 5 and OcfRc(result.rc) is OcfRc.ERR_INSTALLED
    assert "/resource.d/heartbeat/NoSuchAgent" in result.output
    assert "apt-get install resource-agents" in result.output

    monkeypatch.setenv(OCF_ROOT_ENV, str(workdir / "empty"))
    result = await OcfAgent(resource("r", "ocf:acme:Thing"), ctx).run("monitor", 5)
    assert result.rc == OcfRc.ERR_INSTALLED
    assert str(workdir / "empty" / "resource.d" / "acme" / "Thing") in result.output


async def test_agent_that_is_not_executable(workdir: Path, ctx: NodeContext) -> None:
    script = write_agent(workdir / "ocf", "vigiltest", "noexec", "exit 0\n")
    script.chmod(0o644)
    agent = OcfAgent(resource("r", "ocf:vigiltest:noexec"), ctx, root=workdir / "ocf")
    result = await agent.run("start", 5)  # even root cannot execute a file with no x bit
    assert result.rc == OcfRc.EXEC_ERROR
    assert "Permission denied" in result.output and str(script) in result.output


@pytest.mark.parametrize("ignore_term", [False, True], ids=["term", "ignores-term"])
async def test_timeout_kills_the_whole_process_group(
    workdir: Path,
    ctx: NodeContext,
    janitor: Janitor,
    monkeypatch: pytest.MonkeyPatch,
    ignore_term: bool,
) -> None:
    pids = workdir / "pids"
    trap = "trap '' TERM\n" if ignore_term else ""
    write_agent(
        workdir / "ocf",
        "vigiltest",
        "hang",
        f"""\
        {trap}sleep 1000 &
        echo $! > {pids}
        echo $$ >> {pids}
        echo "hanging in $1"
        while :; do sleep 0.1; done
        """,
    )
    monkeypatch.setenv(OCF_ROOT_ENV, str(workdir / "ocf"))
    agent = OcfAgent(resource("r", "ocf:vigiltest:hang"), ctx)

    task = asyncio.create_task(agent.run("start", 1.0))
    await wait_for(lambda: pids.exists() and len(pids.read_text().split()) == 2, what="pids")
    child, script = (janitor.track(int(p)) for p in pids.read_text().split())
    result = await task

    assert result.timed_out and result.rc == OcfRc.TIMEOUT
    assert 1.0 <= result.duration < 1.0 + 0.1 + 1.5
    assert "hanging in start" in result.output
    assert ("SIGKILL" if ignore_term else "SIGTERM") in result.output
    assert result.describe("r").startswith("start of r timed out after 1.")
    await wait_for(lambda: gone(child) and gone(script), timeout=5, what="group gone")


async def test_cancelled_action_leaves_no_process(
    workdir: Path, ctx: NodeContext, janitor: Janitor
) -> None:
    pids = workdir / "pids"
    write_agent(workdir / "ocf", "vigiltest", "slow", f"sleep 1000 &\necho $! $$ > {pids}\nwait\n")
    agent = OcfAgent(resource("r", "ocf:vigiltest:slow"), ctx, root=workdir / "ocf")
    task = asyncio.create_task(agent.run("monitor", 60, 10))
    await wait_for(lambda: pids.exists() and len(pids.read_text().split()) == 2, what="pids")
    tracked = [janitor.track(int(p)) for p in pids.read_text().split()]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await wait_for(lambda: all(gone(p) for p in tracked), timeout=5, what="group gone")


# --- OCF: anything --------------------------------------------------------------------


@needs_resource_agents
async def test_anything_runs_a_sleep(ctx: NodeContext, janitor: Janitor) -> None:
    agent = janitor.agent(
        OcfAgent(
            resource(
                "sleeper", "ocf:heartbeat:anything", binfile="/bin/sleep", cmdline_options="1000"
            ),
            ctx,
        )
    )
    assert (await agent.run("probe", 20)).rc == OcfRc.NOT_RUNNING
    start = await agent.run("start", 20)
    assert start.rc == OcfRc.SUCCESS, start.output
    # No pidfile parameter: the default lives in this node's HA_VARRUN, not /var/run.
    pidfile = ctx.run_dir / "anything_sleeper.pid"
    pid = janitor.track(int(pidfile.read_text().strip()))
    assert alive(pid)
    assert (await agent.run("start", 20)).rc == OcfRc.SUCCESS
    assert (await agent.run("monitor", 20, 10)).rc == OcfRc.SUCCESS

    stop = await agent.run("stop", 20)
    assert stop.rc == OcfRc.SUCCESS, stop.output
    assert gone(pid) and not pidfile.exists()
    assert (await agent.run("monitor", 20, 10)).rc == OcfRc.NOT_RUNNING
    assert (await agent.run("stop", 20)).rc == OcfRc.SUCCESS


@needs_resource_agents
async def test_anything_runs_an_http_server(
    workdir: Path, ctx: NodeContext, janitor: Janitor
) -> None:
    site = workdir / "site"
    site.mkdir()
    (site / "index.html").write_text("hello from vigil\n")
    port = free_port()
    pidfile = workdir / "http.pid"
    agent = janitor.agent(
        OcfAgent(
            resource(
                "web",
                "ocf:heartbeat:anything",
                binfile="/usr/bin/python3",
                cmdline_options=f"-m http.server {port} --bind 127.0.0.1",
                workdir=str(site),
                pidfile=str(pidfile),
                logfile=str(workdir / "http.log"),
            ),
            ctx,
        )
    )
    start = await agent.run("start", 20)
    assert start.rc == OcfRc.SUCCESS, start.output
    pid = janitor.track(int(pidfile.read_text().strip()))
    await wait_for(lambda: port_open(port), what=f"port {port}")
    body = await asyncio.to_thread(
        lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read()
    )
    assert body == b"hello from vigil\n"

    assert (await agent.run("stop", 20)).rc == OcfRc.SUCCESS
    assert gone(pid)
    assert not port_open(port)


# --- process --------------------------------------------------------------------------


def process_resource(rid: str = "app", **params: str) -> Resource:
    return resource(rid, "process", **params)


async def test_process_lifecycle(workdir: Path, ctx: NodeContext, janitor: Janitor) -> None:
    child_file = workdir / "child.pid"
    agent = janitor.agent(
        ProcessAgent(
            process_resource(
                command=f"echo hello; sleep 1000 & echo $! > {child_file}; exec sleep 1001"
            ),
            ctx,
        )
    )
    assert (await agent.run("probe", 20)).rc == OcfRc.NOT_RUNNING
    assert (await agent.run("stop", 20)).rc == OcfRc.SUCCESS  # stopped stays stopped

    start = await agent.run("start", 20)
    assert start.rc == OcfRc.SUCCESS, start.output
    assert 0.2 <= start.duration < 1.0
    record = PidRecord.from_text((ctx.run_dir / "app.pid").read_text())
    main = janitor.track(record.pid)
    assert record.create_time > 0 and record.start_ticks > 0
    await wait_for(child_file.exists, what="child pid")
    child = janitor.track(int(child_file.read_text()))
    assert alive(main) and alive(child)
    assert os.getpgid(main) == main and os.getsid(main) == main  # its own session

    again = await agent.run("start", 20)
    assert again.rc == OcfRc.SUCCESS and f"already running (pid {main})" in again.output
    assert (await agent.run("monitor", 20, 10)).rc == OcfRc.SUCCESS
    assert "hello" in (ctx.state_dir / "log" / "app.log").read_text()

    stop = await agent.run("stop", 20)
    assert stop.rc == OcfRc.SUCCESS and "SIGTERM" in stop.output
    assert gone(main) and gone(child)  # the whole group, not only the shell
    assert not (ctx.run_dir / "app.pid").exists()
    assert (await agent.run("monitor", 20, 10)).rc == OcfRc.NOT_RUNNING
    assert (await agent.run("stop", 20)).rc == OcfRc.SUCCESS


async def test_process_env_cwd_and_stop_signal(
    workdir: Path, ctx: NodeContext, janitor: Janitor
) -> None:
    out = workdir / "out.txt"
    agent = janitor.agent(
        ProcessAgent(
            process_resource(
                command=f"""echo "$GREETING|$PWD|$VIGIL_RESOURCE|$VIGIL_NODE" > {out}
                trap 'echo got INT; exit 0' INT
                while :; do sleep 0.05; done""",
                cwd=str(workdir),
                env="GREETING='hello world' OTHER=1",
                stop_signal="INT",
            ),
            ctx,
        )
    )
    assert (await agent.run("start", 20)).rc == OcfRc.SUCCESS
    janitor.track(PidRecord.from_text((ctx.run_dir / "app.pid").read_text()).pid)
    await wait_for(out.exists)
    assert out.read_text() == f"hello world|{workdir}|app|n1\n"
    stop = await agent.run("stop", 20)
    assert stop.rc == OcfRc.SUCCESS and "with SIGINT" in stop.output
    await wait_for(lambda: "got INT" in (ctx.state_dir / "log" / "app.log").read_text())


async def test_process_crash_is_detected(ctx: NodeContext, janitor: Janitor) -> None:
    agent = janitor.agent(ProcessAgent(process_resource(command="exec sleep 1000"), ctx))
    assert (await agent.run("start", 20)).rc == OcfRc.SUCCESS
    pid = janitor.track(PidRecord.from_text((ctx.run_dir / "app.pid").read_text()).pid)
    os.kill(pid, signal.SIGKILL)

    async def not_running() -> bool:
        return (await agent.run("monitor", 20, 10)).rc == OcfRc.NOT_RUNNING

    await wait_for(not_running, what="monitor 7")
    result = await agent.run("monitor", 20, 10)
    assert result.output.splitlines()[-1] == f"process {pid} was killed by SIGKILL"
    assert not os.path.exists(f"/proc/{pid}")  # we were its parent, so we reaped it
    assert (await agent.run("stop", 20)).rc == OcfRc.SUCCESS
    assert not (ctx.run_dir / "app.pid").exists()


async def test_process_is_adopted_after_agent_restart(ctx: NodeContext, janitor: Janitor) -> None:
    # Start it from another Python process that then exits, like a restarted node agent.
    script = textwrap.dedent(f"""\
        import asyncio
        from pathlib import Path
        from vigil.agents.base import NodeContext
        from vigil.agents.process import ProcessAgent
        from vigil.model.config import Operations, Resource
        rsc = Resource("app", "process", {{"command": "exec sleep 1000"}},
                       Operations(20, 20, 10, 20))
        ctx = NodeContext("n1", Path({str(ctx.state_dir)!r}))
        result = asyncio.run(ProcessAgent(rsc, ctx).run("start", 20))
        raise SystemExit(result.rc)
        """)
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-c", script], capture_output=True, timeout=30
    )
    assert done.returncode == 0, done.stderr.decode()
    pid = janitor.track(PidRecord.from_text((ctx.run_dir / "app.pid").read_text()).pid)
    assert alive(pid)

    fresh = janitor.agent(ProcessAgent(process_resource(command="exec sleep 1000"), ctx))
    assert (await fresh.run("monitor", 20, 10)).rc == OcfRc.SUCCESS
    start = await fresh.run("start", 20)
    assert start.rc == OcfRc.SUCCESS and f"already running (pid {pid})" in start.output
    assert (await fresh.run("stop", 20)).rc == OcfRc.SUCCESS
    await wait_for(lambda: gone(pid), what="adopted process gone")
    assert (await fresh.run("monitor", 20, 10)).rc == OcfRc.NOT_RUNNING


async def test_recycled_pid_is_not_mistaken_for_ours(ctx: NodeContext, janitor: Janitor) -> None:
    foreign = subprocess.Popen(["sleep", "1000"], start_new_session=True)
    try:
        janitor.track(foreign.pid)
        stat = read_stat(foreign.pid)
        assert stat is not None
        ctx.run_dir.mkdir(parents=True)
        stale = PidRecord(foreign.pid, time.time() - 3600, stat.start_ticks - 1)
        (ctx.run_dir / "app.pid").write_text(stale.to_text())

        agent = janitor.agent(ProcessAgent(process_resource(command="exec sleep 1000"), ctx))
        monitor = await agent.run("monitor", 20, 10)
        assert monitor.rc == OcfRc.NOT_RUNNING
        assert "belongs to another process" in monitor.output

        # stop must not touch the foreign process (nor its process group).
        assert (await agent.run("stop", 20)).rc == OcfRc.SUCCESS
        assert foreign.poll() is None

        (ctx.run_dir / "app.pid").write_text(stale.to_text())
        start = await agent.run("start", 20)
        assert start.rc == OcfRc.SUCCESS
        ours = PidRecord.from_text((ctx.run_dir / "app.pid").read_text()).pid
        janitor.track(ours)
        assert ours != foreign.pid
        assert (await agent.run("stop", 20)).rc == OcfRc.SUCCESS
        assert foreign.poll() is None and gone(ours)
    finally:
        foreign.kill()
        foreign.wait()


async def test_stop_escalates_to_sigkill(ctx: NodeContext, janitor: Janitor) -> None:
    agent = janitor.agent(
        ProcessAgent(process_resource(command="trap '' TERM; while :; do sleep 0.05; done"), ctx)
    )
    assert (await agent.run("start", 20)).rc == OcfRc.SUCCESS
    pid = janitor.track(PidRecord.from_text((ctx.run_dir / "app.pid").read_text()).pid)

    stop = await agent.run("stop", 2.0)  # grace 0.5 s: SIGTERM for 1.5 s, then SIGKILL
    assert stop.rc == OcfRc.SUCCESS, stop.output
    assert "SIGKILL" in stop.output and "ignored SIGTERM" in stop.output
    assert 1.4 <= stop.duration < 2.0
    assert gone(pid)
    assert not (ctx.run_dir / "app.pid").exists()


async def test_start_fails_for_a_command_that_exits_at_once(
    ctx: NodeContext, janitor: Janitor
) -> None:
    agent = janitor.agent(
        ProcessAgent(
            process_resource(command="echo 'cannot bind: address in use' >&2; exit 3"), ctx
        )
    )
    result = await agent.run("start", 20)
    assert result.rc == OcfRc.ERR_GENERIC
    assert "cannot bind: address in use" in result.output
    assert "exited with status 3" in result.output.splitlines()[-1]
    assert result.duration < 0.2 + 0.5
    assert not (ctx.run_dir / "app.pid").exists()
    assert (await agent.run("monitor", 20, 10)).rc == OcfRc.NOT_RUNNING


async def test_failed_start_leaves_no_children(
    workdir: Path, ctx: NodeContext, janitor: Janitor
) -> None:
    child_file = workdir / "child.pid"
    agent = janitor.agent(
        ProcessAgent(process_resource(command=f"sleep 1000 & echo $! > {child_file}; exit 1"), ctx)
    )
    assert (await agent.run("start", 20)).rc == OcfRc.ERR_GENERIC
    child = janitor.track(int(child_file.read_text()))
    await wait_for(lambda: gone(child), timeout=5, what="leftover child killed")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "'command' is required"),
        ({"command": "true", "stop_signal": "NOPE"}, "unknown signal"),
        ({"command": "true", "start_wait": "soon"}, "not a number"),
        ({"command": "true", "env": "JUSTAWORD"}, "not NAME=VALUE"),
        ({"command": "true", "colour": "blue"}, "unknown parameter"),
    ],
)
async def test_bad_parameters_are_not_configured(
    ctx: NodeContext, params: dict[str, str], message: str
) -> None:
    agent = ProcessAgent(resource("app", "process", **params), ctx)
    for op in ("validate-all", "start"):
        result: OpResult = await agent.run(op, 5)
        assert result.rc == OcfRc.ERR_CONFIGURED and message in result.output
    assert not (ctx.run_dir / "app.pid").exists()


async def test_process_missing_cwd_and_unknown_action(ctx: NodeContext) -> None:
    agent = ProcessAgent(process_resource(command="true", cwd="/no/such/dir"), ctx)
    result = await agent.run("start", 5)
    assert result.rc == OcfRc.ERR_INSTALLED and "/no/such/dir" in result.output
    assert (await agent.run("promote", 5)).rc == OcfRc.ERR_UNIMPLEMENTED
    meta = await agent.run("meta-data", 5)
    assert meta.rc == OcfRc.SUCCESS and '<parameter name="command"' in meta.output
