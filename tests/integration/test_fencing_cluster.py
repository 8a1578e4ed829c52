"""Fencing in a real cluster: the DC fences before it recovers (S4), and only then.

The fence device is `fence_lab`, a fence-agents-protocol program that powers off a lab
node (kills every process of that node), as a real PDU or IPMI device would.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.integration.test_cluster import event_index, process_pid, resources, sleeper

from vigil.lab.local import LocalCluster, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

HERE = Path(__file__).resolve().parent


@pytest.fixture
def cluster(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[LocalCluster]:
    params = getattr(request, "param", {})
    c = LocalCluster(tmp_path / "c", 3, timings={"self_fence_timeout": "8s"},
                     resources_yaml=params.get("resources", resources(sleeper("app"))))
    record = tmp_path / "fence.log"
    c.extra_yaml = c.lab_fencing_yaml(fail=params.get("fail", False), record=record)
    c.write_config(params.get("resources", resources(sleeper("app"))))
    c.record = record  # type: ignore[attr-defined]
    try:
        yield c
    finally:
        c.down(remove=False)
        for n in c.names:
            assert c.pids(n) == []


def fence_calls(c: LocalCluster) -> list[str]:
    path: Path = c.record  # type: ignore[attr-defined]
    return path.read_text().splitlines() if path.exists() else []


def test_power_off_is_fenced_then_recovered_without_waiting_for_the_lease_rule(
        cluster: LocalCluster) -> None:
    c = cluster
    c.start()
    owner = c.wait_running("app")
    c.wait_settled()
    t0 = time.monotonic()
    c.power_off(owner)
    other = c.wait_running("app", 20, lambda n: n != owner)
    took = time.monotonic() - t0
    assert took < 8.0, f"recovered after {took:.1f}s: it waited for the 8 s lease rule"
    calls = fence_calls(c)
    assert any(f"/{owner}" in line for line in calls), calls
    ev = c.events()
    assert event_index(ev, f"fencing {owner}") < event_index(ev, f"start app on {other}: ok")
    history = c.call("GET", "/v1/fence/history")["history"]
    assert history[-1]["node"] == owner and history[-1]["state"] == "done"
    node = next(n for n in c.status()["nodes"] if n["name"] == owner)
    assert node["state"] == "fenced"
    c.start_node(owner)  # it boots again: joins, and is no longer "fenced"
    wait_for(f"{owner} online", lambda: next(
        n for n in c.status()["nodes"] if n["name"] == owner)["state"] == "online", 30)


@pytest.mark.parametrize("cluster", [{"fail": True}], indirect=True)
def test_failed_fencing_never_recovers_before_the_lease_rule(cluster: LocalCluster) -> None:
    c = cluster
    c.start()
    owner = c.wait_running("app")
    c.wait_settled()
    t0 = time.monotonic()
    c.power_off(owner)
    other = c.wait_running("app", 40, lambda n: n != owner)
    took = time.monotonic() - t0
    assert took >= 8.0, f"recovered after {took:.1f}s although fencing failed"
    ev = c.events()
    assert any(e["kind"] == "fencing-failed" for e in ev)
    assert event_index(ev, "FAILED" if False else "fencing") < event_index(
        ev, f"start app on {other}: ok")


FAILSTOP = """resources:
  - id: app
    agent: ocf:vigil-test:FailStop
    params: {{fail_stop: {flag}}}
    operations:
      monitor: {{interval: 1s, timeout: 5s}}
"""


def test_failed_stop_is_fenced_then_recovered(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "ocf"
    (root / "resource.d").mkdir(parents=True)
    (root / "resource.d" / "heartbeat").symlink_to("/usr/lib/ocf/resource.d/heartbeat")
    (root / "resource.d" / "vigil-test").symlink_to(HERE.parent / "helpers" / "ocf" /
                                                      "vigil-test")
    (root / "lib").symlink_to("/usr/lib/ocf/lib")
    monkeypatch.setenv("VIGIL_OCF_ROOT", str(root))
    flag = tmp_path / "refuse-stop"
    res = FAILSTOP.format(flag=flag)
    c = LocalCluster(tmp_path / "c", 3, timings={"self_fence_timeout": "8s"},
                     resources_yaml=res)
    record = tmp_path / "fence.log"
    c.extra_yaml = c.lab_fencing_yaml(record=record)
    c.write_config(res)
    try:
        c.start()
        owner = c.wait_running("app")
        c.wait_settled()
        flag.touch()
        c.call("POST", "/v1/resources/app/move", {})  # away from owner: its stop fails
        other = c.wait_running("app", 30, lambda n: n != owner)
        assert any(f"/{owner}" in line for line in record.read_text().splitlines())
        ev = c.events()
        assert event_index(ev, f"stop of app failed on {owner}") < event_index(
            ev, f"start app on {other}: ok")
        assert c.pids(owner) == []  # fenced: powered off
    finally:
        c.down(remove=False)
        os.environ.pop("VIGIL_OCF_ROOT", None)


def test_manual_fence_and_verify(cluster: LocalCluster) -> None:
    c = cluster
    c.start()
    owner = c.wait_running("app")
    c.wait_settled()
    victim = next(n for n in c.names if n != owner)
    doc = c.call("POST", "/v1/fence/verify", {})
    assert doc["unfenceable"] == [] and all(d["ok"] for d in doc["devices"])
    out = c.client(owner).call("POST", f"/v1/fence/{victim}", {"action": "off"}, timeout=60)
    assert out["ok"] and victim in out["message"]
    wait_for(f"{victim} powered off", lambda: c.pids(victim) == [], 10)
    assert c.running_on("app") == owner  # nothing ran there; nothing moves
    # The answering node's view follows the store within a watch round trip.
    wait_for(f"{victim} shown as fenced", lambda: next(
        n for n in c.status(owner)["nodes"] if n["name"] == victim)["state"] == "fenced", 5)


def test_freeze_keeps_running_without_quorum_until_fenced(tmp_path: Path) -> None:
    from tests.helpers.tcp_proxy import TcpProxy
    from tests.integration.test_cluster import TwoOwnersWatch

    res = resources(sleeper("app"))
    c = LocalCluster(tmp_path / "c", 3, timings={"self_fence_timeout": "8s"},
                     resources_yaml=res,
                     constraints_yaml="constraints:\n  location:\n"
                                      "    - {resource: app, node: n1, score: 50}\n")
    record = tmp_path / "fence.log"
    c.extra_yaml = c.lab_fencing_yaml(record=record) + "no_quorum_policy: freeze\n"
    c.write_config(res, "constraints:\n  location:\n    - {resource: app, node: n1, score: 50}\n")
    proxies = [TcpProxy("127.0.0.1", c.ports[n][1]).start() for n in c.names]
    try:
        c.start_node("n1", [p.url for p in proxies])
        c.start(["n2", "n3"])
        assert c.wait_running("app", 30, lambda n: n == "n1") == "n1"
        c.wait_settled()
        pid = process_pid(c, "n1", "app")
        watch = TwoOwnersWatch(c, "app")
        watch.start()
        t0 = time.monotonic()
        for p in proxies:
            p.cut()
        # With `stop`, n1 would stop app once 0.5 s of its 2 s lease view is left (~1.5 s).
        wait_for("1.7 s after the cut", lambda: time.monotonic() - t0 > 1.7, 5, 0.01)
        if not any("/n1" in line for line in (record.read_text().splitlines()
                                              if record.exists() else [])):
            assert process_pid(c, "n1", "app") == pid, "n1 stopped app: that is not freeze"
        other = c.wait_running("app", 30, lambda n: n != "n1")
        watch.stop()
        assert "freezing" in (c.state_dir("n1") / "agent.log").read_text()
        assert any("/n1" in line for line in record.read_text().splitlines())
        assert watch.overlaps == [] and other != "n1" and pid is not None
    finally:
        for p in proxies:
            p.stop()
        c.down(remove=False)
