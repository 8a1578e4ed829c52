#!/usr/bin/env python3
"""Failover benchmark: power off the node running the service, measure the outage a
client probing every 50 ms sees, N times. Prints p50/p90/max and the timings used;
--json ends the output with one JSON line (p50_s, p90_s, max_s, runs, outages_s, ...).

    .venv/bin/python bench/failover.py --runs 20 [--json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from vigil.lab.demo import demo_resources
from vigil.lab.local import LocalCluster, free_ports, wait_for
from vigil.lab.probe import HttpProbe
from vigil.model.load import load_config_file


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--json", action="store_true", help="end with one JSON line")
    ap.add_argument("--fencing", action="store_true", help="fencing configured (issue 3)")
    ap.add_argument("--lab", action="store_true", help="network-namespace lab (issue 4)")
    ap.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = ap.parse_args()
    if args.fencing or args.lab:
        print("--fencing and --lab are not available yet (issues 3 and 4)", file=sys.stderr)
        return 2

    base = Path(tempfile.mkdtemp(prefix="vigil-bench-"))
    www = base / "www"
    www.mkdir()
    (www / "index.html").write_text("ok\n")
    port = free_ports(1)[0]
    resources, constraints = demo_resources(port, www)
    cluster = LocalCluster(base, 3, "bench", resources, constraints)
    cfg = load_config_file(cluster.config_path)
    t = cfg.timings
    timings = {"lease_ttl_s": t.lease_ttl, "keepalive_interval_s": t.keepalive_interval,
               "lease_margin_s": t.lease_margin, "self_fence_timeout_s": t.self_fence_timeout,
               "etcd_election_timeout_s": cfg.store.etcd_election_timeout,
               "etcd_heartbeat_interval_s": cfg.store.etcd_heartbeat_interval,
               "service_monitor_interval_s": cfg.resource("web").ops.monitor_interval,
               "probe_interval_s": 0.05}
    print("timings:", ", ".join(f"{k}={v:g}" for k, v in timings.items()))
    outages: list[float] = []
    probe = HttpProbe("127.0.0.1", port)
    try:
        cluster.start()
        cluster.wait_running("web", 60)
        cluster.wait_settled(30)
        probe.start()
        for run in range(1, args.runs + 1):
            wait_for("service up", probe.last_ok, 30)
            victim = cluster.wait_running("web", 30)
            cluster.wait_settled(30)
            t0 = time.monotonic()
            cluster.power_off(victim)
            wait_for("service back", lambda t0=t0: probe.ok_since(t0), 60, 0.02)
            outage = probe.outage_after(t0)
            assert outage is not None
            moved = cluster.wait_running("web", 10, lambda n, v=victim: n != v)
            outages.append(outage)
            print(f"run {run:3d}: powered off {victim}, service back on {moved} after "
                  f"{outage:.3f} s", flush=True)
            cluster.start_node(victim)
            wait_for(f"{victim} back", lambda v=victim: any(
                n["name"] == v and n["state"] == "online"
                for n in cluster.status()["nodes"]), 60)
    finally:
        probe.stop()
        cluster.down()
    result = {
        "bench": "failover", "mode": "lease-only, loopback, 3 nodes", "runs": len(outages),
        "p50_s": round(statistics.median(outages), 3),
        "p90_s": round(percentile(outages, 0.9), 3), "max_s": round(max(outages), 3),
        "min_s": round(min(outages), 3), "outages_s": [round(o, 3) for o in outages],
        "timings": timings, "machine": f"{platform.machine()} {platform.node()}",
        "date": time.strftime("%Y-%m-%d"),
    }
    print(f"outage over {len(outages)} power-offs: p50 {result['p50_s']:.3f} s, "
          f"p90 {result['p90_s']:.3f} s, max {result['max_s']:.3f} s "
          f"(min {result['min_s']:.3f} s)")
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
