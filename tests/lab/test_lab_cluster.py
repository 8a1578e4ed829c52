"""The network-namespace lab with the built-in `vip` agent: one 3-node lab (2 links,
fencing with the lab fence device) for the whole module, faults injected and undone one
after another. Each test leaves the lab healed, with every node online.

The module's fixture tears the lab down even when a test fails, and checks that no
namespace, bridge, nftables table or process of it is left.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from vigil.lab import netns
from vigil.lab.lab_testing import NEEDS_NETNS, lab_fixture
from vigil.lab.netlab import NetnsLab, wait_for

pytestmark = [pytest.mark.root, pytest.mark.integration, pytest.mark.slow, NEEDS_NETNS]

CONFIG = """
cluster: labtest
store: {etcd_heartbeat_interval: 25ms, etcd_election_timeout: 250ms}
heartbeat: {interval: 50ms, timeout: 250ms}
resources:
  - id: vip
    agent: vip
    params: {ip: "${vip}", cidr_netmask: "24", nic: "${nic}"}
    operations: {monitor: {interval: 1s, timeout: 5s}}
  - id: web
    agent: process
    params: {command: "${service}", start_wait: "0.05"}
    operations: {monitor: {interval: 1s, timeout: 5s}}
  - id: flaky
    agent: ocf:vigil-lab:Flaky
    operations: {monitor: {interval: 1s, timeout: 5s}, stop: {timeout: 3s}}
constraints:
  colocation:
    - {resource: web, with: vip, score: INFINITY}
"""


@pytest.fixture(scope="module")
def lab() -> Iterator[NetnsLab]:
    yield from lab_fixture(CONFIG, "c", nodes=3, links=2, boot_delay=0.5)


def all_online(lab: NetnsLab) -> bool:
    doc = lab.status()
    return all(n["state"] == "online" for n in doc["nodes"] if n["name"] in lab.nodes)


def healed(lab: NetnsLab) -> None:
    """Undo what is left, wait for every node back and the service answering."""
    lab.faults.undo_all()
    for n in lab.nodes:  # a fenced node boots by itself; make sure nothing stays off
        if not lab.pids(n):
            lab.faults.power_on(n)
    wait_for("every node online", lambda: all_online(lab), 60, 0.2)
    wait_for("the service answering", lambda: lab.who_serves(0.5), 30, 0.1)


def served_by_other(lab: NetnsLab, victim: str, timeout: float = 15.0) -> str:
    def check() -> str | None:
        who = lab.who_serves(0.3)
        return who if who and who != victim else None
    return wait_for(f"the service answering from a node other than {victim}", check,
                    timeout, 0.02)


def test_hosts_addresses_and_service_through_the_vip(lab: NetnsLab) -> None:
    for host in lab.hosts:
        assert netns.exists(lab.ns(host))
    owner = lab.wait_running("web", 30)
    assert lab.running_on("vip") == owner
    assert lab.vip_holders() == [owner]
    # the client reaches it through the VIP (once the server listens: `start_wait` is short)
    assert wait_for("the service answering", lambda: lab.who_serves(0.5), 10, 0.05) == owner
    assert lab.etcd_leader() in lab.nodes
    assert lab.dc() in lab.nodes
    # the client host has no way out of the lab: no default route
    routes = lab.exec("client", ["ip", "route"]).stdout
    assert "default" not in routes and "198.18.1.0/24" in routes


def test_cli_exec_and_status(lab: NetnsLab) -> None:
    base = [sys.executable, "-m", "vigil", "lab"]
    where = ["--name", lab.name, "--dir", str(lab.dir)]
    out = subprocess.run([*base, "exec", *where, "n2", "--", "vigil", "status"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "Answered by n2" in out.stdout and "vip" in out.stdout
    st = subprocess.run([*base, "status", *where], capture_output=True, text=True,
                        timeout=60)
    assert st.returncode == 0, st.stderr
    assert f"served by {lab.who_serves()}" in st.stdout
    assert "Faults in force: none" in st.stdout


def test_poweroff_moves_the_service_and_power_on_brings_the_node_back(lab: NetnsLab) -> None:
    victim = lab.wait_running("web", 30)
    fault = lab.faults.poweroff(victim)
    assert lab.pids(victim) == []
    assert any(f.id == fault.id for f in lab.faults.active())
    other = served_by_other(lab, victim)
    assert other != victim
    fenced = [e for e in lab.events(50) if e["kind"].startswith("fencing")
              and victim in e["message"] and "fenced" in e["message"]]
    assert fenced, "the DC fences a silent node before recovering its service"
    lab.faults.undo(fault.id)
    wait_for(f"{victim} online again", lambda: all_online(lab), 60, 0.2)
    assert lab.faults.active() == []
    healed(lab)


def test_hang_is_fenced_and_the_hung_node_never_serves_again(lab: NetnsLab) -> None:
    victim = lab.wait_running("web", 30)
    hung_pids = set(lab.pids(victim))
    lab.faults.hang(victim)
    served_by_other(lab, victim)
    # fenced (reboot): every process that was frozen is gone
    wait_for("the hung processes killed by fencing",
             lambda: not hung_pids & set(lab.pids(victim)), 15, 0.1)
    lab.faults.resume(victim)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        assert lab.who_serves(0.3) != victim
        time.sleep(0.05)
    healed(lab)


def test_partition_minority_stops_and_majority_serves(lab: NetnsLab) -> None:
    owner = lab.wait_running("web", 30)
    rest = [n for n in lab.nodes if n != owner]
    lab.faults.partition([[owner], rest])
    other = served_by_other(lab, owner)
    assert other in rest
    # the minority node holds the VIP no more (stopped itself, or was fenced)
    wait_for(f"{owner} to drop the VIP", lambda: owner not in lab.vip_holders(), 10, 0.1)
    lab.faults.heal()
    healed(lab)
    tables = lab.exec(owner, ["nft", "list", "tables"]).stdout
    assert "vigil_lab_" not in tables


def count_answers(lab: NetnsLab, n: int, timeout: float = 1.0) -> int:
    return sum(1 for _ in range(n) if lab.who_serves(timeout))


def test_loss_really_drops_packets(lab: NetnsLab) -> None:
    assert count_answers(lab, 20) == 20
    fault = lab.faults.loss("client", 60)
    # a request needs about 8 packets to get through: with 60 % loss few succeed (a lost
    # SYN is retried after 1 s, beyond the 0.3 s timeout)
    got = count_answers(lab, 30, 0.3)
    assert got < 27, f"{got} of 30 requests answered with 60 % loss"
    lab.faults.undo(fault.id)
    assert count_answers(lab, 20) == 20
    every = lab.faults.loss("all", 30)
    assert sorted(every.undo["tables"]) == lab.nodes
    lab.faults.undo(every.id)
    for n in lab.nodes:
        assert "vigil_lab_" not in lab.exec(n, ["nft", "list", "tables"]).stdout


def test_second_link_down_is_no_failover(lab: NetnsLab) -> None:
    owner = lab.wait_running("web", 30)
    lab.faults.link_down(owner, 2)
    time.sleep(1.5)  # several heartbeat timeouts
    assert lab.running_on("web") == owner
    assert lab.who_serves() == owner
    lab.faults.link_up(owner, 2)
    assert lab.faults.active() == []


def test_flap_link_helper_toggles_and_stops(lab: NetnsLab) -> None:
    fault = lab.faults.flap_link("client", 1, down_s=0.2, up_s=0.2)
    states = set()
    for _ in range(30):
        out = netns.ip("-o", "link", "show", lab.switch_port("client", 1), ns=lab.switch_ns)
        states.add("state UP" in out or ",UP" in out.split(">")[0])
        time.sleep(0.03)
    assert states == {True, False}
    lab.faults.undo(fault.id)
    out = netns.ip("-o", "link", "show", lab.switch_port("client", 1), ns=lab.switch_ns)
    assert ",UP" in out.split(">")[0]
    healed(lab)


def udp_arrives(lab: NetnsLab, src: str, dst: str) -> bool:
    """Whether a UDP datagram from src reaches dst (a socket inside each host)."""
    got: list[bytes] = []
    with lab.entered(dst):
        rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind((lab.address(dst), 0))
    rx.settimeout(0.5)
    port = rx.getsockname()[1]

    def receive() -> None:
        with contextlib.suppress(OSError):
            got.append(rx.recv(100))
    t = threading.Thread(target=receive)
    t.start()
    with lab.entered(src):
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for _ in range(3):
        # dropped by an output rule: nftables makes sendto fail with EPERM
        with contextlib.suppress(PermissionError):
            tx.sendto(b"hello", (lab.address(dst), port))
        time.sleep(0.02)
    t.join()
    tx.close()
    rx.close()
    return bool(got)


def test_asymmetric_drops_one_direction_only(lab: NetnsLab) -> None:
    assert udp_arrives(lab, "n1", "client") and udp_arrives(lab, "client", "n1")
    fault = lab.faults.asymmetric("client", "n1")
    assert not udp_arrives(lab, "client", "n1")
    assert udp_arrives(lab, "n1", "client")
    lab.faults.undo(fault.id)
    assert udp_arrives(lab, "client", "n1")


def test_isolate_from_store_but_not_from_the_client(lab: NetnsLab) -> None:
    owner = lab.wait_running("web", 30)
    lab.faults.isolate_from_store(owner)
    # the client still reaches the isolated node's address
    assert udp_arrives(lab, "client", owner) and udp_arrives(lab, owner, "client")
    other = served_by_other(lab, owner, 20)
    assert other != owner
    lab.faults.heal()
    healed(lab)


def test_resource_monitor_failure_is_recovered(lab: NetnsLab) -> None:
    node = lab.wait_running("flaky", 30)
    fault = lab.faults.resource_fault("flaky", "monitor-fail", node)
    wait_for("a monitor failure of flaky", lambda: any(
        "flaky" in e["message"] and "monitor" in e["message"] for e in lab.events(30)
        if e["kind"] == "action" and "recover" in e["message"]), 15, 0.2)
    lab.faults.undo(fault.id)
    lab.wait_running("flaky", 30)
    lab.client().call("POST", "/v1/resources/flaky/cleanup", {})


def test_kill_etcd_leader_elects_another_and_undo_restarts_it(lab: NetnsLab) -> None:
    fault = lab.faults.kill_etcd_leader()
    old = fault.target
    assert lab.etcd_pid(old) is None
    new = wait_for("a new etcd leader", lambda: (lambda x: x if x and x != old else None)(
        lab.etcd_leader()), 10, 0.1)
    assert new != old
    assert lab.who_serves() is not None
    lab.faults.undo(fault.id)
    wait_for(f"etcd of {old} running again", lambda: lab.etcd_pid(old), 10)
    healed(lab)


def test_planned_move_the_old_node_never_claims_the_vip_again(lab: NetnsLab) -> None:
    owner = lab.wait_running("vip", 30)
    target = next(n for n in lab.nodes if n != owner)
    api = lab.client()
    try:
        api.call("POST", "/v1/resources/vip/move", {"node": target})
        wait_for("the service on the target", lambda: lab.who_serves(0.3) == target, 20, 0.02)
        # and straight back, while the target still has announcements to repeat
        api.call("POST", "/v1/resources/vip/move", {"node": owner})
        wait_for("the service back on the owner", lambda: lab.who_serves(0.3) == owner, 20,
                 0.02)
        # the target's stop cancelled its background gratuitous ARPs (1 s apart): for
        # 2.5 s the client keeps reaching the owner
        deadline = time.monotonic() + 2.5
        while time.monotonic() < deadline:
            assert lab.who_serves(0.5) == owner
            time.sleep(0.05)
    finally:
        api.call("POST", "/v1/resources/vip/clear", {})
    healed(lab)


def test_stop_node_and_start_it_again(lab: NetnsLab) -> None:
    owner = lab.wait_running("web", 30)
    fault = lab.faults.stop_node(owner)
    other = served_by_other(lab, owner, 60)  # the planned way: the service moves first
    wait_for(f"{owner} stopped", lambda: lab.agent_pid(owner) is None, 60, 0.1)
    assert other != owner
    lab.faults.start_agent(owner)
    assert all(f.id != fault.id for f in lab.faults.active())
    wait_for(f"the agent of {owner} again", lambda: lab.agent_pid(owner), 10)
    healed(lab)


def test_crash_agent_and_restart(lab: NetnsLab) -> None:
    node = next(n for n in lab.nodes if n != lab.running_on("web"))
    fault = lab.faults.crash_agent(node)
    assert lab.agent_pid(node) is None
    assert lab.etcd_pid(node) is not None  # only the agent died
    lab.faults.undo(fault.id)
    wait_for(f"the agent of {node} again", lambda: lab.agent_pid(node), 10)
    healed(lab)
