"""`vigil demo`: a 3-node cluster on loopback, a power cut, and the failover measured."""

from __future__ import annotations

import json
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType
from typing import Any

from vigil.cli.render import render_events, render_status
from vigil.lab.local import LocalCluster, free_ports, kill_tagged, wait_for
from vigil.lab.probe import HttpProbe


def demo_resources(port: int, www: Path, start_wait: str = "0.2") -> tuple[str, str]:
    resources = f"""resources:
  - id: marker
    agent: ocf:heartbeat:Dummy
    operations:
      monitor: {{interval: 2s, timeout: 10s}}
  - id: web
    agent: process
    params:
      command: "{sys.executable} -m http.server {port} --bind 127.0.0.1 --directory {www}"
      start_wait: "{start_wait}"
    operations:
      monitor: {{interval: 1s, timeout: 5s}}
    meta:
      migration_threshold: 3
"""
    constraints = """constraints:
  colocation:
    - {resource: web, with: marker, score: INFINITY}
  order:
    - {first: marker, then: web, kind: Mandatory}
"""
    return resources, constraints


class Out:
    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet

    def __call__(self, text: str = "") -> None:
        if not self.quiet:
            print(text, flush=True)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run_demo(keep: bool = False, as_json: bool = False) -> int:
    out = Out(as_json)
    base = Path(tempfile.mkdtemp(prefix="vigil-demo-"))
    www = base / "www"
    www.mkdir()
    (www / "index.html").write_text("hello from vigil\n")
    port = free_ports(1)[0]
    resources, constraints = demo_resources(port, www)
    cluster = LocalCluster(base, 3, "demo", resources, constraints)
    (base / "lab.json").write_text(json.dumps({"tag": cluster.tag, "nodes": cluster.names}))
    signal.signal(signal.SIGTERM, _raise_interrupt)
    probe = HttpProbe("127.0.0.1", port)
    summary: dict[str, Any] = {"ok": False, "dir": str(base), "lab_tag": cluster.tag}
    try:
        out(f"Starting 3 nodes on 127.0.0.1 (etcd member + agent each) in {base}")
        cluster.start()
        first = cluster.wait_running("web", timeout=60)
        cluster.wait_settled(timeout=30)
        out(f"\nThe service (web, http://127.0.0.1:{port}/) runs on {first}.\n")
        out("$ vigil status")
        out(render_status(cluster.status()))
        probe.start()
        wait_for("the service to answer", probe.last_ok, 10)
        victim = cluster.running_on("web") or first
        out(f"\nPowering off {victim} (killing every process of that node: etcd member, agent, "
            "resources) while a client asks the service every 50 ms ...")
        wall0 = time.time()
        t0 = time.monotonic()
        killed = cluster.power_off(victim)
        wait_for("the service to answer again", lambda: probe.ok_since(t0), 30, 0.02)
        outage = probe.outage_after(t0)
        moved_to = cluster.wait_running("web", 10, lambda n: n != victim)
        out(f"Killed {killed} processes of {victim}. The service answered again from {moved_to} "
            f"after an outage of {outage:.2f} s.\n" if outage is not None else "")
        timeline = [e for e in cluster.events(200) if e["time"] >= wall0 - 0.001]
        out(f"Timeline (vigil events; seconds after the power-off of {victim}):")
        out(render_events(timeline, since=wall0))
        out(f"\nBringing {victim} back ...")
        cluster.start_node(victim)
        wait_for(f"{victim} to rejoin", lambda: any(
            n["name"] == victim and n["state"] == "online" for n in cluster.status()["nodes"]),
            60)
        cluster.wait_settled(30)
        out(f"{victim} rejoined; the service stays on {cluster.running_on('web')} "
            "(stickiness: no needless move back).\n")
        out("$ vigil status")
        out(render_status(cluster.status()))
        summary |= {
            "ok": True, "outage_s": round(outage, 3) if outage is not None else None,
            "powered_off": victim, "moved_to": moved_to, "first_node": first,
            "probe_interval_s": probe.interval, "processes_killed": killed,
            "timeline": timeline, "service_url": f"http://127.0.0.1:{port}/",
        }
        if keep:
            summary["kept"] = str(base)
            api = ",".join(cluster.api_url(n) for n in cluster.names)
            out(f"\nThe cluster keeps running in {base}. Try:\n"
                f"  vigil --api {api} status\n"
                f"  vigil --config {cluster.config_path} events\n"
                f"Stop it with: vigil demo --down {base}")
        return 0
    except KeyboardInterrupt:
        out("\ninterrupted: shutting the demo cluster down")
        summary["error"] = "interrupted"
        keep = False
        return 130
    except TimeoutError as e:
        summary["error"] = str(e)
        print(f"vigil demo: {e}; agent logs are in {base}/n*/agent.log", file=sys.stderr)
        keep = False
        return 1
    finally:
        probe.stop() if probe.is_alive() else None
        if not keep:
            cluster.down(remove=False)
            if summary.get("ok") or summary.get("error") == "interrupted":
                shutil.rmtree(base, ignore_errors=True)
            else:
                summary["logs"] = str(base)
        if as_json:
            print(json.dumps(summary))


def demo_down(base: Path) -> None:
    info = json.loads((base / "lab.json").read_text())
    for node in info["nodes"]:
        kill_tagged(f"{info['tag']}/{node}")
    shutil.rmtree(base, ignore_errors=True)
    print(f"stopped the demo cluster and removed {base}")
