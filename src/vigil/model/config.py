"""The cluster configuration as immutable types.

`vigil.model.load` turns a YAML file into a `ClusterConfig` (or a list of problems);
everything else in vigil reads only these types. All durations are seconds (float).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

INFINITY = 1_000_000
"""Pacemaker's INFINITY: scores are clamped to [-INFINITY, INFINITY]."""

StoreMode = Literal["embedded", "external"]
OrderKind = Literal["Mandatory", "Optional"]
TargetRole = Literal["Started", "Stopped"]


@dataclass(frozen=True)
class NodeConfig:
    name: str
    address: str
    """IP address the agent's API (and, when embedded, the etcd member) listens on."""
    api_port: int = 7400
    etcd_client_port: int = 2379
    etcd_peer_port: int = 2380

    @property
    def api_url(self) -> str:
        return f"http://{_host(self.address)}:{self.api_port}"

    @property
    def etcd_client_url(self) -> str:
        return f"http://{_host(self.address)}:{self.etcd_client_port}"

    @property
    def etcd_peer_url(self) -> str:
        return f"http://{_host(self.address)}:{self.etcd_peer_port}"


def _host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


@dataclass(frozen=True)
class StoreConfig:
    mode: StoreMode = "embedded"
    endpoints: tuple[str, ...] = ()
    """Client URLs of an existing etcd cluster (mode external)."""
    prefix: str = "/vigil"
    """Every key lives under `<prefix>/<cluster name>/`."""
    etcd_heartbeat_interval: float = 0.05
    etcd_election_timeout: float = 0.5
    """A LAN default: a lost etcd leader is replaced within about 1 s, well inside what
    a node's lease tolerates without contact (lease_ttl - lease_margin - keepalive)."""
    request_timeout: float = 2.0


@dataclass(frozen=True)
class Timings:
    lease_ttl: float = 2.0
    """Membership lease TTL; whole seconds (etcd rounds up)."""
    keepalive_interval: float = 0.25
    lease_margin: float = 0.5
    """A node stops its resources once less than this remains of its own lease view."""
    self_fence_timeout: float = 0.5
    """After a lost node's lease expired, how long before its resources count as stopped."""
    shutdown_timeout: float = 60.0
    """How long SIGTERM waits for resources to move away before stopping them in place."""
    start_timeout: float = 20.0
    stop_timeout: float = 20.0
    monitor_interval: float = 10.0
    monitor_timeout: float = 20.0


@dataclass(frozen=True)
class Operations:
    start_timeout: float
    stop_timeout: float
    monitor_interval: float
    """0 disables the recurring monitor."""
    monitor_timeout: float


@dataclass(frozen=True)
class ResourceMeta:
    stickiness: int = 1
    migration_threshold: int = INFINITY
    failure_timeout: float = 0.0
    """0: failures never expire by themselves (only `vigil resource cleanup`)."""
    target_role: TargetRole = "Started"


@dataclass(frozen=True)
class Resource:
    id: str
    agent: str
    """`ocf:<provider>:<type>` or a built-in: `process`."""
    params: Mapping[str, str]
    ops: Operations
    meta: ResourceMeta = field(default_factory=ResourceMeta)

    @property
    def agent_class(self) -> str:
        return self.agent.split(":", 1)[0]


@dataclass(frozen=True)
class LocationConstraint:
    id: str
    resource: str
    node: str
    score: int


@dataclass(frozen=True)
class ColocationConstraint:
    id: str
    resource: str
    """The dependent resource: placed where `with_resource` is (or is not)."""
    with_resource: str
    score: int


@dataclass(frozen=True)
class OrderConstraint:
    id: str
    first: str
    then: str
    kind: OrderKind = "Mandatory"
    symmetrical: bool = True


@dataclass(frozen=True)
class ClusterConfig:
    name: str
    nodes: tuple[NodeConfig, ...]
    store: StoreConfig = field(default_factory=StoreConfig)
    timings: Timings = field(default_factory=Timings)
    resources: tuple[Resource, ...] = ()
    locations: tuple[LocationConstraint, ...] = ()
    colocations: tuple[ColocationConstraint, ...] = ()
    orders: tuple[OrderConstraint, ...] = ()

    def node(self, name: str) -> NodeConfig:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def resource(self, rid: str) -> Resource:
        for r in self.resources:
            if r.id == rid:
                return r
        raise KeyError(rid)

    @property
    def node_names(self) -> tuple[str, ...]:
        return tuple(n.name for n in self.nodes)
