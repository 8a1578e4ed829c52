"""A cluster of real agents and etcd members on one machine (loopback, no root).

Each node is an agent process (which runs its own etcd member) with its own state
directory. Every process of a node carries `VIGIL_LAB_NODE=<cluster-tag>/<node>` in its
environment, so "power off" can find and kill all of them: agent, etcd and resources.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, TypeVar

from vigil.cli.client import Client
from vigil.lab.queries import ClusterQueries
from vigil.lab.queries import wait_for as wait_for

T = TypeVar("T")
TAG_VAR = "VIGIL_LAB_NODE"


_handed_out: set[int] = set()


def free_ports(n: int) -> list[int]:
    """Ports for servers that start later. Drawn below the kernel's ephemeral range
    (32768+), so a client connection or another bind(0) made meanwhile cannot take one
    before its server binds it; never the same port twice in one process."""
    rng = random.Random(os.getpid() ^ time.monotonic_ns())
    ports: list[int] = []
    while len(ports) < n:
        port = rng.randrange(20000, 32000)
        if port in _handed_out:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        ports.append(port)
    return ports


def node_pids(tag: str) -> list[int]:
    """Every process whose environment carries this node tag."""
    needle = f"{TAG_VAR}={tag}".encode()
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            env = Path(f"/proc/{entry}/environ").read_bytes()
        except OSError:
            continue
        if needle in env.split(b"\0"):
            pids.append(int(entry))
    return pids


def kill_tagged(tag: str) -> int:
    """SIGKILL every process carrying the node tag, until none is left; how many."""
    killed = 0
    for _ in range(50):
        pids = node_pids(tag)
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                killed += 1
        time.sleep(0.01)
    return killed


class LocalCluster(ClusterQueries):
    def __init__(self, base: Path, nodes: int = 3, name: str = "demo",
                 resources_yaml: str = "", constraints_yaml: str = "",
                 timings: dict[str, str] | None = None,
                 store: dict[str, str] | None = None, witnesses: int = 0,
                 extra_yaml: str = "", links: int = 0,
                 heartbeat: dict[str, str] | None = None) -> None:
        self.base = base
        self.name = name
        self.tag = uuid.uuid4().hex[:12]
        self.names = [f"n{i + 1}" for i in range(nodes)]
        self.witnesses = [f"w{i + 1}" for i in range(witnesses)]
        everyone = self.names + self.witnesses
        ports = free_ports(3 * len(everyone))
        self.ports = {n: ports[3 * i:3 * i + 3] for i, n in enumerate(everyone)}
        self.extra_yaml = extra_yaml
        self.links = links
        self.heartbeat = heartbeat or {}
        if links:
            from vigil.core.heartbeat_packet import write_key
            self.key_file = base / "cluster.key"
            base.mkdir(parents=True, exist_ok=True)
            if not self.key_file.exists():
                write_key(self.key_file)
            self.hb_port = free_ports(1)[0]
            # Every node gets its own loopback address per link (127.0.<link+1>.<k>),
            # so rules can cut one node's link without root.
            first = 10 + (self.hb_port % 200)
            self.link_addresses = {n: [f"127.0.{j + 1}.{first + i}" for j in range(links)]
                                   for i, n in enumerate(self.names)}
        self.timings = timings or {}
        self.store = dict(store or {})
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.config_path = base / "cluster.yaml"
        base.mkdir(parents=True, exist_ok=True)
        self.write_config(resources_yaml, constraints_yaml)

    # -- config ---------------------------------------------------------------------
    def config_text(self, resources_yaml: str, constraints_yaml: str = "") -> str:
        lines = [f"cluster: {self.name}", "nodes:"]
        for n in self.names + self.witnesses:
            api, client, peer = self.ports[n]
            lines += [f"  - name: {n}", "    address: 127.0.0.1", f"    api_port: {api}",
                      f"    etcd_client_port: {client}", f"    etcd_peer_port: {peer}"]
            if n in self.witnesses:
                lines.append("    role: witness")
            elif self.links:
                lines.append(f"    links: [{', '.join(self.link_addresses[n])}]")
        lines += ["store:", "  type: embedded"]
        lines += [f"  {k}: {v}" for k, v in self.store.items()]
        if self.timings:
            lines += ["timings:"] + [f"  {k}: {v}" for k, v in self.timings.items()]
        if self.links:
            lines += ["heartbeat:", f"  key_file: {self.key_file}", f"  port: {self.hb_port}"]
            lines += [f"  {k}: {v}" for k, v in self.heartbeat.items()]
        text = "\n".join(lines) + "\n"
        if resources_yaml.strip():
            text += resources_yaml.rstrip() + "\n"
        if constraints_yaml.strip():
            text += constraints_yaml.rstrip() + "\n"
        if self.extra_yaml.strip():
            text += self.extra_yaml.rstrip() + "\n"
        return text

    def write_config(self, resources_yaml: str, constraints_yaml: str = "") -> Path:
        self.config_path.write_text(self.config_text(resources_yaml, constraints_yaml))
        return self.config_path

    def etcd_url(self, node: str) -> str:
        return f"http://127.0.0.1:{self.ports[node][1]}"

    def lab_fencing_yaml(self, fail: bool = False, delay: float = 0.0,
                         record: Path | None = None, timeout: str = "10s") -> str:
        """A `fencing:` section whose device powers off this cluster's lab nodes."""
        wrapper = self.base / "fence_lab"
        shutil.copyfile(Path(__file__).parent / "data" / "fence_lab.sh", wrapper)
        wrapper.chmod(0o755)
        params = [f"fail: {int(fail)}", f"delay: {delay:g}"]
        if record is not None:
            params.append(f"record: {record}")
        host_map = ", ".join(f'{n}: "{self.tag}/{n}"' for n in self.names)
        return (f"fencing:\n  devices:\n    - id: lab\n      agent: {wrapper}\n"
                f"      params: {{{', '.join(params)}}}\n      host_map: {{{host_map}}}\n"
                f"      timeout: {timeout}\n")

    def api_url(self, node: str) -> str:
        return f"http://127.0.0.1:{self.ports[node][0]}"

    def state_dir(self, node: str) -> Path:
        return self.base / node

    # -- processes -------------------------------------------------------------------
    def start(self, nodes: list[str] | None = None) -> None:
        for n in nodes or self.names + self.witnesses:
            self.start_node(n)

    def start_node(self, node: str, store_endpoints: list[str] | None = None) -> None:
        sdir = self.state_dir(node)
        sdir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env[TAG_VAR] = f"{self.tag}/{node}"
        env.setdefault("PYTHONUNBUFFERED", "1")
        log = (sdir / "agent.log").open("ab")
        command = "witness" if node in self.witnesses else "agent"
        self.procs[node] = subprocess.Popen(
            [sys.executable, "-m", "vigil", command, "--config", str(self.config_path),
             "--node", node, "--state-dir", str(sdir),
             *(f"--store-endpoint={u}" for u in store_endpoints or ())],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            start_new_session=True)
        log.close()

    def power_off(self, node: str) -> int:
        """Kill every process of the node at once (SIGKILL), as a power cut would."""
        killed = kill_tagged(f"{self.tag}/{node}")
        proc = self.procs.pop(node, None)
        if proc is not None:
            proc.wait()
        # A power cut empties tmpfs: the OCF agents' HA_RSCTMP state is gone.
        shutil.rmtree(self.state_dir(node) / "rsctmp", ignore_errors=True)
        return killed

    def kill_agent(self, node: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs[node]
        proc.send_signal(sig)
        if sig == signal.SIGKILL:
            proc.wait()
            self.procs.pop(node)

    def stop_node(self, node: str, timeout: float = 90.0) -> int:
        """SIGTERM: the planned way out (resources move first)."""
        proc = self.procs.pop(node)
        proc.send_signal(signal.SIGTERM)
        return proc.wait(timeout)

    def pids(self, node: str) -> list[int]:
        return node_pids(f"{self.tag}/{node}")

    def down(self, remove: bool = True) -> None:
        for n in self.names + self.witnesses:
            self.power_off(n)
        if remove:
            shutil.rmtree(self.base, ignore_errors=True)

    # -- API ---------------------------------------------------------------------------
    def client(self, node: str | None = None) -> Client:
        nodes = [node] if node else [n for n in self.names if n in self.procs] or self.names
        return Client([self.api_url(n) for n in nodes], timeout=5.0)

    def status(self, node: str | None = None) -> dict[str, Any]:
        return self.client(node).call("GET", "/v1/status")

    def events(self, limit: int = 200) -> list[dict[str, Any]]:
        return list(self.client().call("GET", f"/v1/events?limit={limit}")["events"])

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        return self.client().call(method, path, body, timeout=120.0)
