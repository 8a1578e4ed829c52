"""The network-namespace lab: test hosts as Linux network namespaces on bridges.

Layout of a lab named NAME (namespaces `vigil-lab-NAME-<host>`):

- a *switch* namespace `vigil-lab-NAME-sw` holding one bridge per link (`br1`, `br2`,
  ...). The bridges live in their own namespace, not the root one, so nothing of a lab
  is visible in (or routable from) the machine's own network, and several labs (tests,
  drills, a developer's lab) can use the same addresses side by side;
- node hosts `n1`..`nN`, on every link: interface `eth<k>` with 198.18.<k>.<10+i>/24;
- an optional witness `w1` (etcd member only, `vigil witness`), link 1: 198.18.1.5;
- a client host `client`, link 1: 198.18.1.200.

Link 1 carries the store, the API and the service; links 2.. carry heartbeats only.
The default VIP is 198.18.1.100 (198.18.1.101 a second one). Every node host runs
`vigil agent` (which runs the node's embedded etcd member), started by the host's
`boot.sh` inside its namespace in its own session, with VIGIL_LAB_NODE=NAME/<host>;
logs and state dirs under the lab dir. `lab.json` in the lab dir records the lab and
the faults in force, so separate CLI invocations find it.

From Python (root):

    lab = NetnsLab.create(Path("/dev/shm/vigil-lab/t1"), name="t1", nodes=3)
    lab.up()                       # hosts, bridges, config, processes
    lab.wait_ready()               # every node online, a DC, settled
    lab.client().call("GET", "/v1/status")
    lab.down()

Faults: see `vigil.lab.faults` (also reachable as `lab.faults`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from vigil.cli.client import ApiUnreachable, Client
from vigil.lab import netns, queries
from vigil.lab.lab_config import EXAMPLE_CONFIG, merge
from vigil.lab.netns import TAG_VAR, LabError
from vigil.lab.netns import check_root as check_root
from vigil.lab.netns import clean_prefix as clean_prefix
from vigil.lab.netns import leftover_labs as leftover_labs

if TYPE_CHECKING:
    from vigil.lab.faults import Faults

LAB_RETRY_ON = (*queries.RETRY_ON, LabError)

T = TypeVar("T")
DEFAULT_ROOT = Path("/dev/shm/vigil-lab")
"""Lab dirs live in memory by default: etcd fsyncs every write."""
STATE_FILE = "lab.json"
_LAB_FILES = {STATE_FILE, ".lock", "lab.tmp", "cluster.yaml", "cluster.key", "control", "ocf",
              "fence_netns", "lab_service.py", "flap.log"}
"""What a lab writes in its dir besides the hosts' state dirs."""
CLIENT = "client"
API_PORT = 7400
ETCD_CLIENT_PORT = 2379
ETCD_PEER_PORT = 2380
HB_PORT = 7410
SERVICE_PORT = 80


def subnet(link: int) -> str:
    """'198.18.<link>' (a /24)."""
    return f"198.18.{link}"


@dataclass
class LabState:
    """What `lab.json` holds."""

    name: str
    dir: str
    nodes: list[str]
    witnesses: list[str]
    links: int
    fencing: bool
    boot_delay: float
    config_source: str
    faults: list[dict[str, Any]] = field(default_factory=list)
    next_fault: int = 1
    created: float = 0.0


def wait_for(what: str, predicate: Callable[[], T | None], timeout: float,
             interval: float = 0.05) -> T:
    """Poll `predicate` until it returns something true; TimeoutError names `what`."""
    return queries.wait_for(what, predicate, timeout, interval, LAB_RETRY_ON)


class LabClient(Client):
    """The vigil API client, talking from inside lab hosts: each URL is tried from its
    own namespace (a node's own API is reached from the node itself, so network faults
    between hosts do not hide it)."""

    def __init__(self, targets: list[tuple[str, str]], timeout: float = 5.0) -> None:
        super().__init__([u for _, u in targets], timeout)
        self.targets = targets

    def call(self, method: str, path: str, body: dict[str, Any] | None = None,
             timeout: float | None = None) -> dict[str, Any]:
        errors: list[str] = []
        for ns, url in self.targets:
            try:
                with netns.entered(ns):
                    return Client([url], self.timeout).call(method, path, body, timeout)
            except (ApiUnreachable, LabError) as e:
                errors.append(str(e).splitlines()[1 if "\n" in str(e) else 0].strip())
        raise ApiUnreachable("no lab node answered:\n  " + "\n  ".join(errors))


class NetnsLab(queries.ClusterQueries):
    retry_on = LAB_RETRY_ON
    def __init__(self, state: LabState) -> None:
        self.state = state
        self.dir = Path(state.dir)

    # -- construction ----------------------------------------------------------------

    @classmethod
    def create(cls, dir: Path | None = None, *, name: str = "lab", nodes: int = 3,
               witness: bool = False, links: int = 2, config: Path | str | None = None,
               fencing: bool = True, boot_delay: float = 2.0) -> NetnsLab:
        """A lab description (nothing is built until `up()`). `config`: a file path, or
        the YAML text itself; default: the lab's example (a VIP and a web service)."""
        if not name.replace("-", "").isalnum() or len(name) > 20:
            raise LabError(f"lab name {name!r}: use up to 20 letters, digits or '-'")
        if not 1 <= nodes <= 9:
            raise LabError(f"--nodes {nodes}: the lab builds 1 to 9 nodes")
        if not 1 <= links <= 4:
            raise LabError(f"--links {links}: the lab builds 1 to 4 links")
        if config is None:
            source = str(EXAMPLE_CONFIG)
        elif isinstance(config, Path) or "\n" not in config:
            source = str(Path(config).resolve())
            if not Path(source).is_file():
                raise LabError(f"--config {config}: no such file")
        else:
            source = config
        d = (dir or DEFAULT_ROOT / name).resolve()
        state = LabState(name=name, dir=str(d), nodes=[f"n{i + 1}" for i in range(nodes)],
                         witnesses=["w1"] if witness else [], links=links, fencing=fencing,
                         boot_delay=boot_delay, config_source=source, created=time.time())
        return cls(state)

    @classmethod
    def load(cls, dir: Path | None = None, name: str = "lab") -> NetnsLab:
        """The lab whose state file is in `dir` (default: the default dir of `name`)."""
        d = (dir or DEFAULT_ROOT / name).resolve()
        path = d / STATE_FILE
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            raise LabError(f"no lab in {d} ({STATE_FILE} missing); start one with "
                           "`vigil lab up`, or pass --dir") from None
        return cls(LabState(**raw))

    # -- names and addresses ----------------------------------------------------------

    @property
    def name(self) -> str:
        return self.state.name

    @property
    def prefix(self) -> str:
        return f"{netns.PREFIX}{self.name}-"

    @property
    def switch_ns(self) -> str:
        return f"{self.prefix}sw"

    @property
    def nodes(self) -> list[str]:
        return list(self.state.nodes)

    @property
    def witnesses(self) -> list[str]:
        return list(self.state.witnesses)

    @property
    def client_host(self) -> str:
        return CLIENT

    @property
    def hosts(self) -> list[str]:
        """Every host: nodes, witnesses, client."""
        return [*self.state.nodes, *self.state.witnesses, CLIENT]

    @property
    def links(self) -> int:
        return self.state.links

    def ns(self, host: str) -> str:
        """The network namespace of a host."""
        if host not in self.hosts:
            raise LabError(f"no host {host!r} in lab {self.name}; hosts: {', '.join(self.hosts)}")
        return f"{self.prefix}{host}"

    def host_links(self, host: str) -> list[int]:
        """The links a host is on (nodes: all; witness and client: link 1)."""
        return list(range(1, self.links + 1)) if host in self.state.nodes else [1]

    def address(self, host: str, link: int = 1) -> str:
        if host in self.state.nodes:
            last = 10 + self.state.nodes.index(host) + 1
        elif host in self.state.witnesses:
            last = 5 + self.state.witnesses.index(host)
        elif host == CLIENT:
            last = 200
        else:
            raise LabError(f"no host {host!r} in lab {self.name}")
        if link not in self.host_links(host):
            raise LabError(f"host {host} is not on link {link}")
        return f"{subnet(link)}.{last}"

    def addresses(self, host: str) -> list[str]:
        return [self.address(host, k) for k in self.host_links(host)]

    def nic(self, link: int = 1) -> str:
        """The interface of link `link` inside every host."""
        return f"eth{link}"

    def switch_port(self, host: str, link: int) -> str:
        """The bridge port (in the switch namespace) of a host's link."""
        return f"{host}-{link}"

    @property
    def vip(self) -> str:
        return f"{subnet(1)}.100"

    @property
    def vip2(self) -> str:
        return f"{subnet(1)}.101"

    @property
    def service_port(self) -> int:
        return SERVICE_PORT

    @property
    def service_url(self) -> str:
        return f"http://{self.vip}:{SERVICE_PORT}/"

    def api_url(self, node: str) -> str:
        """A node's API URL (reachable from inside the lab's hosts only)."""
        return f"http://{self.address(node)}:{API_PORT}"

    def etcd_url(self, node: str) -> str:
        return f"http://{self.address(node)}:{ETCD_CLIENT_PORT}"

    def state_dir(self, host: str) -> Path:
        return self.dir / host

    @property
    def config_path(self) -> Path:
        return self.dir / "cluster.yaml"

    @property
    def control_dir(self) -> Path:
        """Control files of the lab OCF agent ocf:vigil-lab:Flaky."""
        return self.dir / "control"

    @property
    def ocf_root(self) -> Path:
        return self.dir / "ocf"

    @property
    def fence_agent(self) -> Path:
        return self.dir / "fence_netns"

    def tag(self, host: str) -> str:
        return f"{self.name}/{host}"

    def service_command(self) -> str:
        return f"{sys.executable} -I -S {self.dir / 'lab_service.py'} {SERVICE_PORT}"

    def placeholders(self) -> dict[str, str]:
        return {"vip": self.vip, "vip2": self.vip2, "service": self.service_command(),
                "nic": self.nic(1), "subnet": f"{subnet(1)}.0/24",
                "port": str(SERVICE_PORT), "lab_dir": str(self.dir)}

    # -- state file ------------------------------------------------------------------

    @contextlib.contextmanager
    def locked(self) -> Iterator[LabState]:
        """Read-modify-write of lab.json under a lock (CLI invocations may overlap)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            path = self.dir / STATE_FILE
            if path.exists():
                self.state = LabState(**json.loads(path.read_text()))
            yield self.state
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(asdict(self.state), indent=2) + "\n")
            tmp.replace(path)

    def reload(self) -> None:
        path = self.dir / STATE_FILE
        if path.exists():
            self.state = LabState(**json.loads(path.read_text()))

    # -- building --------------------------------------------------------------------

    def up(self, start: bool = True) -> None:
        """Build hosts, bridges and files, then boot every node (and witness). Leftovers
        of an earlier lab with the same name are removed first. On failure, everything
        built so far is torn down again."""
        from vigil.lab.lab_build import build_network, write_files
        check_root()
        clean_prefix(self.prefix)
        self._forget_previous_run()
        try:
            build_network(self)
            write_files(self)
            with self.locked():
                pass
            if start:
                for host in [*self.state.nodes, *self.state.witnesses]:
                    self.boot(host)
        except BaseException:
            self.down(remove=False)
            raise

    def _forget_previous_run(self) -> None:
        """A new lab is a new cluster: remove what an earlier lab left in this dir (etcd
        data and stored config in the state dirs, faults, keys), and only that."""
        if not self.dir.is_dir():
            return
        for entry in self.dir.iterdir():
            host_dir = entry.is_dir() and ((entry / "boot.sh").exists() or entry.name == CLIENT)
            if entry.name not in _LAB_FILES and not host_dir:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)

    def fence_device(self) -> dict[str, Any]:
        return {
            "id": "lab", "agent": str(self.fence_agent),
            "params": {"prefix": self.prefix, "links": str(self.links),
                       "lab_dir": str(self.dir), "boot_delay": f"{self.state.boot_delay:g}"},
            "host_map": {n: n for n in self.state.nodes},
            "timeout": "10s",
        }

    def config_text(self) -> str:
        """The merged cluster config (see vigil.lab.lab_config)."""
        src = self.state.config_source
        text = Path(src).read_text() if "\n" not in src else src
        nodes: list[dict[str, Any]] = []
        for n in [*self.state.nodes, *self.state.witnesses]:
            entry: dict[str, Any] = {"name": n, "address": self.address(n)}
            if n in self.state.witnesses:
                entry["role"] = "witness"
            else:
                entry["links"] = self.addresses(n)
            nodes.append(entry)
        return merge(text, nodes=nodes, key_file=str(self.dir / "cluster.key"),
                     hb_port=HB_PORT,
                     fence_device=self.fence_device() if self.state.fencing else None,
                     values=self.placeholders(), source=src if "\n" not in src else "<config>")

    # -- processes -------------------------------------------------------------------

    def boot(self, host: str) -> None:
        """Start a node's (or witness's) agent, as its boot would."""
        netns.sh(str(self.state_dir(host) / "boot.sh"))

    def agent_pid(self, host: str) -> int | None:
        """The pid of the host's agent (or witness) process, if it runs."""
        try:
            pid = int((self.state_dir(host) / "agent.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        try:
            env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return None
        if state in ("Z", "X"):  # killed, not reaped yet
            return None
        return pid if f"{TAG_VAR}={self.tag(host)}".encode() in env else None

    def pids(self, host: str) -> list[int]:
        """Every process in the host's namespace."""
        return netns.pids(self.ns(host))

    def etcd_pid(self, host: str) -> int | None:
        for pid in self.pids(host):
            with contextlib.suppress(OSError):
                if Path(f"/proc/{pid}/comm").read_text().strip() == "etcd":
                    return pid
        return None

    def popen(self, host: str, argv: list[str], **kw: Any) -> subprocess.Popen[bytes]:
        """Start a command inside a host (`ip netns exec`), in its own session."""
        env = dict(os.environ) | {TAG_VAR: self.tag(host)}
        return subprocess.Popen(["ip", "netns", "exec", self.ns(host), *argv],
                                env=kw.pop("env", env), start_new_session=True, **kw)

    def exec(self, host: str, argv: list[str], timeout: float = 60.0,
             check: bool = False) -> subprocess.CompletedProcess[str]:
        """Run a command inside a host and wait for it (output captured as text)."""
        env = dict(os.environ) | self.cli_env(host)
        result = subprocess.run(["ip", "netns", "exec", self.ns(host), *argv], env=env,
                                capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise LabError(f"{host}: `{' '.join(argv)}` failed ({result.returncode}): "
                           f"{result.stderr.strip()}")
        return result

    def cli_env(self, host: str) -> dict[str, str]:
        """Environment for `vigil` commands run inside a host: the host's own API first."""
        urls = [self.api_url(n) for n in self.state.nodes]
        if host in self.state.nodes:
            urls.remove(self.api_url(host))
            urls.insert(0, self.api_url(host))
        path = f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}"
        return {"VIGIL_API": ",".join(urls), "VIGIL_CONFIG": str(self.config_path),
                TAG_VAR: self.tag(host), "PATH": path}

    @contextlib.contextmanager
    def entered(self, host: str) -> Iterator[None]:
        """Run the block with this thread inside the host's network namespace."""
        with netns.entered(self.ns(host)):
            yield

    def http_get(self, host: str, url: str, timeout: float = 1.0) -> tuple[int, str]:
        """GET `url` from inside a host: (status, body)."""
        with self.entered(host), urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read().decode(errors="replace")

    def who_serves(self, timeout: float = 1.0) -> str | None:
        """The node that answers the service through the VIP, seen from the client."""
        try:
            status, body = self.http_get(CLIENT, self.service_url, timeout)
        except (OSError, LabError):
            return None
        return body.strip() if status == 200 else None

    def vip_holders(self, ip: str | None = None) -> list[str]:
        """Hosts that have the address configured (whatever their links' state)."""
        ip = ip or self.vip
        holders = []
        for host in self.state.nodes:
            out = netns.ip("-j", "-4", "addr", "show", ns=self.ns(host), check=False)
            with contextlib.suppress(ValueError):
                if any(a.get("local") == ip for link in json.loads(out or "[]")
                       for a in link.get("addr_info", [])):
                    holders.append(host)
        return holders

    # -- the cluster's API -----------------------------------------------------------

    def client(self, node: str | None = None, timeout: float = 5.0) -> LabClient:
        """An API client. With `node`: that node's API, from inside that node. Without:
        each node in turn, each from inside itself."""
        targets = [node] if node else self.state.nodes
        return LabClient([(self.ns(n), self.api_url(n)) for n in targets], timeout)

    def status(self, node: str | None = None) -> dict[str, Any]:
        return self.client(node).call("GET", "/v1/status")

    def dc(self) -> str | None:
        """The coordinator (DC) as the cluster reports it, None if none/unreachable."""
        try:
            dc = self.status().get("dc")
        except ApiUnreachable:
            return None
        return str(dc) if dc else None

    def etcd_leader(self) -> str | None:
        """The etcd leader, asked from each member (`/v3/maintenance/status`)."""
        for host in [*self.state.nodes, *self.state.witnesses]:
            try:
                with self.entered(host):
                    req = urllib.request.Request(
                        self.etcd_url(host) + "/v3/maintenance/status", data=b"{}",
                        method="POST")
                    with urllib.request.urlopen(req, timeout=0.5) as resp:
                        doc = json.loads(resp.read())
            except (OSError, ValueError, LabError):
                continue
            member, leader = doc.get("header", {}).get("member_id"), doc.get("leader")
            if not leader:
                continue
            if member == leader:
                return host
            members = self._etcd_members(host)
            return members.get(str(leader))
        return None

    def _etcd_members(self, host: str) -> dict[str, str]:
        with self.entered(host):
            req = urllib.request.Request(self.etcd_url(host) + "/v3/cluster/member/list",
                                         data=b"{}", method="POST")
            with urllib.request.urlopen(req, timeout=0.5) as resp:
                doc = json.loads(resp.read())
        return {str(m.get("ID")): str(m.get("name")) for m in doc.get("members", [])}

    def move_etcd_leader(self, node: str, timeout: float = 10.0) -> None:
        """Make `node`'s etcd member the leader (etcd's transfer-leadership, sent to the
        current leader), and wait until it is."""
        if self.etcd_leader() == node:
            return
        ids = {name: member_id for member_id, name in self._etcd_members(node).items()}
        if node not in ids:
            raise LabError(f"{node} has no etcd member")

        def moved() -> bool:
            leader = self.etcd_leader()
            if leader == node:
                return True
            if leader is None:
                return False
            with self.entered(leader):
                req = urllib.request.Request(
                    self.etcd_url(leader) + "/v3/maintenance/transfer-leadership",
                    data=json.dumps({"targetID": ids[node]}).encode(), method="POST")
                with urllib.request.urlopen(req, timeout=2.0) as resp:
                    resp.read()
            return self.etcd_leader() == node
        wait_for(f"{node} to lead etcd", moved, timeout, 0.2)

    def wait_ready(self, timeout: float = 60.0) -> dict[str, Any]:
        """Until every node is online, a DC is elected and it has nothing left to do."""
        def online() -> bool:
            doc = self.status()
            states = {n["name"]: n["state"] for n in doc["nodes"]}
            return all(states.get(n) == "online" for n in self.state.nodes)
        wait_for("every node online", online, timeout, 0.1)
        return self.wait_settled(timeout)

    def events(self, limit: int = 200) -> list[dict[str, Any]]:
        return list(self.client().call("GET", f"/v1/events?limit={limit}")["events"])

    # -- faults ----------------------------------------------------------------------

    @property
    def faults(self) -> Faults:
        """Inject and undo faults (see vigil.lab.faults.Faults)."""
        from vigil.lab.faults import Faults
        return Faults(self)

    # -- teardown --------------------------------------------------------------------

    def __enter__(self) -> NetnsLab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()

    def down(self, remove: bool = False) -> list[str]:
        """Stop every fault helper, kill every process in the lab's namespaces, delete
        the namespaces (bridges and nftables tables go with them). With `remove`, also
        delete the lab dir. Returns what was removed."""
        with contextlib.suppress(Exception):
            from vigil.lab.faults import stop_helpers
            stop_helpers(self)
        removed = clean_prefix(self.prefix)
        if remove:
            shutil.rmtree(self.dir, ignore_errors=True)
        return removed


def start_lab(dir: Path | None = None, *, name: str = "lab", nodes: int = 3,
              witness: bool = False, links: int = 2, config: Path | str | None = None,
              fencing: bool = True, boot_delay: float = 2.0, ready_timeout: float = 90.0
              ) -> NetnsLab:
    """Create, build and boot a lab, and wait until it is ready (every node online, a
    DC, settled). On any failure everything is torn down again before raising."""
    lab = NetnsLab.create(dir, name=name, nodes=nodes, witness=witness, links=links,
                          config=config, fencing=fencing, boot_delay=boot_delay)
    lab.up()
    try:
        lab.wait_ready(ready_timeout)
    except BaseException:
        lab.down()
        raise
    return lab
