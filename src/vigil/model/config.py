"""The cluster configuration as immutable types.

`vigil.model.load` turns a YAML file into a `ClusterConfig` (or a list of problems);
everything else in vigil reads only these types. All durations are seconds (float).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

INFINITY = 1_000_000
"""Pacemaker's INFINITY: scores are clamped to [-INFINITY, INFINITY]."""

StoreMode = Literal["embedded", "external"]
NodeRole = Literal["member", "witness"]
FenceAction = Literal["reboot", "off"]
NoQuorumPolicy = Literal["stop", "freeze"]
OrderKind = Literal["Mandatory", "Optional", "Serialize"]
TargetRole = Literal["Started", "Stopped", "Unpromoted", "Promoted"]
Role = Literal["Started", "Unpromoted", "Promoted", "Stopped"]
"""A resource's role in constraints: Started matches any running instance."""
OrderAction = Literal["start", "stop", "promote", "demote"]
OnFail = Literal["ignore", "block", "stop", "restart", "standby", "fence", "demote"]
MultipleActive = Literal["stop_start", "stop_only", "block", "stop_unexpected"]
PlacementStrategy = Literal["default", "utilization", "balanced", "minimal"]
RuleOp = Literal["lt", "gt", "lte", "gte", "eq", "ne", "defined", "not_defined"]
RuleType = Literal["string", "integer", "number", "version"]


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
    attributes: Mapping[str, str] = field(default_factory=dict)
    """Permanent node attributes for location rules (`#uname` is implicit). Transient
    ones (`vigil node attribute`, agents' crm_attribute) are in `ClusterState`."""
    capacity: Mapping[str, int] = field(default_factory=dict)
    """Utilization capacity (e.g. cpu: 8, memory: 16384) for placement strategies."""

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
    promote_timeout: float = 20.0
    demote_timeout: float = 20.0
    notify_timeout: float = 20.0
    monitor_promoted_interval: float = 0.0
    """Recurring monitor of an instance in the Promoted role (0: same as monitor_interval
    plus 1 s, since OCF agents tell the two monitors apart by their interval)."""
    on_fail: Mapping[str, OnFail] = field(default_factory=dict)
    """Operation (start, stop, monitor, monitor_promoted, promote, demote) -> what to do
    when it fails; missing: Pacemaker's default (stop: fence if fencing is configured,
    else block; monitor_promoted: the monitor's; the others: restart)."""
    monitor_promoted_timeout: float = 0.0
    """Timeout of the Promoted-role monitor (0: monitor_timeout)."""

    def on_fail_for(self, op: str, fencing: bool) -> OnFail:
        op = "monitor" if op == "probe" else op
        if op in self.on_fail:
            return self.on_fail[op]
        if op == "monitor_promoted":
            return self.on_fail_for("monitor", fencing)
        if op == "stop":
            return "fence" if fencing else "block"
        return "restart"


@dataclass(frozen=True)
class ResourceMeta:
    stickiness: int = 1
    migration_threshold: int = INFINITY
    failure_timeout: float = 0.0
    """0: failures never expire by themselves (only `vigil resource cleanup`)."""
    target_role: TargetRole = "Started"
    is_managed: bool = True
    """False: vigil neither starts nor stops it (it still watches and reports it)."""
    maintenance: bool = False
    """True: unmanaged and not monitored."""
    priority: int = 0
    """Higher priority resources are placed first (they win when nodes are scarce)."""
    multiple_active: MultipleActive = "stop_start"
    """What to do when it is found active on several nodes."""
    explicit: frozenset[str] = field(default=frozenset(), compare=False)
    """Fields set in the config (not defaults): a group's or clone's meta is inherited
    by its members for every field they do not set themselves."""

    def inherit(self, parent: ResourceMeta) -> ResourceMeta:
        """This meta with every field it does not set taken from `parent` (if set there)."""
        take = parent.explicit - self.explicit
        if not take:
            return self
        values = {f: getattr(parent, f) for f in take}
        return replace(self, explicit=self.explicit | take, **values)


@dataclass(frozen=True)
class Resource:
    id: str
    agent: str
    """`ocf:<provider>:<type>` or a built-in: `process`."""
    params: Mapping[str, str]
    ops: Operations
    meta: ResourceMeta = field(default_factory=ResourceMeta)
    utilization: Mapping[str, int] = field(default_factory=dict)
    """What it uses of a node's capacity (placement strategies other than default)."""

    @property
    def agent_class(self) -> str:
        return self.agent.split(":", 1)[0]


@dataclass(frozen=True)
class Group:
    """Primitives kept on one node, started in list order and stopped in reverse.

    Members are resources defined under `resources:`; each belongs to at most one group.
    Constraints may name the group: a location or colocation applies to the group as a
    whole, an order's `first: group` waits for the whole group, `then: group` starts it.
    """

    id: str
    members: tuple[str, ...]
    meta: ResourceMeta = field(default_factory=ResourceMeta)


@dataclass(frozen=True)
class Clone:
    """Copies (instances) of a primitive or a group on several nodes.

    Anonymous (`unique: false`): instances are interchangeable; on a node the instance is
    the primitive itself (status, agent and OCF_RESOURCE_INSTANCE use the primitive id).
    Unique: instance i is `<primitive>:<i>`, a distinct resource. Promotable: instances
    run in the Unpromoted role, and up to `promoted_max` are promoted; the agent sets
    each node's promotion score (node attribute `master-<primitive>`) with crm_master.
    """

    id: str
    child: str
    """A primitive or group id; not in any other group or clone."""
    clone_max: int | None = None
    """None: one per node that can run resources."""
    clone_node_max: int = 1
    unique: bool = False
    interleave: bool = False
    ordered: bool = False
    notify: bool = False
    promotable: bool = False
    promoted_max: int = 1
    promoted_node_max: int = 1
    meta: ResourceMeta = field(default_factory=lambda: ResourceMeta(stickiness=1))


@dataclass(frozen=True)
class RuleExpression:
    """`attribute op value` on a node's attributes (`#uname` is the node name)."""

    attribute: str
    op: RuleOp
    value: str = ""
    type: RuleType = "string"


@dataclass(frozen=True)
class Rule:
    """A location rule: `score` goes to every node where the expressions hold."""

    score: int
    expressions: tuple[RuleExpression | Rule, ...]
    boolean_op: Literal["and", "or"] = "and"
    score_attribute: str = ""
    """When set, the score is this node attribute's value (integer) instead of `score`."""


@dataclass(frozen=True)
class LocationConstraint:
    id: str
    resource: str
    """A primitive, group or clone id."""
    node: str
    """"" when `rules` decide the nodes."""
    score: int
    rules: tuple[Rule, ...] = ()
    role: Role | None = None
    """Promoted/Unpromoted: the score counts for choosing which instances are promoted."""


@dataclass(frozen=True)
class ColocationConstraint:
    id: str
    resource: str
    """The dependent resource: placed where `with_resource` is (or is not)."""
    with_resource: str
    score: int
    role: Role | None = None
    """The dependent's role the constraint is about (None: any)."""
    with_role: Role | None = None
    """The target's role to follow (Promoted: where the promoted instance runs)."""


@dataclass(frozen=True)
class OrderConstraint:
    id: str
    first: str
    then: str
    kind: OrderKind = "Mandatory"
    symmetrical: bool = True
    first_action: OrderAction = "start"
    then_action: OrderAction = "start"


@dataclass(frozen=True)
class ResourceSet:
    resources: tuple[str, ...]
    sequential: bool = True
    """Order sets: members ordered among themselves; colocation sets: each member
    colocated with the previous one. False: no relation inside the set."""
    require_all: bool = True
    role: Role | None = None
    action: OrderAction | None = None


@dataclass(frozen=True)
class OrderSetConstraint:
    """Sets in sequence: every member of a set after the previous set."""

    id: str
    sets: tuple[ResourceSet, ...]
    kind: OrderKind = "Mandatory"
    symmetrical: bool = True


@dataclass(frozen=True)
class ColocationSetConstraint:
    """Inside a sequential set, each member is colocated with the previous one; each
    set is colocated with the next set (Pacemaker's reading of colocation sets)."""

    id: str
    sets: tuple[ResourceSet, ...]
    score: int


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
    groups: tuple[Group, ...] = ()
    clones: tuple[Clone, ...] = ()
    order_sets: tuple[OrderSetConstraint, ...] = ()
    colocation_sets: tuple[ColocationSetConstraint, ...] = ()
    placement_strategy: PlacementStrategy = "default"
    symmetric_cluster: bool = True
    """False (opt-in): a resource may run only on nodes a location gives a score >= 0."""
    batch_limit: int = 0
    """Most actions the cluster runs at once (0: no limit)."""
    maintenance_mode: bool = False
    """Cluster-wide maintenance: nothing is started, stopped or monitored."""

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
