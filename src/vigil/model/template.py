"""The starting config `vigil init` writes: commented, valid, and easy to extend.

Conventions that make the file safe to edit: explanations sit at column 0 or at the end
of a line, and every *indented* commented line is a default or an example that stays
valid when uncommented (the tests uncomment them all and load the result).
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections import Counter

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from vigil.model.config import NodeConfig, StoreConfig, Timings
from vigil.model.durations import format_duration
from vigil.model.load import ConfigInvalid, Problem, load_config_text

_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/-]*")

# Ports of the i-th node on a shared address (a one-machine test cluster): the etcd
# ports step by 10 so one node's client and peer ports never meet the next node's.
_API_STEP = 1
_ETCD_STEP = 10

_TIMING_NOTES = {
    "lease_ttl": "whole seconds; a node that cannot renew its lease is lost",
    "keepalive_interval": "at most lease_ttl / 3",
    "lease_margin": "stop resources when this much of the lease is left",
    "self_fence_timeout": "then a lost node's resources count as stopped",
    "shutdown_timeout": "wait for resources to move away on shutdown",
    "start_timeout": "default operation timeouts for resources",
    "monitor_interval": "0 disables recurring monitors",
}


def _safety_section(key_file: str, first: str) -> str:
    key = f"  key_file: {key_file}" if key_file else "  # key_file: /etc/vigil/cluster.key"
    return "\n".join([
        "# Direct heartbeats between the agents over every link (UDP, authenticated with",
        "# the cluster key): a node silent on all links for `timeout` is suspected at once,",
        "# and fenced when fencing is configured, without waiting for its lease.",
        "heartbeat:",
        key,
        "  # port: 7410",
        "  # interval: 100ms",
        "  # timeout: 500ms",
        "",
        "# Fence devices (any fence-agents program) and, per node, levels tried in order.",
        "# Without a device the cluster relies on self-fencing: a lost node's resources",
        "# move once its lease expired plus self_fence_timeout.",
        "fencing:",
        "  # action: reboot",
        "  devices:",
        "    # - id: ipmi-" + first,
        "    #   agent: fence_ipmilan",
        "    #   params: {ip: 10.0.1.11, username: admin, lanplus: 1}",
        "    #   secret_files: {password: /etc/vigil/ipmi.password}   # chmod 600",
        "    #   hosts: [" + first + "]",
        "  levels:",
        "    # " + first + ": [[ipmi-" + first + "]]",
        "",
        "# The watchdog kills this node's resources when its agent dies or hangs.",
        "watchdog:",
        "  # timeout: 2s",
        "  # device: /dev/watchdog    # a kernel watchdog as well (reboots if a kill fails)",
        "",
        "# no_quorum_policy: stop       # freeze needs fencing for every node",
        "",
    ])


def init_config(
    cluster: str,
    nodes: list[tuple[str, str]],
    store: str = "embedded",
    endpoints: list[str] | None = None,
    key_file: str = "",
) -> str:
    """A commented starting config for `cluster` with `nodes` as (name, address) pairs.

    `store` is "embedded" (an etcd member in every agent) or "external" (the etcd cluster
    at `endpoints`). The result is checked with the loader, so bad arguments raise
    `vigil.model.load.ConfigInvalid` naming the field (e.g. `nodes[1].address`), with
    file "vigil init" and no line: the generated text's lines mean nothing to the caller.
    """
    embedded = store == "embedded"
    sections = [
        _header(cluster),
        _nodes_section(nodes, embedded),
        _store_section(store, endpoints or []),
        _timings_section(),
        _resources_section(),
        _constraints_section(nodes[0][0] if nodes else "n1"),
        _safety_section(key_file, nodes[0][0] if nodes else "n1"),
    ]
    text = "\n".join(sections)
    try:
        load_config_text(text)
    except ConfigInvalid as exc:
        raise ConfigInvalid(
            [Problem("vigil init", None, None, p.field, p.message) for p in exc.problems]
        ) from None
    return text


def _header(cluster: str) -> str:
    return f"""\
# vigil cluster configuration.
# Durations: 500ms, 2s, 1.5s, 1m, 1h (a plain number means seconds).
# Scores: whole numbers, or INFINITY / -INFINITY.
# Indented commented lines show defaults and examples: uncomment them to use them.

cluster: {_scalar(cluster)}
"""


def _nodes_section(nodes: list[tuple[str, str]], embedded: bool) -> str:
    lines = [
        "# Every machine that runs the vigil agent. Other nodes connect to `address`: the",
        "# node's API listens there (and its etcd member, with the embedded store).",
        "nodes:",
    ]
    sharing = Counter(_address_key(address) for _, address in nodes)
    seen: Counter[str] = Counter()
    for name, address in nodes:
        key = _address_key(address)
        # Nodes alone on their address keep the default ports; nodes sharing one (a
        # test cluster on one machine) each get their own.
        i = seen[key] if sharing[key] > 1 else 0
        seen[key] += 1
        lines += [
            f"  - name: {_scalar(name)}",
            f"    address: {_scalar(address)}",
            f"    api_port: {NodeConfig.api_port + _API_STEP * i}",
        ]
        if embedded:
            lines += [
                f"    etcd_client_port: {NodeConfig.etcd_client_port + _ETCD_STEP * i}",
                f"    etcd_peer_port: {NodeConfig.etcd_peer_port + _ETCD_STEP * i}",
            ]
    return "\n".join(lines) + "\n"


def _address_key(address: str) -> str:
    try:
        return str(ipaddress.ip_address(address.strip()))
    except ValueError:
        return address  # the loader reports it


def _store_section(store: str, endpoints: list[str]) -> str:
    default = StoreConfig()
    if store == "embedded":
        lines = [
            "# Where the cluster's state lives: etcd. `embedded` runs one etcd member inside",
            "# every agent; `external` uses an existing etcd cluster (give its endpoints).",
            "store:",
            "  type: embedded",
        ]
        if endpoints:  # not silently dropped: the loader says they need `external`
            lines.append(f"  endpoints: [{', '.join(_scalar(url) for url in endpoints)}]")
        etcd_note = "etcd's own timing"
    else:
        urls = ", ".join(_scalar(url) for url in endpoints)
        lines = [
            "# Where the cluster's state lives: an existing etcd cluster.",
            "store:",
            f"  type: {_scalar(store)}",
            f"  endpoints: [{urls}]",
        ]
        etcd_note = "as your etcd's --heartbeat-interval"
    hb = format_duration(default.etcd_heartbeat_interval)
    election = format_duration(default.etcd_election_timeout)
    settings = [
        (f"  # prefix: {default.prefix}", "keys live under <prefix>/<cluster>/"),
        (f"  # etcd_heartbeat_interval: {hb}", etcd_note),
        (f"  # etcd_election_timeout: {election}", "at least 5 x the heartbeat interval"),
        (f"  # request_timeout: {format_duration(default.request_timeout)}", ""),
    ]
    lines += [_with_note(setting, note) for setting, note in settings]
    return "\n".join(lines) + "\n"


def _timings_section() -> str:
    lines = [
        "# Membership and default operation timings (the defaults are shown). vigil refuses",
        "# timings that cannot work: keepalive_interval <= lease_ttl / 3,",
        "# keepalive_interval + lease_margin < lease_ttl, and",
        "# lease_ttl >= 1.5 x store.etcd_election_timeout (etcd lengthens shorter leases).",
        "timings:",
    ]
    default = Timings()
    for name, seconds in vars(default).items():
        setting = f"  # {name}: {format_duration(seconds)}"
        lines.append(_with_note(setting, _TIMING_NOTES.get(name, "")))
    return "\n".join(lines) + "\n"


def _with_note(setting: str, note: str) -> str:
    return f"{setting:<36}# {note}" if note else setting


def _resources_section() -> str:
    return """\
# The services vigil keeps running. agent: process (a long-running command, built in)
# or ocf:<provider>:<type> (an OCF resource agent, e.g. from the resource-agents package).
# Operation timeouts default to the timings above.
resources:
  # - id: web
  #   agent: process
  #   params: {command: "python3 -m http.server 8080"}
  #   operations:
  #     monitor: {interval: 10s, timeout: 20s}
  #   meta:
  #     stickiness: 100           # how strongly it prefers to stay where it runs
  #     migration_threshold: 3    # move away from a node after 3 failures there
  #     failure_timeout: 10m      # forget failures after this long (0: never)
  #     target_role: Started      # Stopped keeps it stopped
  # - id: ip
  #   agent: ocf:heartbeat:Dummy
"""


def _constraints_section(node: str) -> str:
    return f"""\
# Rules between resources and nodes. Scores add up; INFINITY means must, -INFINITY never.
constraints:
  location:
    # - {{resource: web, node: {_scalar(node)}, score: 100}}         # prefer this node
  colocation:
    # - {{resource: web, with: ip, score: INFINITY}}  # web runs where ip runs
  order:
    # - {{first: ip, then: web}}                      # start ip before web, stop web first
"""


def _scalar(value: str) -> str:
    """`value` as a YAML scalar that loads back as the same string."""
    if _PLAIN.fullmatch(value):
        try:
            if YAML(typ="safe").load(value) == value:
                return value
        except YAMLError:
            pass
    # A JSON string is a valid YAML double-quoted scalar.
    return json.dumps(value, ensure_ascii=False)
