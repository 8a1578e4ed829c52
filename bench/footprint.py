#!/usr/bin/env python3
"""Idle footprint: a demo-style 3-node cluster, settled; RSS and CPU % of every agent
(and, separately, its etcd member) over --seconds (default 60). --json ends with one
JSON line.

    .venv/bin/python bench/footprint.py [--seconds 60] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import psutil

from vigil.lab.demo import demo_resources
from vigil.lab.local import LocalCluster, free_ports


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="vigil-footprint-"))
    www = base / "www"
    www.mkdir()
    resources, constraints = demo_resources(free_ports(1)[0], www)
    cluster = LocalCluster(base, 3, "footprint", resources, constraints)
    rows = []
    try:
        cluster.start()
        cluster.wait_running("web", 60)
        cluster.wait_settled(30)
        time.sleep(2)
        procs: dict[str, dict[str, psutil.Process]] = {}
        for n in cluster.names:
            agent = psutil.Process(cluster.procs[n].pid)
            found = {"agent": agent}
            for pid in cluster.pids(n):
                p = psutil.Process(pid)
                if "etcd" in p.name():
                    found["etcd"] = p
            procs[n] = found
        for found in procs.values():
            for p in found.values():
                p.cpu_percent(None)
        t0 = time.monotonic()
        time.sleep(args.seconds)
        elapsed = time.monotonic() - t0
        for n, found in procs.items():
            for kind, p in found.items():
                rows.append({"node": n, "process": kind,
                             "rss_mib": round(p.memory_info().rss / 2**20, 1),
                             "cpu_percent": round(p.cpu_percent(None), 2)})
    finally:
        cluster.down()
    for r in rows:
        print(f"{r['node']} {r['process']:<5}  RSS {r['rss_mib']:6.1f} MiB   "
              f"CPU {r['cpu_percent']:5.2f} % (mean over {elapsed:.0f} s)")
    agents = [r for r in rows if r["process"] == "agent"]
    result = {"bench": "footprint", "seconds": round(elapsed, 1), "rows": rows,
              "agent_rss_mib_max": max(r["rss_mib"] for r in agents),
              "agent_cpu_percent_max": max(r["cpu_percent"] for r in agents),
              "date": time.strftime("%Y-%m-%d")}
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
