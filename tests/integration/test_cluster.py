"""A real 3-node cluster on loopback: real etcd members, agents, OCF agents, processes.

Every test builds its own cluster in a temp dir and always powers it off at the end.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from tests.helpers.tcp_proxy import TcpProxy

from vigil.lab.local import LocalCluster, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SLEEPER = """
  - id: {rid}
    agent: process
    params: {{command: "exec sleep 100000"}}
    operations:
      monitor: {{interval: 500ms, timeout: 5s}}
    meta: {meta}
"""

DUMMY = """
  - id: {rid}
    agent: ocf:heartbeat:Dummy
    operations:
      monitor: {{interval: 1s, timeout: 10s}}
"""


def sleeper(rid: str, meta: str = "{}") -> str:
    return SLEEPER.format(rid=rid, meta=meta)


def resources(*parts: str) -> str:
    return "resources:" + "".join(parts)


@pytest.fixture
def make_cluster(tmp_path: Path) -> Iterator[type[LocalCluster]]:
    made: list[LocalCluster] = []

    def factory(**kw: object) -> LocalCluster:
        c = LocalCluster(tmp_path / f"c{len(made)}", **kw)  # type: ignore[arg-type]
        made.append(c)
        return c

    yield factory  # type: ignore[misc]
    for c in made:
        c.down(remove=False)
        for n in c.names:  # no process of the cluster may outlive the test
            assert c.pids(n) == [], f"left-over processes of {n}"


def process_pid(c: LocalCluster, node: str, rid: str) -> int | None:
    """The pid of a process resource on a node, if it is alive (from its pidfile)."""
    pidfile = c.state_dir(node) / "run" / f"{rid}.pid"
    try:
        pid = int(pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    try:
        p = psutil.Process(pid)
        return pid if p.status() != psutil.STATUS_ZOMBIE else None
    except psutil.Error:
        return None


class TwoOwnersWatch(threading.Thread):
    """Samples every 5 ms on which nodes a process resource is alive."""

    def __init__(self, c: LocalCluster, rid: str) -> None:
        super().__init__(daemon=True)
        self.c, self.rid = c, rid
        self.overlaps: list[list[str]] = []
        self.samples = 0
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            alive = [n for n in self.c.names if process_pid(self.c, n, self.rid)]
            self.samples += 1
            if len(alive) > 1:
                self.overlaps.append(alive)
            time.sleep(0.005)

    def stop(self) -> None:
        self.halt.set()
        self.join(5)


def event_index(events: list[dict[str, object]], text: str) -> int:
    for i, e in enumerate(events):
        if text in str(e["message"]):
            return i
    raise AssertionError(f"no event containing {text!r}: {[e['message'] for e in events]}")


def test_initial_placement_honours_location_colocation_and_order(make_cluster) -> None:  # type: ignore[no-untyped-def]
    c = make_cluster(
        resources_yaml=resources(DUMMY.format(rid="ip"), sleeper("app")),
        constraints_yaml="""constraints:
  location:
    - {resource: app, node: n2, score: 100}
  colocation:
    - {resource: ip, with: app, score: INFINITY}
  order:
    - {first: ip, then: app, kind: Mandatory}
""")
    c.start()
    assert c.wait_running("app") == "n2"
    assert c.wait_running("ip") == "n2"
    c.wait_settled()
    ev = c.events()
    assert event_index(ev, "start ip on n2: ok") < event_index(ev, "start app on n2: ok")
    assert process_pid(c, "n2", "app") and not process_pid(c, "n1", "app")


def test_power_off_recovers_elsewhere_only_after_the_lease_rule(make_cluster) -> None:  # type: ignore[no-untyped-def]
    c = make_cluster(resources_yaml=resources(sleeper("app")))
    c.start()
    first = c.wait_running("app")
    c.wait_settled()
    t0 = time.monotonic()
    c.power_off(first)
    second = c.wait_running("app", 30, lambda n: n != first)
    took = time.monotonic() - t0
    assert second != first and process_pid(c, second, "app")
    # S1: not before the lease (2 s, minus up to one keepalive interval) expired + 0.5 s
    assert took >= 1.5 + 0.5 - 0.1, f"recovered after {took:.2f}s: before the lease rule allowed"
    ev = c.events()
    assert event_index(ev, f"node {first} lost its lease") < event_index(
        ev, f"start app on {second}: ok")


def test_crash_restarts_in_place_then_moves_at_migration_threshold(make_cluster) -> None:  # type: ignore[no-untyped-def]
    c = make_cluster(resources_yaml=resources(sleeper("app", "{migration_threshold: 2}")))
    c.start()
    home = c.wait_running("app")
    c.wait_settled()
    pid1 = process_pid(c, home, "app")
    assert pid1
    os.kill(pid1, signal.SIGKILL)
    wait_for("app restarted in place", lambda: (p := process_pid(c, home, "app")) and p != pid1,
             20)
    c.wait_settled()
    r = c.resource("app")
    assert r["node"] == home and r["fail_counts"] == {home: 1}
    assert "not running" in r["last_failure"]["reason"]
    pid2 = process_pid(c, home, "app")
    assert pid2
    os.kill(pid2, signal.SIGKILL)
    other = c.wait_running("app", 20, lambda n: n != home)
    c.wait_settled()
    assert c.resource("app")["fail_counts"][home] == 2
    assert not process_pid(c, home, "app") and process_pid(c, other, "app")
    # cleanup forgets the failures: the node may host it again
    c.call("POST", "/v1/resources/app/cleanup", {})
    wait_for("fail counts cleared", lambda: c.resource("app")["fail_counts"] == {}, 10)


def test_standby_move_ban_clear(make_cluster) -> None:  # type: ignore[no-untyped-def]
    c = make_cluster(resources_yaml=resources(sleeper("app", "{stickiness: 100}")))
    c.start()
    home = c.wait_running("app")
    c.wait_settled()
    c.call("POST", f"/v1/nodes/{home}/standby")
    away = c.wait_running("app", 20, lambda n: n != home)
    assert next(n for n in c.status()["nodes"] if n["name"] == home)["state"] == "standby"
    c.call("POST", f"/v1/nodes/{home}/unstandby")
    c.wait_settled()
    assert c.running_on("app") == away  # stickiness: no move back
    target = next(n for n in c.names if n not in (home, away))
    c.call("POST", "/v1/resources/app/move", {"node": target})
    assert c.wait_running("app", 20, lambda n: n == target) == target
    c.call("POST", "/v1/resources/app/ban", {})  # ban from where it runs
    banned_from = target
    now_on = c.wait_running("app", 20, lambda n: n != banned_from)
    assert now_on != banned_from
    assert sorted(c.resource("app")["constraints"]) == sorted(
        ["cli-prefer-app", f"cli-ban-app-on-{banned_from}"])
    c.call("POST", "/v1/resources/app/clear", {})
    wait_for("constraints cleared", lambda: c.resource("app")["constraints"] == [], 10)


def test_agent_cut_off_from_store_stops_its_resources_before_its_lease_ends(make_cluster) -> None:  # type: ignore[no-untyped-def]
    c = make_cluster(resources_yaml=resources(sleeper("app")),
                     constraints_yaml="constraints:\n  location:\n"
                                      "    - {resource: app, node: n1, score: 50}\n")
    proxies = [TcpProxy("127.0.0.1", c.ports[n][1]).start() for n in c.names]
    try:
        c.start_node("n1", [p.url for p in proxies])
        c.start(["n2", "n3"])
        assert c.wait_running("app", 30, lambda n: n == "n1") == "n1"
        c.wait_settled()
        watch = TwoOwnersWatch(c, "app")
        watch.start()
        t0 = time.monotonic()
        for p in proxies:
            p.cut()
        wait_for("app stopped on n1", lambda: process_pid(c, "n1", "app") is None, 10, 0.005)
        stopped_after = time.monotonic() - t0
        other = c.wait_running("app", 30, lambda n: n != "n1")
        watch.stop()
        assert stopped_after < 2.0, f"n1 stopped app {stopped_after:.2f}s after the cut (TTL 2s)"
        assert watch.samples > 100 and watch.overlaps == [], watch.overlaps[:3]
        assert process_pid(c, other, "app")
        for p in proxies:
            p.heal()
        wait_for("n1 rejoins", lambda: any(
            n["name"] == "n1" and n["state"] == "online" for n in c.status()["nodes"]), 30)
    finally:
        for p in proxies:
            p.stop()


def test_restarted_agent_adopts_running_resources(make_cluster) -> None:  # type: ignore[no-untyped-def]
    c = make_cluster(resources_yaml=resources(sleeper("app"), DUMMY.format(rid="d")),
                     constraints_yaml="constraints:\n  colocation:\n"
                                      "    - {resource: d, with: app, score: INFINITY}\n")
    c.start()
    home = c.wait_running("app")
    c.wait_settled()
    pid = process_pid(c, home, "app")
    wall = time.time()
    c.kill_agent(home)  # SIGKILL: the agent only, its etcd and resources stay
    c.start_node(home)
    wait_for("the agent to come back", lambda: c.status(home)["local"]["joined"], 30)
    c.wait_settled()
    assert c.running_on("app") == home and c.running_on("d") == home
    assert process_pid(c, home, "app") == pid
    later = [e["message"] for e in c.events() if e["time"] >= wall]
    assert not [m for m in later if m.startswith(("start app", "stop app", "start d", "stop d"))]


def test_sigterm_is_a_planned_failover(make_cluster) -> None:  # type: ignore[no-untyped-def]
    c = make_cluster(resources_yaml=resources(sleeper("app")))
    c.start()
    home = c.wait_running("app")
    c.wait_settled()
    watch = TwoOwnersWatch(c, "app")
    watch.start()
    rc = c.stop_node(home)
    other = c.wait_running("app", 20, lambda n: n != home)
    watch.stop()
    assert rc == 0 and other != home and watch.overlaps == []
    assert c.pids(home) == []  # agent, its etcd member and its resources all gone
    ev = c.events()
    assert event_index(ev, f"{home} shutting down") < event_index(ev, f"{home} left the cluster")


def test_failure_timeout_lets_a_resource_come_back(make_cluster) -> None:  # type: ignore[no-untyped-def]
    c = make_cluster(
        resources_yaml=resources(sleeper("app", "{migration_threshold: 1, failure_timeout: 3s}")),
        constraints_yaml="constraints:\n  location:\n"
                         "    - {resource: app, node: n1, score: 100}\n")
    c.start()
    assert c.wait_running("app", 30, lambda n: n == "n1") == "n1"
    c.wait_settled()
    pid = process_pid(c, "n1", "app")
    assert pid
    t0 = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    away = c.wait_running("app", 20, lambda n: n != "n1")
    assert c.resource("app")["fail_counts"] == {"n1": 1}
    # Once the failure is 3 s old it no longer counts: the preference for n1 wins again.
    assert c.wait_running("app", 20, lambda n: n == "n1") == "n1"
    assert time.monotonic() - t0 >= 3.0
    assert away != "n1" and not process_pid(c, away, "app")


def test_restart_command_stops_and_starts_again(make_cluster) -> None:  # type: ignore[no-untyped-def]
    c = make_cluster(resources_yaml=resources(sleeper("app")))
    c.start()
    home = c.wait_running("app")
    c.wait_settled()
    pid = process_pid(c, home, "app")
    res = subprocess.run([sys.executable, "-m", "vigil", "--config", str(c.config_path),
                          "resource", "restart", "app"], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    assert "restarted app" in res.stdout
    new_home = c.wait_running("app", 20)
    new_pid = process_pid(c, new_home, "app")
    assert new_pid and new_pid != pid
    ev = [e["message"] for e in c.events()]
    assert any(m.startswith("stop app on") for m in ev)
    assert any(m.startswith(f"start app on {new_home}: ok") for m in ev)


@pytest.mark.parametrize("victim_is_owner", [True, False])
def test_witness_keeps_two_nodes_quorate_when_either_dies(make_cluster, victim_is_owner) -> None:  # type: ignore[no-untyped-def]
    c = make_cluster(nodes=2, witnesses=1, resources_yaml=resources(sleeper("app")))
    c.start()
    owner = c.wait_running("app")
    c.wait_settled()
    doc = c.status()
    assert [n["state"] for n in doc["nodes"]] == ["online", "online", "witness"]
    assert len(doc["store"]["reachable"]) == 3
    victim = owner if victim_is_owner else next(n for n in c.names if n != owner)
    survivor = next(n for n in c.names if n != victim)
    c.power_off(victim)
    assert c.wait_running("app", 30, lambda n: n == survivor) == survivor
    wait_for(f"{victim} offline", lambda: next(
        n for n in c.status(survivor)["nodes"] if n["name"] == victim)["state"] == "offline", 20)
    doc = c.status(survivor)
    assert doc["store"]["quorate"] and len(doc["store"]["reachable"]) == 2
    assert c.running_on("app") == survivor


def test_watchdog_kills_the_services_of_an_agent_killed_with_sigkill(make_cluster) -> None:  # type: ignore[no-untyped-def]
    c = make_cluster(resources_yaml=resources(sleeper("app")))
    c.start()
    owner = c.wait_running("app")
    c.wait_settled()
    watch = TwoOwnersWatch(c, "app")
    watch.start()
    t0 = time.monotonic()
    c.kill_agent(owner)  # its etcd member and the watchdog stay; nobody feeds the watchdog
    wait_for("the watchdog to kill app", lambda: process_pid(c, owner, "app") is None, 10, 0.005)
    killed_after = time.monotonic() - t0
    other = c.wait_running("app", 30, lambda n: n != owner)
    watch.stop()
    assert killed_after <= 2.0 + 0.3, f"app outlived its agent by {killed_after:.2f}s"
    fired = json.loads((c.state_dir(owner) / "watchdog-fired.json").read_text())
    assert fired["reason"] in ("lease view ended", "agent silent for 2s")
    assert watch.overlaps == [] and other != owner
