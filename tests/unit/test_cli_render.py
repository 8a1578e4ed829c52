"""What `vigil status`, `vigil events` and `vigil fence` print (pure renderings)."""

from __future__ import annotations

from vigil.cli.render import render_events, render_fence_history, render_status

DOC = {
    "cluster": "shop", "config_version": 3, "dc": "db1", "answered_by": "db2", "revision": 77,
    "store": {"reachable": ["a", "b"], "unreachable": ["c"], "leader": "db1", "quorate": True},
    "nodes": [
        {"name": "db1", "state": "online", "address": "10.0.0.11", "dc": True},
        {"name": "db2", "state": "standby", "address": "10.0.0.12", "dc": False},
        {"name": "db3", "state": "fenced", "address": "10.0.0.13", "dc": False},
    ],
    "resources": [
        {"id": "web", "agent": "process", "state": "started", "node": "db1", "nodes": ["db1"],
         "target_role": "Started", "fail_counts": {"db3": 1_000_000, "db1": 2},
         "last_failure": {"node": "db1", "op": "monitor", "rc": 7, "time": 1000.0,
                          "reason": "monitor of web found it not running"},
         "constraints": ["cli-ban-web-on-db3"]},
        {"id": "db", "agent": "ocf:heartbeat:Dummy", "state": "stopped", "node": None,
         "nodes": [], "target_role": "Stopped", "fail_counts": {}, "last_failure": None,
         "constraints": []},
    ],
    "transition": {"id": 4, "actions": 3, "done": 2, "failed": 0, "running": 1, "pending": 0,
                   "aborted": False, "complete": False},
    "fencing": {"devices": [], "self_fencing_only": True, "unfenceable": ["db1"], "nodes": {}},
    "problems": [],
    "local": {"quorate": True},
}


def test_status_shows_health_nodes_resources_failures_and_fencing() -> None:
    text = render_status(DOC, now=1030.0)
    assert "store quorate (2/3 members reachable, leader db1)" in text
    assert "(this node: quorate)" in text
    assert "db1  online" in text and "(DC)" in text and "db3  fenced" in text
    assert "web  process              started on db1  [fail counts: db1=2, db3=INFINITY]" in text
    assert "last failure on db1 30s ago: monitor of web found it not running" in text
    assert "runtime constraints: cli-ban-web-on-db3" in text
    assert "stopped (target-role Stopped)" in text
    assert "relies on self-fencing" in text
    assert "Transition 4: in progress (2 done, 1 running, 0 pending, 0 failed of 3)" in text


def test_no_quorum_is_shouted() -> None:
    doc = dict(DOC, store={"reachable": ["a"], "unreachable": ["b", "c"], "quorate": False})
    assert "NO QUORUM (1/3 members reachable)" in render_status(doc, now=1030.0)


def test_events_relative_to_a_moment() -> None:
    ev = [{"time": 100.25, "node": "n2", "kind": "action", "message": "start web on n2: ok"}]
    assert render_events(ev, since=100.0).startswith(" +0.250s  n2     action     start web")
    assert render_events([]) == "(no events)"


def test_fence_history_lines() -> None:
    h = [{"node": "db1", "action": "off", "state": "done", "requested_at": 10.0,
          "finished_at": 10.5, "requested_by": "db2", "reason": "operator", "outcome": "ok"}]
    text = render_fence_history(h)
    assert "db1      off    done   (0.50s, by db2) operator" in text
