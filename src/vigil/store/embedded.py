"""EmbeddedEtcd: runs and supervises this node's member of the cluster's etcd.

Each node of an embedded-store cluster runs one etcd member on its own address
(`NodeConfig.etcd_client_url` / `etcd_peer_url`); the members form the cluster named by
`--initial-cluster`. The member lives in its own process group, writes its log to
`<state_dir>/etcd.log` and its data to `<state_dir>/etcd`. Restarting with an existing
data dir rejoins the cluster: etcd then ignores the --initial-cluster* flags.

Readiness has two levels: `wait_listening()` (the client port accepts connections: the
process is up) and `wait_healthy()` (etcd's /health is true: this member has a leader,
i.e. it is part of a quorum; a lone member of a three-member cluster never gets there).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import aiohttp

from vigil.model.config import ClusterConfig, NodeConfig
from vigil.store.etcd_binary import etcd_version, find_etcd

log = logging.getLogger(__name__)

MiB = 1024 * 1024
_PR_SET_PDEATHSIG = 1


class EtcdStartError(RuntimeError):
    """The etcd member exited or did not get ready in time; the message has its log tail."""


class EmbeddedEtcd:
    """One local etcd member of `cluster`, for node `node`."""

    def __init__(
        self,
        cluster: ClusterConfig,
        node: str,
        state_dir: str | os.PathLike[str],
        *,
        binary: str | None = None,
        initial_cluster_state: Literal["new", "existing"] = "new",
        initial_members: Sequence[str] | None = None,
        auto_compaction_retention: str = "1h",
        snapshot_count: int = 10_000,
        quota_backend_bytes: int = 1024 * MiB,
        progress_notify_interval: float | None = 5.0,
        pre_vote: bool = True,
        die_with_parent: bool = False,
        extra_args: Sequence[str] = (),
    ) -> None:
        """`initial_members`: names of the nodes forming the initial cluster (default: all).

        `die_with_parent`: the member gets SIGKILL when this process dies (tests); an
        agent normally leaves it running so a restarted agent keeps the quorum intact.
        """
        if cluster.store.mode != "embedded":
            raise ValueError(f"cluster {cluster.name!r} uses an external store, not embedded")
        self.cluster = cluster
        self.node: NodeConfig = cluster.node(node)
        self.state_dir = Path(state_dir)
        self.data_dir = self.state_dir / "etcd"
        self.log_path = self.state_dir / "etcd.log"
        self.binary = binary or find_etcd()
        self.initial_cluster_state = initial_cluster_state
        names = tuple(initial_members) if initial_members is not None else cluster.all_node_names
        self.initial_members = tuple(cluster.node(n) for n in names)
        if self.node not in self.initial_members and initial_cluster_state == "new":
            raise ValueError(f"node {node!r} is not among the initial members {names}")
        self.heartbeat_ms = round(cluster.store.etcd_heartbeat_interval * 1000)
        self.election_ms = round(cluster.store.etcd_election_timeout * 1000)
        if self.heartbeat_ms < 1 or self.election_ms < 5 * self.heartbeat_ms:
            raise ValueError(
                f"etcd election timeout ({self.election_ms} ms) must be at least 5 times the "
                f"heartbeat interval ({self.heartbeat_ms} ms)"
            )
        self.auto_compaction_retention = auto_compaction_retention
        self.snapshot_count = snapshot_count
        self.quota_backend_bytes = quota_backend_bytes
        self.progress_notify_interval = progress_notify_interval
        self.pre_vote = pre_vote
        self.die_with_parent = die_with_parent
        self.extra_args = tuple(extra_args)
        self.restarts = 0
        """How many times `supervise()` restarted the member after a crash."""
        self._proc: asyncio.subprocess.Process | None = None
        self._adopted: int | None = None
        self._stopping = False
        self._version: tuple[int, int, int] | None = None

    # --- command line ---

    @property
    def client_url(self) -> str:
        return self.node.etcd_client_url

    @property
    def peer_url(self) -> str:
        return self.node.etcd_peer_url

    @property
    def version(self) -> tuple[int, int, int]:
        if self._version is None:
            self._version = etcd_version(self.binary)
        return self._version

    def command(self) -> list[str]:
        initial_cluster = ",".join(f"{n.name}={n.etcd_peer_url}" for n in self.initial_members)
        cmd = [
            self.binary,
            "--name", self.node.name,
            "--data-dir", str(self.data_dir),
            "--listen-client-urls", self.client_url,
            "--advertise-client-urls", self.client_url,
            "--listen-peer-urls", self.peer_url,
            "--initial-advertise-peer-urls", self.peer_url,
            "--initial-cluster", initial_cluster,
            "--initial-cluster-token", self.cluster.name,
            "--initial-cluster-state", self.initial_cluster_state,
            "--heartbeat-interval", str(self.heartbeat_ms),
            "--election-timeout", str(self.election_ms),
            "--auto-compaction-mode", "periodic",
            "--auto-compaction-retention", self.auto_compaction_retention,
            "--snapshot-count", str(self.snapshot_count),
            "--quota-backend-bytes", str(self.quota_backend_bytes),
            f"--pre-vote={'true' if self.pre_vote else 'false'}",
            "--logger", "zap",
            "--log-outputs", "stderr",
        ]  # fmt: skip
        if self.progress_notify_interval is not None:
            flag = "--watch-progress-notify-interval"
            if self.version < (3, 6, 0):
                flag = "--experimental-watch-progress-notify-interval"
            cmd += [flag, f"{round(self.progress_notify_interval * 1000)}ms"]
        return cmd + list(self.extra_args)

    # --- process ---

    @property
    def pid_path(self) -> Path:
        return self.state_dir / "etcd.pid"

    @property
    def pid(self) -> int | None:
        if self._proc is not None:
            return self._proc.pid
        return self._adopted

    @property
    def adopted(self) -> bool:
        """The member was already running (left by a previous agent) and was adopted."""
        return self._proc is None and self._adopted is not None

    @property
    def running(self) -> bool:
        if self._proc is not None:
            return self._proc.returncode is None
        return self._adopted is not None and _alive(self._adopted)

    def stop_requested(self) -> bool:
        """stop() or kill() was called since the last start()."""
        return self._stopping

    @property
    def returncode(self) -> int | None:
        """Exit code of a member this object spawned (None while running or if adopted)."""
        return self._proc.returncode if self._proc is not None else None

    async def start(self) -> None:
        """Spawn the member (own process group, output appended to etcd.log).

        A member left running by a previous agent (pid file, same binary and data dir)
        is adopted instead: stop(), kill() and pause() then act on it.
        """
        if self.running:
            raise RuntimeError(f"etcd member {self.node.name} is already running")
        self._stopping = False
        self._proc = None
        self._adopted = self._running_member()
        if self._adopted is not None:
            log.info("etcd member %s already running (pid %d): adopted",
                     self.node.name, self._adopted)
            return
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if self.data_dir.exists():
            self.data_dir.chmod(0o700)  # etcd insists on 0700
        cmd = self.command()
        env = {k: v for k, v in os.environ.items() if not k.startswith("ETCD")}
        with open(self.log_path, "ab") as out:
            out.write(f"--- vigil: starting {' '.join(cmd)}\n".encode())
            out.flush()
            self._proc = await asyncio.create_subprocess_exec(
                *cmd,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                env=env,
                start_new_session=True,
                preexec_fn=_die_with_parent if self.die_with_parent else None,
            )
        self.pid_path.write_text(f"{self._proc.pid}\n")
        log.info("etcd member %s started (pid %d)", self.node.name, self._proc.pid)

    def _running_member(self) -> int | None:
        """Pid of a live etcd serving our data dir, from the pid file, if any."""
        try:
            pid = int(self.pid_path.read_text().strip())
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            return None
        args = [a.decode(errors="replace") for a in argv]
        ours = (
            bool(args)
            and "etcd" in Path(args[0]).name
            and str(self.data_dir) in args
            and _alive(pid)
        )
        return pid if ours else None

    def _signal(self, sig: int) -> None:
        """Signal the member's process group (only while it is not reaped)."""
        if not self.running:
            return
        pid = self.pid
        assert pid is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)

    async def _wait_exit(self) -> None:
        if self._proc is not None:
            await self._proc.wait()
            return
        while self.running:  # adopted: not our child, its new parent reaps it
            await asyncio.sleep(0.05)

    async def stop(self, grace: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL after `grace` seconds; always reaped. Returns the exit code."""
        self._stopping = True
        if self.pid is None:
            return None
        try:
            if self.running:
                self._signal(signal.SIGTERM)
                self._signal(signal.SIGCONT)  # a paused member must wake up to exit
                try:
                    async with asyncio.timeout(grace):
                        await self._wait_exit()
                except TimeoutError:
                    log.warning("etcd member %s ignored SIGTERM; killing", self.node.name)
            if self.running:
                self._signal(signal.SIGKILL)
            await self._wait_exit()
        except BaseException:
            self._signal(signal.SIGKILL)  # cancelled: never leave it behind
            raise
        with contextlib.suppress(OSError):
            self.pid_path.unlink()
        return self.returncode

    async def kill(self) -> int | None:
        """SIGKILL the member at once (a crash, for drills) and reap it."""
        self._stopping = True
        if self.pid is None:
            return None
        self._signal(signal.SIGKILL)
        await self._wait_exit()
        return self.returncode

    def pause(self) -> None:
        """SIGSTOP the member (a hang, for drills)."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _check_alive(self) -> None:
        if not self.running:
            raise EtcdStartError(
                f"etcd member {self.node.name} exited with {self.returncode}; "
                f"log {self.log_path}:\n{self.log_tail()}"
            )

    # --- readiness ---

    async def wait_listening(self, timeout: float = 10.0) -> None:
        """Until the client port accepts connections; EtcdStartError if the member exits."""
        url = urlsplit(self.client_url)
        host, port = url.hostname or "127.0.0.1", url.port or 2379
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            self._check_alive()
            try:
                async with asyncio.timeout(0.5):
                    _, writer = await asyncio.open_connection(host, port)
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
                return
            except (OSError, TimeoutError):
                pass
            if loop.time() >= deadline:
                raise EtcdStartError(
                    f"etcd member {self.node.name} not listening on {self.client_url} "
                    f"within {timeout}s; log tail:\n{self.log_tail()}"
                )
            await asyncio.sleep(0.05)

    async def is_healthy(self) -> bool:
        """etcd's /health: this member has a leader and can serve a quorum read."""
        try:
            async with (
                asyncio.timeout(2.0),
                aiohttp.ClientSession() as session,
                session.get(self.client_url + "/health") as resp,
            ):
                body = await resp.json(content_type=None)
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError):
            return False
        return isinstance(body, dict) and body.get("health") == "true"

    async def wait_healthy(self, timeout: float = 30.0) -> None:
        """Until /health is true (needs a quorum of members up)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            self._check_alive()
            if await self.is_healthy():
                return
            if loop.time() >= deadline:
                raise EtcdStartError(
                    f"etcd member {self.node.name} not healthy within {timeout}s; "
                    f"log tail:\n{self.log_tail()}"
                )
            await asyncio.sleep(0.1)

    wait_ready = wait_healthy

    # --- supervision ---

    async def supervise(
        self,
        *,
        min_backoff: float = 0.5,
        max_backoff: float = 30.0,
        stable_after: float = 60.0,
        on_restart: Callable[[int | None], None] | None = None,
    ) -> None:
        """Keep the member running: restart it with backoff whenever it exits, until stop().

        Run it as a task; cancelling the task stops supervising (not the member).
        `on_restart(exit code)` is called before each restart.
        """
        loop = asyncio.get_running_loop()
        backoff = min_backoff
        if not self.running and not self.stop_requested():
            await self.start()
        while not self.stop_requested():
            started = loop.time()
            await self._wait_exit()
            code = self.returncode
            if self.stop_requested():
                return
            if loop.time() - started >= stable_after:
                backoff = min_backoff
            log.warning(
                "etcd member %s exited with %s; restarting in %.1fs",
                self.node.name, code, backoff,
            )
            if on_restart is not None:
                on_restart(code)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, max_backoff)
            if self.stop_requested():
                return
            self.restarts += 1
            await self.start()


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def _die_with_parent() -> None:  # runs in the child between fork and exec
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
