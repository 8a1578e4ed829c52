"""Scheduler benchmark: seconds and peak memory of vigil's schedule() per cluster size.

    .venv/bin/python bench/scheduler.py [--json] [--crm-simulate] [--sizes 3x30,16x500]

Each cluster (nodes x primitives) is generated as a Pacemaker CIB with a fixed seed: a mix
of plain primitives, groups of three, a few anonymous clones, location preferences and
bans, INFINITY colocations with mandatory orders, resource-stickiness 100, about 70% of
the resources running, 1% with a failed monitor and a fail count, and every primitive
probed on every node (`--unprobed`: no probe history). vigil reads it
through `vigil.model.cib` (the importer, timed once: "import s", what `vigil import cib`
spends apart from writing files) and the timed part is schedule() alone: best of a few
runs for seconds, and a separate run under tracemalloc for the peak of Python
allocations. `--crm-simulate` writes the same CIBs to a temp dir and times
Debian's `crm_simulate -x FILE -R -Q` on them (wall seconds and the child's max RSS).
`--json` ends the output with one line: {"sizes": [{"nodes", "resources", "seconds",
"peak_mib", ...}, ...]}. Figures only: nothing here passes or fails on timing.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from pathlib import Path

from vigil.model.cib import import_cib_text
from vigil.scheduler import schedule
from vigil.scheduler.summary import summarize

SIZES = ((3, 30), (16, 500), (32, 2000), (64, 5000))
_OK = 'op-digest="f2317cad3d54cec5d7d7aa7d0bf35cf8"'


def generate_cib(nodes: int, resources: int, seed: int = 6, probed: bool = True) -> str:
    """A deterministic CIB with `resources` primitives on `nodes` nodes.

    probed: every primitive has a history on every node (a start where it runs, a probe
    that found it stopped elsewhere), as in a cluster that has been up for a while; without
    it crm_simulate also plans nodes x resources probes."""
    rnd = random.Random(seed * 1_000_003 + nodes * 7919 + resources)
    names = [f"node{i}" for i in range(1, nodes + 1)]
    rsc_xml: list[str] = []
    cons: list[str] = []
    plain: list[str] = []
    tops: list[str] = []  # things constraints may name (plain primitives and groups)
    n_clones = max(1, resources // 500)
    n_grouped = (resources * 3 // 10) // 3 * 3
    count = 0

    def prim(rid: str) -> str:
        return (f'<primitive id="{rid}" class="ocf" provider="heartbeat" type="Dummy">'
                f'<operations><op id="{rid}-mon" name="monitor" interval="10s"/></operations>'
                "</primitive>")

    for c in range(n_clones):
        rid = f"cl{c}"
        rsc_xml.append(f'<clone id="{rid}-clone">{prim(rid)}</clone>')
        count += 1
    for g in range(n_grouped // 3):
        members = [f"g{g}m{m}" for m in range(3)]
        rsc_xml.append(f'<group id="g{g}">' + "".join(prim(m) for m in members) + "</group>")
        tops.append(f"g{g}")
        count += 3
    i = 0
    while count < resources:
        rid = f"r{i}"
        rsc_xml.append(prim(rid))
        plain.append(rid)
        tops.append(rid)
        count += 1
        i += 1
    home: dict[str, str] = {}
    for k, top in enumerate(tops):
        node = rnd.choice(names)
        home[top] = node
        if rnd.random() < 0.5:
            cons.append(f'<rsc_location id="loc-{top}" rsc="{top}" node="{node}" '
                        f'score="{rnd.randint(1, 100)}"/>')
        if rnd.random() < 0.02:
            ban = rnd.choice(names)
            if ban != node:
                cons.append(f'<rsc_location id="ban-{top}" rsc="{top}" node="{ban}" '
                            'score="-INFINITY"/>')
        if k > 0 and top in plain and rnd.random() < 0.1:
            target = tops[rnd.randrange(k)]
            home[top] = home[target]
            cons.append(f'<rsc_colocation id="col-{top}" rsc="{top}" with-rsc="{target}" '
                        'score="INFINITY"/>')
            cons.append(f'<rsc_order id="ord-{top}" first="{target}" then="{top}"/>')
    # Status: ~70% of the tops running at home (groups: all members), 1% failed monitor.
    lrm: dict[str, list[str]] = {n: [] for n in names}
    attrs: dict[str, list[str]] = {n: [] for n in names}
    call = 10
    running: dict[str, str] = {}  # primitive -> node
    for top in tops:
        if rnd.random() >= 0.7:
            continue
        node = home[top]
        members = [f"{top}m{m}" for m in range(3)] if top.startswith("g") else [top]
        for rid in members:
            running[rid] = node
            call += 1
            ops = [_op(rid, "start", 0, call, 0)]
            if rnd.random() < 0.01:
                call += 1
                ops.append(_op(rid, "monitor", 7, call, 10000))
                attrs[node].append(f'<nvpair id="st-{node}-fc-{rid}" '
                                   f'name="fail-count-{rid}#monitor_10000" value="1"/>')
            lrm[node].append(_lrm(rid, ops))
    if probed:
        primitives = [f"cl{c}" for c in range(n_clones)]
        primitives += [f"g{g}m{m}" for g in range(n_grouped // 3) for m in range(3)] + plain
        for rid in primitives:
            for node in names:
                if running.get(rid) != node:
                    lrm[node].append(_lrm(rid, [_op(rid, "monitor", 7, 1, 0, expected=7)]))
    status = []
    for idx, n in enumerate(names, 1):
        ta = ""
        if attrs[n]:
            ta = (f'<transient_attributes id="{idx}"><instance_attributes id="st-{idx}">'
                  + "".join(attrs[n]) + "</instance_attributes></transient_attributes>")
        status.append(f'<node_state id="{idx}" uname="{n}" in_ccm="true" crmd="online" '
                      f'join="member" expected="member"><lrm id="{idx}"><lrm_resources>'
                      + "".join(lrm[n]) + f"</lrm_resources></lrm>{ta}</node_state>")
    node_xml = "".join(f'<node id="{i}" uname="{n}"/>' for i, n in enumerate(names, 1))
    return ('<cib crm_feature_set="3.16.1" validate-with="pacemaker-3.8" epoch="1" '
            'num_updates="0" admin_epoch="0" have-quorum="1" dc-uuid="1"><configuration>'
            '<crm_config><cluster_property_set id="opts"><nvpair id="opts-st" '
            'name="stonith-enabled" value="false"/></cluster_property_set></crm_config>'
            f"<nodes>{node_xml}</nodes><resources>{''.join(rsc_xml)}</resources>"
            f"<constraints>{''.join(cons)}</constraints><rsc_defaults><meta_attributes "
            'id="rd"><nvpair id="rd-st" name="resource-stickiness" value="100"/>'
            "</meta_attributes></rsc_defaults></configuration>"
            f"<status>{''.join(status)}</status></cib>\n")


def _lrm(rid: str, ops: list[str]) -> str:
    return (f'<lrm_resource id="{rid}" class="ocf" provider="heartbeat" type="Dummy">'
            f'{"".join(ops)}</lrm_resource>')


def _op(rid: str, task: str, rc: int, call: int, interval: int, expected: int = 0) -> str:
    digest = _OK if interval == 0 else 'op-digest="4811cef7f7f94e3a35a70be7916cb2fd"'
    return (f'<lrm_rsc_op id="{rid}_{task}_{interval}" operation="{task}" call-id="{call}" '
            f'rc-code="{rc}" op-status="0" interval="{interval}" crm_feature_set="3.16.1" '
            f'transition-key="{call}:1:{expected}:00000000-0000-4000-8000-000000000001" '
            f'{digest}/>')


def _norm(lines: list[str]) -> Counter[str]:
    """Summary lines without the padding (which depends on the other lines)."""
    return Counter(" ".join(line.split()) for line in lines)


def time_vigil(cib: str) -> tuple[dict[str, float | int], Counter[str]]:
    gc.collect()
    t0 = time.perf_counter()
    imported = import_cib_text(cib, "<bench>", now=1_800_000_000.0)
    import_seconds = time.perf_counter() - t0
    config, state = imported.config, imported.state
    runs = 3 if len(config.resources) <= 2000 else 2
    best = float("inf")
    actions = 0
    for _ in range(runs):
        gc.collect()
        t0 = time.perf_counter()
        transition = schedule(config, state)
        best = min(best, time.perf_counter() - t0)
        actions = len(transition.actions)
    gc.collect()
    tracemalloc.start()
    transition = schedule(config, state)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    lines = _norm(summarize(config, state, transition))
    return ({"seconds": round(best, 4), "peak_mib": round(peak / 2**20, 1),
             "actions": actions, "import_seconds": round(import_seconds, 2)}, lines)


def time_crm_simulate(exe: str, cib: str, workdir: Path, name: str,
                      vigil_lines: Counter[str]) -> dict[str, float | int]:
    """crm_simulate -R on the same CIB: wall seconds, max RSS, and how many of its
    Transition Summary lines vigil printed too (padding aside)."""
    path = workdir / f"{name}.xml"
    out = workdir / f"{name}.out"
    path.write_text(cib)
    t0 = time.perf_counter()
    with out.open("w") as sink:
        proc = subprocess.Popen([exe, "-x", str(path), "-R"], stdout=sink,
                                stderr=subprocess.DEVNULL, env={**os.environ, "LC_ALL": "C"})
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - t0
    text = out.read_text().splitlines()
    start = text.index("Transition Summary:") + 1 if "Transition Summary:" in text else len(text)
    crm: list[str] = []
    for line in text[start:]:
        if not line.strip():
            break
        crm.append(line)
    crm_lines = _norm(crm)
    same = sum((crm_lines & vigil_lines).values())
    return {"crm_seconds": round(seconds, 3), "crm_peak_mib": round(usage.ru_maxrss / 1024, 1),
            "crm_rc": proc.returncode, "crm_lines": sum(crm_lines.values()),
            "vigil_lines": sum(vigil_lines.values()), "same_lines": same}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    parser.add_argument("--crm-simulate", action="store_true",
                        help="also time Debian's crm_simulate on the same CIBs")
    parser.add_argument("--sizes", default=",".join(f"{n}x{r}" for n, r in SIZES),
                        help="comma-separated NODESxRESOURCES (default: the four of issue #6)")
    parser.add_argument("--keep-cibs", metavar="DIR", help="write the generated CIBs here")
    parser.add_argument("--unprobed", action="store_true",
                        help="no probe history: crm_simulate then also plans the probes")
    args = parser.parse_args()
    sizes = [tuple(int(x) for x in s.split("x")) for s in args.sizes.split(",")]
    exe = shutil.which("crm_simulate") if args.crm_simulate else None
    if args.crm_simulate and exe is None:
        print("crm_simulate not found: apt-get install pacemaker-cli-utils", file=sys.stderr)
        return 2
    results = []
    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as tmp:
        workdir = Path(args.keep_cibs) if args.keep_cibs else Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        header = (f"{'nodes':>6} {'resources':>9} {'seconds':>9} {'peak MiB':>9} {'actions':>8}"
                  f" {'import s':>9}")
        if exe:
            header += f" {'crm_simulate s':>15} {'crm MiB':>9} {'same summary lines':>19}"
        print(header, flush=True)
        for nodes, resources in sizes:
            cib = generate_cib(nodes, resources, probed=not args.unprobed)
            row: dict[str, float | int] = {"nodes": nodes, "resources": resources}
            measured, lines = time_vigil(cib)
            row.update(measured)
            if args.keep_cibs:
                (workdir / f"bench-{nodes}x{resources}.xml").write_text(cib)
            line = (f"{nodes:>6} {resources:>9} {row['seconds']:>9.3f} {row['peak_mib']:>9.1f} "
                    f"{row['actions']:>8} {row['import_seconds']:>9.2f}")
            if exe:
                row.update(time_crm_simulate(exe, cib, workdir, f"bench-{nodes}x{resources}",
                                             lines))
                same = f"{row['same_lines']}/{row['crm_lines']}"
                line += f" {row['crm_seconds']:>15.2f} {row['crm_peak_mib']:>9.1f} {same:>19}"
            print(line, flush=True)
            results.append(row)
    if args.json:
        print(json.dumps({"sizes": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
