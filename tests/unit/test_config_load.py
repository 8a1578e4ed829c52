from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from vigil.model.config import (
    INFINITY,
    ClusterConfig,
    ColocationConstraint,
    LocationConstraint,
    NodeConfig,
    Operations,
    OrderConstraint,
    Resource,
    ResourceMeta,
    StoreConfig,
    Timings,
)
from vigil.model.load import ConfigInvalid, Problem, load_config_file, load_config_text
from vigil.model.template import init_config

FULL = """\
cluster: demo
nodes:
  - name: n1
    address: 127.0.0.1
    api_port: 7401
    etcd_client_port: 23791
    etcd_peer_port: 23801
  - name: n2
    address: "fd00:0::2"
store:
  type: embedded
  prefix: /ha
  etcd_heartbeat_interval: 50ms
  etcd_election_timeout: 500ms
  request_timeout: 3s
timings:
  lease_ttl: 3s
  keepalive_interval: 1s
  lease_margin: 1s
  self_fence_timeout: 0
  shutdown_timeout: 2m
  start_timeout: 30s
  stop_timeout: 40s
  monitor_interval: 0
  monitor_timeout: 15
resources:
  - id: web
    agent: process
    params: {command: "python3 -m http.server 8080", port: 8080, debug: true}
    operations:
      start: {timeout: 10s}
      monitor: {interval: 2s, timeout: 5s}
    meta:
      stickiness: INFINITY
      migration_threshold: 3
      failure_timeout: 60s
      target_role: Stopped
  - id: ip
    agent: ocf:heartbeat:Dummy
constraints:
  location:
    - {id: prefer-n1, resource: web, node: n1, score: 100}
    - {resource: ip, node: n2, score: -inf}
  colocation:
    - {resource: web, with: ip, score: INFINITY}
  order:
    - {first: ip, then: web, kind: Optional, symmetrical: false}
"""

FULL_EXPECTED = ClusterConfig(
    name="demo",
    nodes=(
        NodeConfig("n1", "127.0.0.1", 7401, 23791, 23801),
        NodeConfig("n2", "fd00::2", 7400, 2379, 2380),
    ),
    store=StoreConfig("embedded", (), "/ha", 0.05, 0.5, 3.0),
    timings=Timings(
        lease_ttl=3.0,
        keepalive_interval=1.0,
        lease_margin=1.0,
        self_fence_timeout=0.0,
        shutdown_timeout=120.0,
        start_timeout=30.0,
        stop_timeout=40.0,
        monitor_interval=0.0,
        monitor_timeout=15.0,
    ),
    resources=(
        Resource(
            id="web",
            agent="process",
            params={"command": "python3 -m http.server 8080", "port": "8080", "debug": "true"},
            ops=Operations(
                start_timeout=10.0, stop_timeout=40.0, monitor_interval=2.0, monitor_timeout=5.0
            ),
            meta=ResourceMeta(INFINITY, 3, 60.0, "Stopped"),
        ),
        Resource(
            id="ip",
            agent="ocf:heartbeat:Dummy",
            params={},
            ops=Operations(30.0, 40.0, 0.0, 15.0),  # defaults come from timings
        ),
    ),
    locations=(
        LocationConstraint("prefer-n1", "web", "n1", 100),
        LocationConstraint("location-ip-n2", "ip", "n2", -INFINITY),
    ),
    colocations=(ColocationConstraint("colocation-web-ip", "web", "ip", INFINITY),),
    orders=(OrderConstraint("order-ip-web", "ip", "web", "Optional", False),),
)

MINIMAL = """\
cluster: demo
nodes:
  - {name: n1, address: 10.0.0.1}
"""


def test_full_config_loads_exactly() -> None:
    assert load_config_text(FULL) == FULL_EXPECTED


def test_minimal_config_takes_every_default() -> None:
    assert load_config_text(MINIMAL) == ClusterConfig("demo", (NodeConfig("n1", "10.0.0.1"),))


def test_empty_sections_read_as_absent() -> None:
    text = MINIMAL + "store:\ntimings:\nresources:\nconstraints:\n  location:\n"
    assert load_config_text(text) == load_config_text(MINIMAL)


def test_external_store() -> None:
    text = (
        MINIMAL + "store: {type: External, endpoints: [http://e1:2379, 'https://[fd00::5]:2379']}\n"
    )
    store = load_config_text(text).store
    assert store.mode == "external"
    assert store.endpoints == ("http://e1:2379", "https://[fd00::5]:2379")


def test_external_store_ignores_etcd_ports_of_nodes_sharing_an_address() -> None:
    text = """\
cluster: demo
nodes:
  - {name: n1, address: 127.0.0.1, api_port: 7401}
  - {name: n2, address: 127.0.0.1, api_port: 7402}
store: {type: external, endpoints: [http://127.0.0.1:2379]}
"""
    assert len(load_config_text(text).nodes) == 2


# --- one case per kind of problem ---------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    text: str
    line: int | None
    field: str
    says: tuple[str, ...]
    """Fragments the message must contain: what is wrong and the fix."""


def node_doc(extra: str) -> str:
    return MINIMAL + textwrap.dedent(extra)


WEB = MINIMAL + "resources:\n  - id: web\n    agent: process\n    params: {command: x}\n"
"""A valid config whose resource `web` (lines 5-7) cases extend."""


CASES = [
    Case("yaml syntax", "cluster: demo\nnodes: [\n", 3, "", ("invalid YAML",)),
    Case("yaml tab", "cluster: demo\nnodes:\n\t- name: n1\n", 3, "", ("not tabs",)),
    Case("duplicate key", MINIMAL + "cluster: other\n", 4, "", ("duplicate key", "cluster")),
    Case("empty file", "# nothing yet\n", None, "", ("empty", "vigil init")),
    Case("top level list", "- cluster: demo\n", 1, "", ("top level must be a mapping",)),
    Case(
        "unknown top key",
        node_doc("resourses: []\n"),
        4,
        "resourses",
        ("did you mean 'resources'?", "expected one of: cluster, nodes"),
    ),
    Case(
        "unknown meta key",
        node_doc("""\
            resources:
              - id: web
                agent: ocf:heartbeat:Dummy
                meta:
                  stickyness: 100
            """),
        8,
        "resources[web].meta.stickyness",
        (
            "unknown key 'stickyness' — did you mean 'stickiness'? expected one of:"
            " stickiness, migration_threshold, failure_timeout, target_role",
        ),
    ),
    Case(
        "alias key",
        node_doc("resources: [{id: web, type: ocf:heartbeat:Dummy}]\n"),
        4,
        "resources[web].type",
        ("did you mean 'agent'?",),
    ),
    Case(
        "missing cluster",
        "nodes: [{name: n1, address: 10.0.0.1}]\n",
        1,
        "cluster",
        ("missing required key 'cluster'", "cluster: demo"),
    ),
    Case("bad cluster name", MINIMAL.replace("demo", "Demo"), 1, "cluster", ("lowercase",)),
    Case(
        "numeric cluster name",
        MINIMAL.replace("demo", "2024"),
        1,
        "cluster",
        ("integer 2024", "quotes"),
    ),
    Case("no nodes", "cluster: demo\nnodes: []\n", 2, "nodes", ("at least one node",)),
    Case(
        "missing address",
        "cluster: demo\nnodes:\n  - name: n1\n",
        3,
        "nodes[n1].address",
        ("missing required key 'address'", "address: 10.0.0.1"),
    ),
    Case(
        "host name as address",
        MINIMAL.replace("10.0.0.1", "db1.example.com"),
        3,
        "nodes[n1].address",
        ("not an IP address", "host names are not accepted"),
    ),
    Case(
        "wildcard address",
        MINIMAL.replace("10.0.0.1", "0.0.0.0"),
        3,
        "nodes[n1].address",
        ("other nodes connect to it",),
    ),
    Case(
        "port out of range",
        MINIMAL.replace("10.0.0.1}", "10.0.0.1, api_port: 0}"),
        3,
        "nodes[n1].api_port",
        ("out of range", "1-65535"),
    ),
    Case(
        "port as text",
        MINIMAL.replace("10.0.0.1}", '10.0.0.1, api_port: "7400"}'),
        3,
        "nodes[n1].api_port",
        ("expected a port number", "the string '7400'"),
    ),
    Case(
        "node not a mapping",
        "cluster: demo\nnodes:\n  - n1\n",
        3,
        "nodes[0]",
        ("expected a mapping", "got the string 'n1'"),
    ),
    Case(
        "duplicate node name",
        MINIMAL + "  - {name: n1, address: 10.0.0.2}\n",
        4,
        "nodes[n1].name",
        ("'n1' is already used at line 3",),
    ),
    Case(
        "port clash on shared address",
        "cluster: demo\nnodes:\n  - {name: n1, address: 127.0.0.1}\n"
        "  - {name: n2, address: 127.0.0.1, api_port: 7401, etcd_peer_port: 2390}\n",
        4,
        "nodes[n2].etcd_client_port",
        ("port 2379", "already used by nodes[n1].etcd_client_port", "etcd_client_port: 2389"),
    ),
    Case(
        "port clash within a node",
        MINIMAL.replace("10.0.0.1}", "10.0.0.1, api_port: 2380}"),
        3,
        "nodes[n1].etcd_peer_port",
        ("already used by nodes[n1].api_port",),
    ),
    Case(
        "bad store type",
        node_doc("store: {type: etcd}\n"),
        4,
        "store.type",
        ("expected one of: embedded, external",),
    ),
    Case(
        "external without endpoints",
        node_doc("store: {type: external}\n"),
        4,
        "store.endpoints",
        ("needs the etcd client URLs", "endpoints: [http://"),
    ),
    Case(
        "endpoints with embedded",
        node_doc("store: {endpoints: [http://e1:2379]}\n"),
        4,
        "store.endpoints",
        ("only used with `type: external`",),
    ),
    Case(
        "bad endpoint",
        node_doc("store:\n  type: external\n  endpoints:\n    - http://e1:2379\n    - e2:2379\n"),
        8,
        "store.endpoints[1]",
        ("not a URL", "http://10.0.0.5:2379"),
    ),
    Case(
        "bad prefix",
        node_doc("store: {prefix: vigil/}\n"),
        4,
        "store.prefix",
        ("not a valid prefix", "/vigil"),
    ),
    Case(
        "store not a mapping",
        node_doc("store: embedded\n"),
        4,
        "store",
        ("expected a mapping", "store: {type: embedded}"),
    ),
    Case(
        "bad duration",
        node_doc("timings: {lease_ttl: 2 seconds}\n"),
        4,
        "timings.lease_ttl",
        ("'2 seconds' is not a duration", "500ms"),
    ),
    Case(
        "fractional lease ttl",
        node_doc("timings: {lease_ttl: 2500ms, keepalive_interval: 500ms}\n"),
        4,
        "timings.lease_ttl",
        ("whole number of seconds", "lease_ttl: 3s"),
    ),
    Case(
        "zero timeout",
        node_doc("timings:\n  stop_timeout: 0s\n"),
        5,
        "timings.stop_timeout",
        ("more than 0",),
    ),
    Case(
        "keepalive too slow",
        node_doc(
            "timings:\n  lease_ttl: 3s\n  keepalive_interval: 1500ms\n  lease_margin: 500ms\n"
        ),
        6,
        "timings.keepalive_interval",
        ("at most lease_ttl / 3", "keepalive_interval: 1s", "lease_ttl: 5s"),
    ),
    Case(
        "margin leaves no room",
        node_doc("timings:\n  lease_ttl: 2s\n  lease_margin: 1800ms\n"),
        6,
        "timings.lease_margin",
        ("keepalive_interval + lease_margin", "less than lease_ttl", "lease_ttl: 3s"),
    ),
    Case(
        "lease shorter than etcd allows",
        node_doc("store: {etcd_election_timeout: 2s}\ntimings: {lease_ttl: 2s}\n"),
        5,
        "timings.lease_ttl",
        ("1.5 x store.etcd_election_timeout", "lease_ttl: 3s", "etcd_election_timeout: 1.333s"),
    ),
    Case(
        "lease does not outlast an etcd leader election",
        node_doc("store: {etcd_election_timeout: 1s, etcd_heartbeat_interval: 100ms}\n"
                 "timings: {lease_ttl: 2s}\n"),
        5,
        "timings.lease_ttl",
        ("only 1.25s without store contact", "2 x etcd_election_timeout", "lease_ttl: 3s"),
    ),
    Case(
        "election timeout below 5 heartbeats",
        node_doc("store:\n  etcd_heartbeat_interval: 300ms\n"),
        5,
        "store.etcd_heartbeat_interval",
        ("at least 5 x etcd_heartbeat_interval", "etcd_heartbeat_interval: 100ms"),
    ),
    Case(
        "monitor interval too short",
        node_doc("""\
            resources:
              - id: web
                agent: ocf:heartbeat:Dummy
                operations: {monitor: {interval: 50ms}}
            """),
        7,
        "resources[web].operations.monitor.interval",
        ("use 0 to disable", "100ms"),
    ),
    Case(
        "unknown operation",
        node_doc("""\
            resources:
              - id: web
                agent: ocf:heartbeat:Dummy
                operations:
                  monitr: {interval: 5s}
            """),
        8,
        "resources[web].operations.monitr",
        ("did you mean 'monitor'?",),
    ),
    Case(
        "bad score",
        WEB + "    meta: {stickiness: high}\n",
        8,
        "resources[web].meta.stickiness",
        ("'high' is not a score", "INFINITY"),
    ),
    Case(
        "migration threshold zero",
        WEB + "    meta: {migration_threshold: 0}\n",
        8,
        "resources[web].meta.migration_threshold",
        ("at least 1", "INFINITY"),
    ),
    Case(
        "bad target role",
        WEB + "    meta: {target_role: Master}\n",
        8,
        "resources[web].meta.target_role",
        ("expected one of: Started, Stopped",),
    ),
    Case(
        "missing resource id",
        node_doc("resources:\n  - agent: ocf:heartbeat:Dummy\n"),
        5,
        "resources[0].id",
        ("missing required key 'id'",),
    ),
    Case(
        "duplicate resource id",
        WEB + "  - {id: web, agent: ocf:heartbeat:Dummy}\n",
        8,
        "resources[web].id",
        ("resource id 'web' is already used at line 5",),
    ),
    Case(
        "malformed ocf agent",
        node_doc("resources:\n  - {id: web, agent: 'ocf:Dummy'}\n"),
        5,
        "resources[web].agent",
        ("ocf:<provider>:<type>", "ocf:heartbeat:Dummy"),
    ),
    Case(
        "unknown agent class",
        node_doc("resources:\n  - {id: web, agent: 'lsb:nginx'}\n"),
        5,
        "resources[web].agent",
        ("unknown agent 'lsb:nginx'", "'process', 'vip' or 'ocf:<provider>:<type>'"),
    ),
    Case(
        "process without command",
        node_doc("resources:\n  - id: web\n    agent: process\n    params: {cmd: sleep 10}\n"),
        7,
        "resources[web].params.command",
        ("agent 'process' needs the command line", 'params: {command: "'),
    ),
    Case(
        "param not a scalar",
        node_doc(
            "resources:\n  - id: web\n    agent: ocf:heartbeat:Dummy\n    params: {state: [a, b]}\n"
        ),
        7,
        "resources[web].params.state",
        ("expected a single value", "a list"),
    ),
    Case(
        "constraint names missing resource",
        node_doc("""\
            resources: [{id: web, agent: ocf:heartbeat:Dummy}]
            constraints:
              location:
                - {resource: wbe, node: n1, score: 10}
            """),
        7,
        "constraints.location[0].resource",
        ("no resource named 'wbe' — did you mean 'web'?", "defined resources: web"),
    ),
    Case(
        "constraint names missing node",
        node_doc("""\
            resources: [{id: web, agent: ocf:heartbeat:Dummy}]
            constraints:
              location:
                - {id: pin, resource: web, node: n7, score: 10}
            """),
        7,
        "constraints.location[pin].node",
        ("no node named 'n7'", "defined nodes: n1"),
    ),
    Case(
        "location without score",
        node_doc("""\
            resources: [{id: web, agent: ocf:heartbeat:Dummy}]
            constraints:
              location:
                - {resource: web, node: n1}
            """),
        7,
        "constraints.location[0].score",
        ("missing required key 'score'",),
    ),
    Case(
        "colocation with itself",
        node_doc("""\
            resources: [{id: web, agent: ocf:heartbeat:Dummy}]
            constraints:
              colocation:
                - {resource: web, with: web, score: INFINITY}
            """),
        7,
        "constraints.colocation[0].with",
        ("cannot be colocated with itself",),
    ),
    Case(
        "order with itself",
        node_doc("""\
            resources: [{id: web, agent: ocf:heartbeat:Dummy}]
            constraints:
              order:
                - {first: web, then: web}
            """),
        7,
        "constraints.order[0].then",
        ("cannot be ordered after itself",),
    ),
    Case(
        "bad order kind and symmetrical",
        node_doc("""\
            resources: [{id: a, agent: ocf:heartbeat:Dummy}, {id: b, agent: ocf:heartbeat:Dummy}]
            constraints:
              order:
                - {first: a, then: b, kind: Advisory}
            """),
        7,
        "constraints.order[0].kind",
        ("expected one of: Mandatory, Optional",),
    ),
    Case(
        "order loop",
        node_doc("""\
            resources: [{id: a, agent: ocf:heartbeat:Dummy}, {id: b, agent: ocf:heartbeat:Dummy}]
            constraints:
              order:
                - {first: a, then: b}
                - {first: b, then: a}
            """),
        8,
        "constraints.order[1]",
        ("form a loop (b -> a -> b)",),
    ),
    Case(
        "duplicate default constraint id",
        node_doc("""\
            resources: [{id: web, agent: ocf:heartbeat:Dummy}]
            constraints:
              location:
                - {resource: web, node: n1, score: 10}
                - {resource: web, node: n1, score: 20}
            """),
        8,
        "constraints.location[1].id",
        ("default id 'location-web-n1'", "location-<resource>-<node>", "unique `id:`"),
    ),
    Case(
        "constraint id reuses a resource id",
        node_doc("""\
            resources: [{id: web, agent: ocf:heartbeat:Dummy}]
            constraints:
              location:
                - {id: web, resource: web, node: n1, score: 10}
            """),
        7,
        "constraints.location[web].id",
        ("id 'web' is already used by resource 'web'",),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_problem_is_reported_with_place_and_fix(case: Case) -> None:
    with pytest.raises(ConfigInvalid) as caught:
        load_config_text(case.text, "c.yaml")
    problems = caught.value.problems
    assert len(problems) == 1, "\n".join(map(str, problems))
    problem = problems[0]
    assert (problem.file, problem.line, problem.field) == ("c.yaml", case.line, case.field)
    for fragment in case.says:
        assert fragment in problem.message


def test_every_problem_is_reported_sorted_by_line() -> None:
    text = """\
cluster: Demo
nodes:
  - {name: n1, address: nowhere}
resources:
  - {id: web, agent: process, meta: {stickyness: 1}}
constraints:
  order: [{first: web, then: db}]
"""
    with pytest.raises(ConfigInvalid) as caught:
        load_config_text(text, "c.yaml")
    got = [(p.line, p.field) for p in caught.value.problems]
    assert got == [
        (1, "cluster"),
        (3, "nodes[n1].address"),
        (5, "resources[web].params.command"),
        (5, "resources[web].meta.stickyness"),
        (7, "constraints.order[0].then"),
    ]
    assert str(caught.value).splitlines()[0].startswith("c.yaml:1:10: cluster: 'Demo'")


def test_a_bad_value_is_not_reported_again_by_cross_checks() -> None:
    # The bad lease_ttl must not also trigger the keepalive and etcd inequalities.
    with pytest.raises(ConfigInvalid) as caught:
        load_config_text(node_doc("timings: {lease_ttl: soon, keepalive_interval: 1s}\n"))
    assert [p.field for p in caught.value.problems] == ["timings.lease_ttl"]


def test_problem_str_without_position() -> None:
    assert str(Problem("c.yaml", None, None, "", "no such file")) == "c.yaml: no such file"
    assert str(Problem("c.yaml", 3, 5, "nodes", "bad")) == "c.yaml:3:5: nodes: bad"


def test_load_config_file(tmp_path: Path) -> None:
    path = tmp_path / "vigil.yaml"
    path.write_text(FULL, encoding="utf-8")
    assert load_config_file(path) == FULL_EXPECTED


def test_missing_file_is_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    with pytest.raises(ConfigInvalid, match="no such file; `vigil init`") as caught:
        load_config_file(path)
    assert caught.value.problems[0].file == str(path)


def test_directory_is_a_problem(tmp_path: Path) -> None:
    with pytest.raises(ConfigInvalid, match="is a directory"):
        load_config_file(tmp_path)


def test_non_utf8_file_is_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("cluster: d\xe9mo\n".encode("latin-1"))
    with pytest.raises(ConfigInvalid, match="not UTF-8"):
        load_config_file(path)


# --- the `vigil init` template ------------------------------------------------------


def uncomment_examples(text: str) -> str:
    """Uncomment every indented commented line: defaults and examples."""
    return re.sub(r"(?m)^( +)# ", r"\1", text)


def test_init_config_loads_and_spreads_ports_on_a_shared_address() -> None:
    text = init_config("demo", [("n1", "127.0.0.1"), ("n2", "127.0.0.1"), ("n3", "10.0.0.3")])
    config = load_config_text(text)
    assert config.nodes == (
        NodeConfig("n1", "127.0.0.1", 7400, 2379, 2380),
        NodeConfig("n2", "127.0.0.1", 7401, 2389, 2390),
        NodeConfig("n3", "10.0.0.3", 7400, 2379, 2380),
    )
    assert config.timings == Timings()
    assert config.store == StoreConfig()
    assert config.resources == ()


def test_init_config_examples_are_valid_when_uncommented() -> None:
    text = init_config("demo", [("alpha", "10.0.0.1"), ("beta", "10.0.0.2")])
    config = load_config_text(uncomment_examples(text))
    assert config.timings == Timings()  # the commented timings are the defaults
    assert config.store == StoreConfig()
    assert [r.id for r in config.resources] == ["web", "ip"]
    assert config.locations == (LocationConstraint("location-web-alpha", "web", "alpha", 100),)
    assert len(config.colocations) == len(config.orders) == 1


def test_init_config_external_store() -> None:
    text = init_config("prod", [("a", "::1")], store="external", endpoints=["http://e1:2379"])
    config = load_config_text(uncomment_examples(text))
    assert config.store.mode == "external"
    assert config.store.endpoints == ("http://e1:2379",)
    assert config.nodes == (NodeConfig("a", "::1"),)
    assert "etcd_client_port" not in text


def test_init_config_rejects_bad_arguments_by_field() -> None:
    with pytest.raises(ConfigInvalid) as caught:
        init_config("demo", [("n1", "10.0.0.1"), ("n2", "not-an-ip: x")])
    problems = caught.value.problems
    assert [(p.file, p.line, p.field) for p in problems] == [
        ("vigil init", None, "nodes[n2].address")
    ]
    assert str(problems[0]).startswith("vigil init: nodes[n2].address: 'not-an-ip: x' is not")


def test_init_config_does_not_drop_endpoints_of_an_embedded_store() -> None:
    with pytest.raises(ConfigInvalid, match="only used with `type: external`"):
        init_config("demo", [("n1", "10.0.0.1")], endpoints=["http://e1:2379"])
