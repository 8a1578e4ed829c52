"""Fixtures shared by every test: free loopback ports and real etcd clusters.

- `free_port()`: a TCP port on 127.0.0.1 that nothing listens on right now.
- `etcd_cluster`: an async factory; `await etcd_cluster(3)` starts 3 real etcd members
  on 127.0.0.1 (fast timings: heartbeat 50 ms, election 500 ms, so TTL 1 leases work),
  waits until healthy and returns an `EtcdTestCluster`. Every member is stopped, every
  store it made closed and its state dirs removed when the test ends, even on failure.
- `etcd_store`: an `EtcdStore` on a fresh single-member cluster.

Data dirs live on /dev/shm when it exists: etcd fsyncs every write.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from vigil.model.config import ClusterConfig, NodeConfig, StoreConfig
from vigil.store.embedded import EmbeddedEtcd, EtcdStartError
from vigil.store.etcd import EtcdStore
from vigil.store.etcd_binary import EtcdNotFound, find_etcd


def free_port() -> int:
    """A port on 127.0.0.1 nothing listens on now (the OS picks it; races are rare)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def free_port_factory() -> Callable[[], int]:
    return free_port


def _state_root() -> str:
    shm = "/dev/shm"
    if os.path.isdir(shm) and os.access(shm, os.W_OK):
        return tempfile.mkdtemp(prefix="vigil-etcd-", dir=shm)
    return tempfile.mkdtemp(prefix="vigil-etcd-")


@dataclass
class EtcdTestCluster:
    """Real etcd members on loopback, by index; `endpoints` lists their client URLs."""

    config: ClusterConfig
    members: list[EmbeddedEtcd]
    stores: list[EtcdStore] = field(default_factory=list)

    @property
    def endpoints(self) -> list[str]:
        return [m.client_url for m in self.members]

    @property
    def names(self) -> list[str]:
        return [m.node.name for m in self.members]

    def store(self, *, request_timeout: float = 2.0, endpoints: list[str] | None = None
              ) -> EtcdStore:
        """An EtcdStore on this cluster, closed when the test ends."""
        s = EtcdStore(endpoints or self.endpoints, request_timeout=request_timeout)
        self.stores.append(s)
        return s

    async def stop_member(self, i: int, grace: float = 5.0) -> None:
        """SIGTERM (a leader hands over leadership first), SIGKILL after grace."""
        await self.members[i].stop(grace=grace)

    async def kill_member(self, i: int) -> None:
        await self.members[i].kill()

    async def start_member(self, i: int, *, healthy: bool = True) -> None:
        """(Re)start member i on its data dir; waits for /health unless healthy=False."""
        m = self.members[i]
        await m.start()
        await m.wait_listening(15.0)
        if healthy:
            await m.wait_healthy(15.0)

    async def wait_healthy(self, timeout: float = 15.0) -> None:
        await asyncio.gather(*(m.wait_healthy(timeout) for m in self.members if m.running))

    async def close(self) -> None:
        for s in self.stores:
            with contextlib.suppress(Exception):
                await s.close()
        # SIGKILL: the data is thrown away, and a SIGTERMed leader would first try to hand
        # its leadership to peers that are stopping too (seconds).
        await asyncio.gather(*(m.kill() for m in self.members), return_exceptions=True)


def _cluster_config(size: int, heartbeat: float, election: float) -> ClusterConfig:
    nodes = tuple(
        NodeConfig(f"n{i + 1}", "127.0.0.1", api_port=free_port(),
                   etcd_client_port=free_port(), etcd_peer_port=free_port())
        for i in range(size)
    )
    store = StoreConfig(etcd_heartbeat_interval=heartbeat, etcd_election_timeout=election)
    return ClusterConfig(name=f"test-{os.getpid()}-{free_port()}", nodes=nodes, store=store)


EtcdClusterFactory = Callable[..., Awaitable[EtcdTestCluster]]


@pytest.fixture
async def etcd_cluster() -> AsyncIterator[EtcdClusterFactory]:
    """`await etcd_cluster(size=1, heartbeat=0.05, election=0.5)` -> EtcdTestCluster."""
    try:
        binary = find_etcd()
    except EtcdNotFound as e:
        pytest.fail(str(e))
    clusters: list[EtcdTestCluster] = []
    roots: list[str] = []

    async def start(size: int = 1, *, heartbeat: float = 0.05, election: float = 0.5
                    ) -> EtcdTestCluster:
        last: Exception | None = None
        for _ in range(3):  # a port taken between free_port() and etcd's bind: retry
            root = _state_root()
            roots.append(root)
            config = _cluster_config(size, heartbeat, election)
            members = [
                EmbeddedEtcd(config, n.name, Path(root) / n.name, binary=binary,
                             die_with_parent=True, snapshot_count=1000,
                             quota_backend_bytes=64 * 1024 * 1024)
                for n in config.nodes
            ]
            cluster = EtcdTestCluster(config, members)
            clusters.append(cluster)
            try:
                for m in members:
                    await m.start()
                await asyncio.gather(*(m.wait_listening(15.0) for m in members))
                await cluster.wait_healthy(20.0)
                return cluster
            except EtcdStartError as e:
                last = e
                await cluster.close()
                if "address already in use" not in str(e):
                    raise
        raise AssertionError(f"etcd cluster did not start: {last}")

    try:
        yield start
    finally:
        for c in clusters:
            await c.close()
        for root in roots:
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
async def etcd_store(etcd_cluster: EtcdClusterFactory) -> EtcdStore:
    """An EtcdStore on a fresh single-member cluster (request timeout 2 s)."""
    cluster = await etcd_cluster(1)
    return cluster.store()
