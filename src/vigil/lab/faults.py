"""Faults for the network-namespace lab, each recorded in lab.json until undone.

    f = lab.faults.poweroff("n1")      # -> a Fault record (id "f1", kind, target, ...)
    lab.faults.undo(f.id)              # power it on again (boots its etcd + agent)
    lab.faults.undo_all()

Kinds (method -> undo):

- `poweroff(node)`: links down, every process in its namespace SIGSTOPped+SIGKILLed until
  none is left, rsctmp emptied (exactly what the lab fence device does) -> power on and
  boot (addresses reset to the host's own, links up, etcd + agent started).
- `hang(node)`: SIGSTOP every process of the node -> SIGCONT them.
- `crash_agent(node)`: SIGKILL the agent process only (etcd, watchdog and resources
  live on) -> start the agent again (it adopts its etcd member and resources).
- `kill_resource(node, rid)`: SIGKILL the process group of a `process` resource (from
  its pidfile) -> nothing to undo (vigil recovers it); the record stays until undone.
- `link_down(host, link)`: the host's bridge port down (cable pulled) -> up.
- `flap_link(host, link, down_s, up_s)`: a helper process toggles the port -> stopped, up.
- `partition(groups)`: nftables in every listed host drops traffic to/from the hosts of
  the other groups (unlisted hosts, e.g. the client, reach everyone) -> tables deleted.
- `isolate_from_store(node)`: drops etcd traffic (ports 2379/2380) between the node and
  every other member, nothing else (clients and heartbeats pass) -> tables deleted.
- `asymmetric(src, dst)`: packets from src to dst dropped (at src), dst to src pass.
- `loss(host, percent, link=None)`: random loss (nftables `numgen random`) on the host's
  links (or one link), both directions; host "all": every node -> tables deleted.
- `resource_fault(rid, what, node=None)`: the lab OCF agent ocf:vigil-lab:Flaky's control
  file (`what`: monitor-fail, stop-fail, stop-hang, start-fail) -> file removed.
- `kill_etcd_leader()`: SIGKILL the etcd member that leads -> restarted (same command).

nftables tables are named `inet vigil_lab_<fault id>` inside the hosts' namespaces.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vigil.lab import netns
from vigil.lab.netns import LabError

if TYPE_CHECKING:
    from vigil.lab.netlab import NetnsLab

FLAKY = "ocf:vigil-lab:Flaky"
RESOURCE_FAULTS = ("monitor-fail", "stop-fail", "stop-hang", "start-fail")
ETCD_PORTS = "{ 2379, 2380 }"


@dataclass
class Fault:
    id: str
    kind: str
    target: str
    """The host (or hosts, comma-separated) it acts on."""
    args: dict[str, Any] = field(default_factory=dict)
    since: float = 0.0
    """time.time() when it was injected."""
    undo: dict[str, Any] = field(default_factory=dict)
    """What undoing needs (pids, tables, files)."""

    def describe(self) -> str:
        args = " ".join(f"{k}={v}" for k, v in self.args.items())
        return f"{self.id} {self.kind} {self.target}" + (f" ({args})" if args else "")


def _table(fid: str) -> str:
    return f"vigil_lab_{fid}"


class Faults:
    """Fault injection for one lab (see the module doc)."""

    def __init__(self, lab: NetnsLab) -> None:
        self.lab = lab

    # -- records ---------------------------------------------------------------------

    def active(self) -> list[Fault]:
        self.lab.reload()
        return [Fault(**f) for f in self.lab.state.faults]

    def get(self, fid: str) -> Fault:
        for f in self.active():
            if f.id == fid:
                return f
        raise LabError(f"no fault {fid} in force in lab {self.lab.name} "
                       f"(in force: {', '.join(f.id for f in self.active()) or 'none'})")

    def _record(self, kind: str, target: str, args: dict[str, Any],
                undo: dict[str, Any]) -> Fault:
        with self.lab.locked() as st:
            fault = Fault(f"f{st.next_fault}", kind, target, args, time.time(), undo)
            st.next_fault += 1
            st.faults.append(asdict(fault))
        return fault

    def _new_id(self) -> str:
        with self.lab.locked() as st:
            fid = f"f{st.next_fault}"
            st.next_fault += 1
        return fid

    def _add(self, fault: Fault) -> Fault:
        with self.lab.locked() as st:
            st.faults.append(asdict(fault))
        return fault

    def _node(self, node: str) -> str:
        if node not in self.lab.nodes + self.lab.witnesses:
            raise LabError(f"{node!r} is not a node of lab {self.lab.name} "
                           f"(nodes: {', '.join(self.lab.nodes + self.lab.witnesses)})")
        return node

    # -- power, hang, processes ------------------------------------------------------

    def fence_action(self, action: str, node: str, boot_delay: float = 0.0) -> str:
        """Run the lab fence device (`off`, `on`, `reboot`, `status`) on a node."""
        dev = self.lab.fence_device()["params"]
        lines = [f"action={action}", f"plug={node}", f"prefix={dev['prefix']}",
                 f"links={dev['links']}", f"lab_dir={dev['lab_dir']}",
                 f"boot_delay={boot_delay:g}"]
        r = subprocess.run([str(self.lab.fence_agent)], input="\n".join(lines) + "\n",
                           capture_output=True, text=True, timeout=60)
        if r.returncode not in (0, 2) or (r.returncode == 2 and action != "status"):
            raise LabError(f"fence_netns {action} {node}: {r.stderr.strip() or r.stdout}")
        return "on" if action == "status" and r.returncode == 0 else (
            "off" if action == "status" else r.stdout.strip())

    def poweroff(self, node: str) -> Fault:
        """Power a node off, as the fence device does (see the module doc)."""
        self._node(node)
        self.fence_action("off", node)
        return self._record("poweroff", node, {}, {})

    def hang(self, node: str) -> Fault:
        """SIGSTOP every process of the node (kernel still up: it keeps answering ARP)."""
        self._node(node)
        pids = self.lab.pids(node)
        netns.signal_all(pids, signal.SIGSTOP)
        return self._record("hang", node, {}, {"pids": pids})

    def crash_agent(self, node: str) -> Fault:
        """SIGKILL the agent process only."""
        self._node(node)
        pid = self.lab.agent_pid(node)
        if pid is None:
            raise LabError(f"the agent of {node} is not running")
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while self.lab.agent_pid(node) == pid and time.monotonic() < deadline:
            time.sleep(0.005)
        return self._record("crash-agent", node, {}, {"pid": pid})

    def kill_resource(self, node: str, rid: str) -> Fault:
        """SIGKILL the process group of `process` resource `rid` on `node`."""
        self._node(node)
        pidfile = self.lab.state_dir(node) / "run" / f"{rid}.pid"
        try:
            pid = int(pidfile.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            raise LabError(f"{rid} does not run on {node} ({pidfile} missing)") from None
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return self._record("kill-resource", node, {"resource": rid}, {"pid": pid})

    def kill_etcd_leader(self) -> Fault:
        """SIGKILL the etcd member that is leader now."""
        leader = self.lab.etcd_leader()
        if leader is None:
            raise LabError("no etcd leader found (is the store up?)")
        pid = self.lab.etcd_pid(leader)
        if pid is None:
            raise LabError(f"etcd of {leader} is not running")
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1]
        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        os.kill(pid, signal.SIGKILL)
        return self._record("kill-etcd-leader", leader, {}, {
            "pid": pid, "argv": [a.decode() for a in argv],
            "env": [e.decode() for e in env if b"=" in e]})

    # -- links -----------------------------------------------------------------------

    def _port(self, host: str, link: int) -> str:
        if link not in self.lab.host_links(host):
            raise LabError(f"host {host} is not on link {link} (links: "
                           f"{', '.join(map(str, self.lab.host_links(host)))})")
        return self.lab.switch_port(host, link)

    def link_down(self, host: str, link: int = 1) -> Fault:
        """Take a host's link down at the switch (its interface loses carrier)."""
        port = self._port(host, link)
        netns.ip("link", "set", port, "down", ns=self.lab.switch_ns)
        return self._record("link-down", host, {"link": link}, {"port": port})

    def flap_link(self, host: str, link: int = 1, down_s: float = 0.5,
                  up_s: float = 0.5, count: int = 0) -> Fault:
        """Toggle a host's link: down for `down_s`, up for `up_s`, `count` times (0:
        until undone), in a background helper; returns at once."""
        port = self._port(host, link)
        sw = self.lab.switch_ns
        head = f"i=0; while [ $i -lt {count} ]; do i=$((i+1)); " if count else "while :; do "
        loop = (f"{head}ip -n {sw} link set {port} down; sleep {down_s:g}; "
                f"ip -n {sw} link set {port} up; sleep {up_s:g}; done")
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
               "VIGIL_LAB_NODE": self.lab.tag("flapper")}  # so `down` finds it, always
        with open(self.lab.dir / "flap.log", "ab") as log:
            proc = subprocess.Popen(["sh", "-c", loop], stdin=subprocess.DEVNULL, env=env,
                                    stdout=log, stderr=log, start_new_session=True)
        args = {"link": link, "down_s": down_s, "up_s": up_s} | ({"count": count} if count else {})
        return self._record("flap-link", host, args,
                            {"port": port, "pid": proc.pid})

    # -- nftables --------------------------------------------------------------------

    def _nft(self, fid: str, host: str, rules_in: list[str], rules_out: list[str]) -> None:
        script = (f"table inet {_table(fid)} {{\n"
                  "  chain input {\n    type filter hook input priority -10; policy accept;\n"
                  + "".join(f"    {r}\n" for r in rules_in) + "  }\n"
                  "  chain output {\n    type filter hook output priority -10; policy accept;\n"
                  + "".join(f"    {r}\n" for r in rules_out) + "  }\n}\n")
        netns.nft(script, self.lab.ns(host))

    def _addrs(self, hosts: list[str]) -> str:
        return "{ " + ", ".join(a for h in hosts for a in self.lab.addresses(h)) + " }"

    def _nft_fault(self, kind: str, target: str, args: dict[str, Any],
                   rules: dict[str, tuple[list[str], list[str]]]) -> Fault:
        fid = self._new_id()
        done: list[str] = []
        try:
            for host, (rin, rout) in rules.items():
                self._nft(fid, host, rin, rout)
                done.append(host)
        except BaseException:
            for host in done:
                netns.sh("ip", "netns", "exec", self.lab.ns(host), "nft", "delete", "table",
                         "inet", _table(fid), check=False)
            raise
        return self._add(Fault(fid, kind, target, args, time.time(),
                               {"tables": {h: _table(fid) for h in done}}))

    def partition(self, groups: list[list[str]]) -> Fault:
        """Split hosts into groups that cannot talk to each other (hosts in no group,
        such as the client, still reach everyone)."""
        listed = [h for g in groups for h in g]
        for h in listed:
            self.lab.ns(h)
        if len(set(listed)) != len(listed) or len(groups) < 2:
            raise LabError("partition: give at least two groups, each host in one group")
        rules: dict[str, tuple[list[str], list[str]]] = {}
        for i, group in enumerate(groups):
            others = [h for j, g in enumerate(groups) if j != i for h in g]
            addrs = self._addrs(others)
            for h in group:
                rules[h] = ([f"ip saddr {addrs} drop"], [f"ip daddr {addrs} drop"])
        target = "|".join(",".join(g) for g in groups)
        return self._nft_fault("partition", target, {"groups": groups}, rules)

    def isolate_from_store(self, node: str) -> Fault:
        """Cut the node from the store (etcd traffic with every other member) only."""
        self._node(node)
        others = [h for h in self.lab.nodes + self.lab.witnesses if h != node]
        addrs = self._addrs(others)
        rin = [f"ip saddr {addrs} tcp dport {ETCD_PORTS} drop",
               f"ip saddr {addrs} tcp sport {ETCD_PORTS} drop"]
        rout = [f"ip daddr {addrs} tcp dport {ETCD_PORTS} drop",
                f"ip daddr {addrs} tcp sport {ETCD_PORTS} drop"]
        return self._nft_fault("isolate-from-store", node, {}, {node: (rin, rout)})

    def asymmetric(self, src: str, dst: str) -> Fault:
        """Packets from `src` to `dst` are dropped; `dst` to `src` pass."""
        self.lab.ns(src)
        self.lab.ns(dst)
        return self._nft_fault("asymmetric", f"{src}->{dst}", {"src": src, "dst": dst},
                               {src: ([], [f"ip daddr {self._addrs([dst])} drop"])})

    def loss(self, host: str, percent: int, link: int | None = None) -> Fault:
        """Drop `percent` % of the host's packets, in and out (one link or all). `host`
        "all": every node host (each drops its own share: a packet between two nodes
        crosses two filters)."""
        if not 0 < percent <= 100:
            raise LabError(f"loss: percent {percent} is not in (0, 100]")
        hosts = self.lab.nodes if host == "all" else [host]
        rules: dict[str, tuple[list[str], list[str]]] = {}
        for h in hosts:
            links = [link] if link else self.lab.host_links(h)
            for k in links:
                self._port(h, k)
            nics = "{ " + ", ".join(f'"{self.lab.nic(k)}"' for k in links) + " }"
            rules[h] = ([f"iifname {nics} numgen random mod 100 < {percent} drop"],
                        [f"oifname {nics} numgen random mod 100 < {percent} drop"])
        args: dict[str, Any] = {"percent": percent}
        if link:
            args["link"] = link
        return self._nft_fault("loss", host, args, rules)

    # -- resources -------------------------------------------------------------------

    def resource_fault(self, rid: str, what: str, node: str | None = None) -> Fault:
        """Make ocf:vigil-lab:Flaky resource `rid` misbehave (on one node, or any)."""
        if what not in RESOURCE_FAULTS:
            raise LabError(f"resource fault {what!r}: one of {', '.join(RESOURCE_FAULTS)}")
        if node is not None:
            self._node(node)
        agents = self._agents()
        if rid not in agents:
            raise LabError(f"no resource {rid!r} in {self.lab.config_path} "
                           f"(resources: {', '.join(agents) or 'none'})")
        if agents[rid] != FLAKY:
            raise LabError(f"{rid} runs {agents[rid]}; resource faults need agent {FLAKY} "
                           "(its actions read the lab's control files)")
        name = f"{rid}@{node}.{what}" if node else f"{rid}.{what}"
        path = self.lab.control_dir / name
        self.lab.control_dir.mkdir(parents=True, exist_ok=True)
        path.touch()
        args = {"resource": rid, "what": what} | ({"node": node} if node else {})
        return self._record(f"resource-{what}", node or "*", args, {"file": str(path)})

    def _agents(self) -> dict[str, str]:
        from vigil.model.load import load_config_file
        return {r.id: r.agent for r in load_config_file(self.lab.config_path).resources}

    # -- undo ------------------------------------------------------------------------

    def undo(self, fid: str) -> Fault:
        """Undo one fault in force and forget it."""
        fault = self.get(fid)
        _undo(self.lab, self, fault)
        with self.lab.locked() as st:
            st.faults = [f for f in st.faults if f["id"] != fid]
        return fault

    def undo_all(self) -> list[Fault]:
        """Undo every fault in force, newest first."""
        return [self.undo(f.id) for f in reversed(self.active())]

    def _undo_matching(self, kinds: tuple[str, ...], target: str | None = None,
                       link: int | None = None) -> list[Fault]:
        undone = []
        for f in reversed(self.active()):
            if f.kind in kinds and (target is None or f.target == target) and (
                    link is None or f.args.get("link") == link):
                undone.append(self.undo(f.id))
        return undone

    # -- the opposite actions, for drills (each also forgets the matching fault) --------

    def power_on(self, node: str) -> None:
        """Power a node on (links up, addresses reset, etcd + agent booted)."""
        if not self._undo_matching(("poweroff",), node):
            self.fence_action("on", self._node(node))

    def resume(self, node: str) -> None:
        """SIGCONT every process of a hung node."""
        if not self._undo_matching(("hang",), node):
            netns.signal_all(self.lab.pids(self._node(node)), signal.SIGCONT)

    def start_agent(self, node: str) -> None:
        """Start a node's agent again if it is not running (after crash_agent/stop_node)."""
        if (not self._undo_matching(("crash-agent", "stop-node"), node)
                and self.lab.agent_pid(self._node(node)) is None):
            self.lab.boot(node)

    def link_up(self, host: str, link: int = 1) -> None:
        if not self._undo_matching(("link-down", "flap-link"), host, link):
            netns.ip("link", "set", self._port(host, link), "up", ns=self.lab.switch_ns)

    def heal(self) -> list[Fault]:
        """Undo every network fault: partitions, store isolation, asymmetric, loss,
        links down, flapping links."""
        return self._undo_matching(("partition", "isolate-from-store", "asymmetric", "loss",
                                    "link-down", "flap-link"))

    def stop_node(self, node: str) -> Fault:
        """The planned way out: SIGTERM to the agent (resources move away first).
        Returns at once; undo (or start_agent) boots it again."""
        self._node(node)
        pid = self.lab.agent_pid(node)
        if pid is None:
            raise LabError(f"the agent of {node} is not running")
        os.kill(pid, signal.SIGTERM)
        return self._record("stop-node", node, {}, {"pid": pid})


def _undo(lab: NetnsLab, faults: Faults, fault: Fault) -> None:
    u = fault.undo
    kind = fault.kind
    if kind == "poweroff":
        faults.fence_action("on", fault.target)
    elif kind == "hang":
        netns.signal_all(sorted(set(u.get("pids", [])) | set(lab.pids(fault.target))),
                         signal.SIGCONT)
    elif kind in ("crash-agent", "stop-node"):
        if kind == "stop-node":  # wait for the planned stop to finish before booting
            deadline = time.monotonic() + 120
            while lab.agent_pid(fault.target) is not None and time.monotonic() < deadline:
                time.sleep(0.1)
        # A crashed agent's node still runs (etcd, watchdog): boot only if it does (not
        # when it was powered off meanwhile). A planned stop leaves nothing: always boot.
        if lab.agent_pid(fault.target) is None and (kind == "stop-node"
                                                   or lab.pids(fault.target)):
            lab.boot(fault.target)
    elif kind == "kill-etcd-leader":
        if lab.etcd_pid(fault.target) is None and lab.pids(fault.target):
            env = dict(e.split("=", 1) for e in u["env"])
            with open(lab.state_dir(fault.target) / "etcd-restarted.log", "ab") as log:
                lab.popen(fault.target, list(u["argv"]), env=env, stdin=subprocess.DEVNULL,
                          stdout=log, stderr=log)
    elif kind == "link-down":
        netns.ip("link", "set", u["port"], "up", ns=lab.switch_ns, check=False)
    elif kind == "flap-link":
        with contextlib.suppress(ProcessLookupError):
            os.killpg(u["pid"], signal.SIGKILL)
        netns.ip("link", "set", u["port"], "up", ns=lab.switch_ns, check=False)
    elif "tables" in u:
        for host, table in u["tables"].items():
            if netns.exists(lab.ns(host)):
                netns.sh("ip", "netns", "exec", lab.ns(host), "nft", "delete", "table",
                         "inet", table, check=False)
    elif "file" in u:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(u["file"])


def stop_helpers(lab: NetnsLab) -> None:
    """Kill fault helper processes (flappers) of a lab being torn down."""
    for f in lab.state.faults:
        if f["kind"] == "flap-link" and "pid" in f.get("undo", {}):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(f["undo"]["pid"], signal.SIGKILL)
    with contextlib.suppress(Exception), lab.locked() as st:
        st.faults = []


def parse_groups(text: str) -> list[list[str]]:
    """'n1,n2|n3' -> [['n1', 'n2'], ['n3']]."""
    return [[h.strip() for h in g.split(",") if h.strip()] for g in text.split("|")]


def quote(argv: list[str]) -> str:
    return " ".join(shlex.quote(a) for a in argv)
