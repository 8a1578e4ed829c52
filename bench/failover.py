#!/usr/bin/env python3
"""Failover benchmark: power off the node running the service, measure the outage a
client probing every 50 ms sees, N times. Prints p50/p90/max and the timings used;
--json ends the output with one JSON line (p50_s, p90_s, max_s, runs, outages_s, ...).

    .venv/bin/python bench/failover.py --runs 20 [--json]
    .venv/bin/python bench/failover.py --lab [--fault poweroff|hang] --runs 10 --json  # root

--lab: a network-namespace lab (3 nodes, 2 links, fencing with the lab fence device,
heartbeats); the client, in the lab's client host, asks the service through the VIP
every 20 ms; the fault hits the node running it (`hang`: SIGSTOP of all its processes,
resumed once the service is back; the hung node must never serve again).
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
    ap.add_argument("--fault", choices=("poweroff", "hang"), default="poweroff",
                    help="with --lab: what happens to the node running the service")
    ap.add_argument("--etcd-leader", choices=("any", "victim"), default="any",
                    help="with --lab: `victim` makes the node running the service the etcd "
                         "leader before each fault (the worst case)")
    ap.add_argument("--ipaddr2", action="store_true",
                    help="with --lab: the VIP is ocf:heartbeat:IPaddr2 instead of vigil's vip")
    ap.add_argument("--probe-interval", type=float, default=0.02,
                    help="with --lab: seconds between probe requests (default 0.02)")
    ap.add_argument("--hb-interval", default="50ms", help="with --fencing (default 50ms)")
    ap.add_argument("--hb-timeout", default="250ms", help="with --fencing (default 250ms)")
    ap.add_argument("--etcd-election", default=None,
                    help="etcd election timeout (heartbeat = 1/10 of it); default: the config's")
    ap.add_argument("--stability", type=float, default=0.0, metavar="SECONDS",
                    help="with --fencing or --lab: instead of power-offs, saturate both cores "
                         "and drop 20%% of one link's packets for SECONDS (root: nftables); "
                         "reports how many fencings happened (must be 0)")
    args = ap.parse_args()
    if args.lab and args.stability:
        return lab_stability(args)
    if args.lab:
        return lab_bench(args)

    base = Path(tempfile.mkdtemp(prefix="vigil-bench-"))
    www = base / "www"
    www.mkdir()
    (www / "index.html").write_text("ok\n")
    port = free_ports(1)[0]
    resources, constraints = demo_resources(port, www, start_wait="0.05")
    if args.fencing:
        cluster = LocalCluster(base, 3, "bench", resources, constraints, links=2,
                               heartbeat={"interval": args.hb_interval,
                                          "timeout": args.hb_timeout},
                               store=etcd_timings(args))
        cluster.extra_yaml = cluster.lab_fencing_yaml()
        cluster.write_config(resources, constraints)
    else:
        cluster = LocalCluster(base, 3, "bench", resources, constraints,
                               store=etcd_timings(args))
    cfg = load_config_file(cluster.config_path)
    if args.stability:
        return stability(cluster, args)
    t = cfg.timings
    timings = {"lease_ttl_s": t.lease_ttl, "keepalive_interval_s": t.keepalive_interval,
               "lease_margin_s": t.lease_margin, "self_fence_timeout_s": t.self_fence_timeout,
               "etcd_election_timeout_s": cfg.store.etcd_election_timeout,
               "etcd_heartbeat_interval_s": cfg.store.etcd_heartbeat_interval,
               "service_monitor_interval_s": cfg.resource("web").ops.monitor_interval,
               "probe_interval_s": 0.05}
    if args.fencing:
        timings |= {"heartbeat_interval_s": cfg.heartbeat.interval,
                    "heartbeat_timeout_s": cfg.heartbeat.timeout, "links": 2,
                    "fence_device": "fence_lab (kills every process of the node)"}
    print("timings:", ", ".join(f"{k}={v:g}" if isinstance(v, float | int) else f"{k}={v}"
                                for k, v in timings.items()))
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
        "bench": "failover",
        "mode": ("fencing + heartbeats" if args.fencing else "lease-only") + ", loopback, 3 nodes",
        "runs": len(outages),
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


def etcd_timings(args: argparse.Namespace) -> dict[str, str]:
    if not args.etcd_election:
        return {}
    from vigil.model.durations import format_duration, parse_duration
    election = parse_duration(args.etcd_election)
    return {"etcd_election_timeout": format_duration(election),
            "etcd_heartbeat_interval": format_duration(election / 10)}


def stability(cluster: LocalCluster, args: argparse.Namespace) -> int:
    """Both cores busy and 20 % loss on one link: nobody may be fenced."""
    import shutil
    import subprocess
    if shutil.which("nft") is None:
        print("--stability needs nftables and root", file=sys.stderr)
        return 2
    hogs: list[subprocess.Popen[bytes]] = []
    table = f"vigil_bench_{cluster.hb_port}"
    try:
        cluster.start()
        owner = cluster.wait_running("web", 60)
        cluster.wait_settled(30)
        link = cluster.link_addresses[owner][1]
        rules = (f"table inet {table} {{\n chain out {{\n  type filter hook output priority 0;"
                 f"\n  ip daddr {link} udp dport {cluster.hb_port} numgen random mod 100 < 20 "
                 f"drop\n  ip saddr {link} udp dport {cluster.hb_port} numgen random mod 100 "
                 f"< 20 drop\n }}\n}}\n")
        subprocess.run(["nft", "-f", "-"], input=rules.encode(), check=True)
        hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
        print(f"both cores saturated, 20 % loss on link 1 of {owner}, for "
              f"{args.stability:g} s ...", flush=True)
        wall0 = time.time()
        time.sleep(args.stability)
        events = [e for e in cluster.events(1000) if e["time"] >= wall0]
        fencings = [e for e in events if e["kind"].startswith("fencing")]
        suspicions = [e for e in events if "silent" in e["message"]]
        moved = cluster.running_on("web") != owner
    finally:
        for h in hogs:
            h.kill()
            h.wait()
        subprocess.run(["nft", "delete", "table", "inet", table], check=False)
        cluster.down()
    result = {"bench": "failover-stability", "seconds": args.stability, "fencings": len(fencings),
              "suspicions": len(suspicions), "service_moved": moved,
              "link_alerts": sum(1 for e in events if e["kind"] == "link"),
              "heartbeat_interval": args.hb_interval, "heartbeat_timeout": args.hb_timeout}
    print(f"fencings: {len(fencings)}, suspicions: {len(suspicions)}, service moved: {moved}, "
          f"link alerts: {result['link_alerts']}")
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    if args.json:
        print(json.dumps(result))
    return 0 if not fencings and not moved else 1


LAB_CONFIG = """
cluster: bench
store: {{etcd_heartbeat_interval: {etcd_hb}, etcd_election_timeout: {etcd_el}}}
heartbeat: {{interval: {hb_interval}, timeout: {hb_timeout}}}
resources:
  - id: vip
    agent: {vip_agent}
    params: {{ip: "${{vip}}", cidr_netmask: "24", nic: "${{nic}}"}}
    operations: {{monitor: {{interval: 1s, timeout: 5s}}}}
  - id: web
    agent: process
    params: {{command: "${{service}}", start_wait: "0.05"}}
    operations: {{monitor: {{interval: 1s, timeout: 5s}}}}
constraints:
  colocation:
    - {{resource: web, with: vip, score: INFINITY}}
"""


def lab_bench(args: argparse.Namespace) -> int:
    """--lab: the outage a client in the lab sees through the VIP, per fault."""
    import os

    from vigil.lab.lab_probe import LabProbe
    from vigil.lab.netlab import start_lab
    from vigil.lab.netlab import wait_for as lab_wait
    from vigil.model.durations import format_duration, parse_duration
    from vigil.model.load import load_config_text

    election = parse_duration(args.etcd_election or "250ms")
    config = LAB_CONFIG.format(etcd_hb=format_duration(election / 10),
                               etcd_el=format_duration(election),
                               hb_interval=args.hb_interval, hb_timeout=args.hb_timeout,
                               vip_agent="ocf:heartbeat:IPaddr2" if args.ipaddr2 else "vip")
    name = f"bench{os.getpid() % 100000}"
    load1 = os.getloadavg()[0]
    lab = start_lab(Path(f"/dev/shm/vigil-lab/{name}"), name=name, nodes=3, links=2,
                    config=config, boot_delay=1.0)
    outages: list[float] = []
    hung_served: list[int] = []
    fenced_runs = 0
    leaders = 0
    try:
        cfg = load_config_text(lab.config_path.read_text())
        timings = {"heartbeat_interval_s": cfg.heartbeat.interval,
                   "heartbeat_timeout_s": cfg.heartbeat.timeout, "links": 2,
                   "etcd_election_timeout_s": cfg.store.etcd_election_timeout,
                   "etcd_heartbeat_interval_s": cfg.store.etcd_heartbeat_interval,
                   "lease_ttl_s": cfg.timings.lease_ttl,
                   "probe_interval_s": args.probe_interval, "probe_timeout_s": 0.25,
                   "vip_agent": "ocf:heartbeat:IPaddr2" if args.ipaddr2 else "vip",
                   "fence_device": "fence_netns (links down, kill every process of the "
                                   "namespace; reboot: boots 1 s later)"}
        print("timings:", ", ".join(f"{k}={v:g}" if isinstance(v, float | int) else
                                    f"{k}={v}" for k, v in timings.items()))
        with LabProbe(lab.ns("client"), lab.vip, lab.service_port,
                      interval=args.probe_interval) as probe:
            for run in range(1, args.runs + 1):
                lab_wait("every node online", lambda: all(
                    n["state"] == "online" for n in lab.status()["nodes"]), 90, 0.2)
                lab.wait_settled(30)
                victim = lab.wait_running("web", 30)
                if args.etcd_leader == "victim":
                    lab.move_etcd_leader(victim)
                    time.sleep(0.5)
                    lab.wait_settled(30)
                leader = lab.etcd_leader()
                lab_wait("the service answering", probe.last_ok, 30, 0.02)
                time.sleep(0.3)
                wall0 = time.time()
                t0 = time.monotonic()
                fault = (lab.faults.poweroff(victim) if args.fault == "poweroff"
                         else lab.faults.hang(victim))
                back = lab_wait("service back", lambda t0=t0, v=victim: probe.back_after(
                    t0, not_from=v), 60, 0.02)
                outage = probe.outage_after(t0)
                assert outage is not None
                if args.fault == "hang":
                    time.sleep(0.5)
                    lab.faults.undo(fault.id)  # resume: the node must not serve again
                    time.sleep(1.5)
                # Requests sent while the fault was being injected may still be answered
                # by the victim: what counts is after the service came back elsewhere.
                served = probe.served_by_since(back.t)
                if victim in served:
                    hung_served.append(run)
                events = [e for e in lab.events(100) if e["time"] >= wall0]
                fenced = any(e["kind"].startswith("fencing") and
                             f"{victim} fenced" in e["message"] for e in events)
                fenced_runs += fenced
                outages.append(outage)
                leaders += leader == victim
                print(f"run {run:3d}: {args.fault} {victim}"
                      + (" (etcd leader)" if leader == victim else "")
                      + f", service back on {back.who} "
                      f"after {outage:.3f} s" + (", fenced" if fenced else ", NOT fenced")
                      + (f", {victim} SERVED AGAIN" if victim in served else ""), flush=True)
                if outage > 1.0:  # say where the time went
                    for e in events:
                        print(f"      +{e['time'] - wall0:.3f} {e['node']} {e['kind']}: "
                              f"{e['message'][:100]}")
                if args.fault == "poweroff":
                    lab.faults.undo(fault.id)
    finally:
        lab.down(remove=True)
    load2 = os.getloadavg()[0]
    result = {
        "bench": "failover",
        "mode": f"lab (network namespaces), fault {args.fault}, fencing + heartbeats, "
                "3 nodes, client through the VIP"
                + (" (ocf:heartbeat:IPaddr2)" if args.ipaddr2 else " (vip agent)"),
        "fault": args.fault,
        "runs": len(outages),
        "p50_s": round(statistics.median(outages), 3),
        "p90_s": round(percentile(outages, 0.9), 3), "max_s": round(max(outages), 3),
        "min_s": round(min(outages), 3), "outages_s": [round(o, 3) for o in outages],
        "fenced_runs": fenced_runs, "victim_served_again_runs": hung_served,
        "victim_was_etcd_leader_runs": leaders,
        "timings": timings, "machine": f"{platform.machine()} {platform.node()}",
        "load_avg_1m": [round(load1, 2), round(load2, 2)],
        "date": time.strftime("%Y-%m-%d"),
    }
    print(f"outage over {len(outages)} {args.fault}s: p50 {result['p50_s']:.3f} s, "
          f"p90 {result['p90_s']:.3f} s, max {result['max_s']:.3f} s "
          f"(min {result['min_s']:.3f} s); fenced {fenced_runs}/{len(outages)}; "
          f"victim was etcd leader: {leaders}; "
          f"victim served again: {len(hung_served)}; load {load1:.1f} -> {load2:.1f}")
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    if args.json:
        print(json.dumps(result))
    return 0 if not hung_served else 1


def lab_stability(args: argparse.Namespace) -> int:
    """--lab --stability: both cores busy and 20 % loss on link 1 of the node running the
    service (store, API, service and heartbeats) plus link 2 down: nobody may be fenced."""
    import os
    import subprocess

    from vigil.lab.netlab import start_lab
    from vigil.model.durations import format_duration, parse_duration

    election = parse_duration(args.etcd_election or "250ms")
    config = LAB_CONFIG.format(etcd_hb=format_duration(election / 10),
                               etcd_el=format_duration(election),
                               hb_interval=args.hb_interval, hb_timeout=args.hb_timeout,
                               vip_agent="vip")
    name = f"stab{os.getpid() % 100000}"
    lab = start_lab(Path(f"/dev/shm/vigil-lab/{name}"), name=name, nodes=3, links=2,
                    config=config, boot_delay=1.0)
    hogs: list[subprocess.Popen[bytes]] = []
    try:
        owner = lab.wait_running("web", 30)
        lab.wait_settled(30)
        lab.faults.loss(owner, 20, link=1)
        lab.faults.link_down(owner, 2)
        hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
        print(f"both cores saturated, 20 % loss on link 1 and link 2 down at {owner}, for "
              f"{args.stability:g} s (heartbeat {args.hb_interval}/{args.hb_timeout}) ...",
              flush=True)
        wall0 = time.time()
        time.sleep(args.stability)
        for h in hogs:
            h.kill()
            h.wait()
        hogs = []
        lab.faults.undo_all()
        events = [e for e in lab.events(1000) if e["time"] >= wall0]
        fencings = [e for e in events if e["kind"].startswith("fencing")]
        moved = lab.running_on("web") != owner
    finally:
        for h in hogs:
            h.kill()
            h.wait()
        lab.down(remove=True)
    result = {"bench": "failover-stability", "mode": "lab", "seconds": args.stability,
              "fencings": len(fencings), "service_moved": moved,
              "heartbeat_interval": args.hb_interval, "heartbeat_timeout": args.hb_timeout}
    print(f"fencings: {len(fencings)}, service moved: {moved}")
    for e in fencings[:5]:
        print(f"  +{e['time'] - wall0:.2f} {e['node']}: {e['message'][:110]}")
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    if args.json:
        print(json.dumps(result))
    return 0 if not fencings and not moved else 1


if __name__ == "__main__":
    sys.exit(main())
