"""What a drill is: its lab setup, its steps and the outcomes it expects."""

from __future__ import annotations

from dataclasses import dataclass, field

FAULTS = (
    "power-off", "hang", "agent-crash", "resource-kill", "link-down", "flap", "partition",
    "isolate-store", "asymmetric", "loss", "monitor-fail", "stop-fail", "stop-hang",
    "kill-etcd-leader",
)
"""Faults a step may inject; each one names its undo in `HEALS`."""

HEALS = {
    "power-off": "power the node on again (its etcd member and agent restart)",
    "hang": "resume its processes (SIGCONT)",
    "agent-crash": "start the agent again",
    "link-down": "bring the link up",
    "flap": "stop flapping, link up",
    "partition": "remove the partition",
    "isolate-store": "let the node reach the store again",
    "asymmetric": "remove the one-way drop",
    "loss": "stop dropping packets",
    "monitor-fail": "let the monitor succeed again",
    "stop-fail": "let stop succeed again",
    "stop-hang": "let stop return again",
    "kill-etcd-leader": "restart the killed etcd member",
    "all": "undo every fault still in place",
}

ACTIONS = ("move", "clear", "standby", "unstandby", "stop-node", "start-node", "cleanup")
"""Planned operator actions (`vigil resource move`, `vigil node standby`, SIGTERM ...)."""

CONDITIONS = ("serving", "settled", "running", "all-running", "node-online", "node-offline",
              "fenced", "not-serving", "moved-from")
"""What an `until:` step waits for: serving (the client got answers, from `node` if
given), settled (the DC has nothing left to do), running (`resource`, on `node` if given),
all-running, node-online, node-offline (lost its lease, fenced or being fenced), fenced
(`node` was fenced during the drill), not-serving, moved-from (the client is served by a
node other than `node`, which holds no VIP)."""

SELECTORS = ("owner", "dc", "etcd-leader", "other", "not-dc", "not-etcd-leader")
"""Node selectors besides node names and `$variables`, resolved when the step runs:
owner = where the service runs; other = a node that is neither owner nor DC (else any
node but the owner); not-dc / not-etcd-leader = the first node that is not that one."""


@dataclass(frozen=True)
class Setup:
    nodes: int = 3
    witness: bool = False
    links: int = 2
    fencing: bool = True
    config: str | None = None
    """Config fragment (resources, constraints, timings ...); None: the standard web
    service (VIP + lab service, colocated and ordered)."""
    config_line: int | None = None
    """Line of the fragment's first line in the drill file (to place its problems)."""
    service: str = "web"
    vip: str = "vip"
    timeout: float = 240.0
    """The whole drill's deadline (steps included)."""


@dataclass(frozen=True)
class Step:
    kind: str
    """wait | until | fault | heal | do."""
    what: str
    """The duration text (wait), condition, fault, heal or action name."""
    seconds: float = 0.0
    """wait: how long; until: the timeout."""
    node: str | None = None
    resource: str | None = None
    link: int | None = None
    groups: tuple[tuple[str, ...], ...] = ()
    percent: int | None = None
    period: float | None = None
    count: int | None = None
    mark: str = ""
    save_as: str | None = None
    line: int | None = None

    def describe(self) -> str:
        if self.kind == "wait":
            return f"wait {self.seconds:g}s"
        bits = [f"{self.kind} {self.what}"]
        if self.node:
            bits.append(f"node={self.node}")
        if self.resource:
            bits.append(f"resource={self.resource}")
        if self.link is not None:
            bits.append(f"link={self.link}")
        if self.groups:
            bits.append("groups=" + "|".join(",".join(g) for g in self.groups))
        if self.percent is not None:
            bits.append(f"{self.percent}%")
        if self.kind == "until":
            bits.append(f"(timeout {self.seconds:g}s)")
        return " ".join(bits)


@dataclass(frozen=True)
class Expectation:
    kind: str
    args: dict[str, object] = field(default_factory=dict)
    line: int | None = None

    def describe(self) -> str:
        if not self.args:
            return self.kind
        inner = ", ".join(f"{k}: {v}" for k, v in self.args.items())
        return f"{self.kind} ({inner})"


EXPECTATIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # kind: (required args, optional args)
    "never_split": ((), ()),
    "outage": (("at_most",), ("after", "until")),
    "no_outage": ((), ("after", "until")),
    "availability": (("at_least",), ("after", "until")),
    "owner_unchanged": ((), ("after", "until")),
    "ends_on": (("node",), ("resource",)),
    "ends_not_on": (("node",), ("resource",)),
    "fenced": (("node",), ()),
    "not_fenced": ((), ("node",)),
    "all_running": ((), ()),
    "never_serves": (("node",), ("after",)),
    "moves": (("at_most",), ("after", "until", "resource")),
}


@dataclass(frozen=True)
class Drill:
    name: str
    description: str
    setup: Setup
    steps: tuple[Step, ...]
    expect: tuple[Expectation, ...]
    tags: tuple[str, ...] = ()
    file: str = "<drill>"

    @property
    def marks(self) -> tuple[str, ...]:
        return ("start", *(s.mark for s in self.steps), "end")
