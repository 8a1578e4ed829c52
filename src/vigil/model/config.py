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
NodeRole = Literal["member", "witness"]
FenceAction = Literal["reboot", "off"]
NoQuorumPolicy = Literal["stop", "freeze"]
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
    links: tuple[str, ...] = ()
    """Addresses for direct heartbeats, one per network link (empty: just `address`)."""
    role: NodeRole = "member"
    """`witness`: runs only an etcd member (a quorum vote), never resources."""

    @property
    def heartbeat_addresses(self) -> tuple[str, ...]:
        return self.links or (self.address,)

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
class FenceDevice:
    id: str
    agent: str
    """A program speaking the fence-agents protocol: a name looked up in /usr/sbin,
    /usr/local/sbin and PATH (e.g. `fence_ipmilan`), or an absolute path."""
    params: Mapping[str, str] = field(default_factory=dict)
    secret_files: Mapping[str, str] = field(default_factory=dict)
    """Parameter -> file holding its value (readable by root only); never printed."""
    hosts: tuple[str, ...] = ()
    """Nodes this device can fence (empty: those of host_map; both empty: every node)."""
    host_map: Mapping[str, str] = field(default_factory=dict)
    """Node -> the device's name for it (passed as `plug`)."""
    timeout: float = 20.0

    def can_fence(self, node: str) -> bool:
        if self.host_map:
            return node in self.host_map
        return not self.hosts or node in self.hosts


@dataclass(frozen=True)
class FencingConfig:
    devices: tuple[FenceDevice, ...] = ()
    levels: Mapping[str, tuple[tuple[str, ...], ...]] = field(default_factory=dict)
    """Node -> ordered levels, each a set of device ids that must all succeed. A node
    without levels uses one level per device that can fence it, in config order."""
    action: FenceAction = "reboot"
    retries: int = 2
    """How often the whole topology is retried before fencing counts as failed."""

    @property
    def enabled(self) -> bool:
        return bool(self.devices)

    def topology(self, node: str) -> tuple[tuple[str, ...], ...]:
        if node in self.levels:
            return self.levels[node]
        return tuple((d.id,) for d in self.devices if d.can_fence(node))

    def device(self, did: str) -> FenceDevice:
        for d in self.devices:
            if d.id == did:
                return d
        raise KeyError(did)


@dataclass(frozen=True)
class HeartbeatConfig:
    enabled: bool = True
    port: int = 7410
    interval: float = 0.1
    timeout: float = 0.5
    """A node is suspected when no link carried a valid heartbeat for this long."""
    key_file: str = ""
    """The cluster key (HMAC); `vigil init` writes one. Empty: heartbeats are off."""


@dataclass(frozen=True)
class WatchdogConfig:
    timeout: float = 2.0
    """The watchdog process kills the node's resources when the agent has not fed it
    for this long, or at once when the agent's lease view ends."""
    device: str = ""
    """A kernel watchdog (e.g. /dev/watchdog), pinged while resources may run; empty:
    the process watchdog alone."""


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
    fencing: FencingConfig = field(default_factory=FencingConfig)
    heartbeat: HeartbeatConfig = field(default_factory=HeartbeatConfig)
    watchdog: WatchdogConfig = field(default_factory=WatchdogConfig)
    no_quorum_policy: NoQuorumPolicy = "stop"

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
        """Nodes that can run resources (witnesses excluded)."""
        return tuple(n.name for n in self.nodes if n.role == "member")

    @property
    def all_node_names(self) -> tuple[str, ...]:
        return tuple(n.name for n in self.nodes)
