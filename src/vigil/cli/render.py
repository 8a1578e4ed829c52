"""Human-readable renderings of API documents (status, events)."""

from __future__ import annotations

import time
from typing import Any


def _ago(t: float, now: float) -> str:
    s = max(0.0, now - t)
    return f"{s:.0f}s ago" if s < 120 else f"{s / 60:.0f}m ago"


def render_status(doc: dict[str, Any], now: float | None = None) -> str:
    now = time.time() if now is None else now
    store = doc.get("store", {})
    reach, unreach = store.get("reachable", []), store.get("unreachable", [])
    total = len(reach) + len(unreach)
    if store.get("quorate"):
        store_txt = f"quorate ({len(reach)}/{total} members reachable, leader " \
                    f"{store.get('leader')})"
    else:
        store_txt = f"NO QUORUM ({len(reach)}/{total} members reachable)"
    lines = [
        f"Cluster {doc['cluster']}: config v{doc.get('config_version')}, "
        f"DC {doc.get('dc') or '-'}, store {store_txt}",
        f"Answered by {doc.get('answered_by')} at revision {doc.get('revision')}"
        + ("" if "local" not in doc else
           f" (this node: {'quorate' if doc['local'].get('quorate') else 'NOT quorate'})"),
        "",
        "Nodes:",
    ]
    width = max((len(n["name"]) for n in doc["nodes"]), default=4)
    for n in doc["nodes"]:
        extra = "  (DC)" if n.get("dc") else ""
        lines.append(f"  {n['name']:<{width}}  {n['state']:<13} {n['address']}{extra}")
    lines += ["", "Resources:"]
    rw = max((len(r["id"]) for r in doc["resources"]), default=4)
    aw = max((len(r["agent"]) for r in doc["resources"]), default=4)
    for r in doc["resources"]:
        if r["state"] == "stopped":
            where = "stopped" + (" (target-role Stopped)" if r["target_role"] == "Stopped" else "")
        elif r["state"] == "started":
            where = f"started on {r['node']}"
        else:
            where = f"{r['state']} on {', '.join(r['nodes'])}"
        line = f"  {r['id']:<{rw}}  {r['agent']:<{aw}}  {where}"
        if r["fail_counts"]:
            counts = ", ".join(f"{n}={'INFINITY' if c >= 1_000_000 else c}"
                               for n, c in sorted(r["fail_counts"].items()))
            line += f"  [fail counts: {counts}]"
        lines.append(line)
        lf = r.get("last_failure")
        if lf:
            lines.append(f"  {'':<{rw}}  last failure on {lf['node']} {_ago(lf['time'], now)}: "
                         f"{lf['reason']}")
        if r.get("constraints"):
            lines.append(f"  {'':<{rw}}  runtime constraints: {', '.join(r['constraints'])}")
    f = doc.get("fencing")
    if f is not None:
        if f["self_fencing_only"]:
            lines += ["", "Fencing: no fence device configured: the cluster relies on "
                      "self-fencing (a lost node's resources move after its lease expires "
                      "plus the self-fence timeout)"]
        else:
            txt = f"Fencing: devices {', '.join(f['devices'])}"
            if f["unfenceable"]:
                txt += f"; NOT fenceable: {', '.join(f['unfenceable'])} (self-fencing only)"
            lines += ["", txt]
    t = doc.get("transition")
    if t:
        state = "complete" if t["complete"] else ("aborted" if t["aborted"] else "in progress")
        lines += ["", f"Transition {t['id']}: {state} ({t['done']} done, {t['running']} running, "
                  f"{t['pending']} pending, {t['failed']} failed of {t['actions']})"]
    for p in doc.get("problems", []):
        lines.append(f"WARNING: {p}")
    return "\n".join(lines)


def render_events(events: list[dict[str, Any]], since: float | None = None) -> str:
    """One line per event; with `since`, times are shown relative to it (+s.sss)."""
    out = []
    for e in events:
        ms = int(e["time"] * 1000) % 1000
        ts = time.strftime("%H:%M:%S", time.localtime(e["time"])) + f".{ms:03d}"
        if since is not None:
            ts = f"{e['time'] - since:+7.3f}s"
        out.append(f"{ts}  {e['node']:<6} {e['kind']:<10} {e['message']}")
    return "\n".join(out) if out else "(no events)"


def render_fence_history(history: list[dict[str, Any]]) -> str:
    if not history:
        return "(no fencing yet)"
    out = []
    for h in history:
        ts = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(h["finished_at"]))
        took = h["finished_at"] - h["requested_at"]
        out.append(f"{ts}  {h['node']:<8} {h['action']:<6} {h['state']:<6} ({took:.2f}s, by "
                   f"{h['requested_by']}) {h['reason']}")
        if h.get("outcome"):
            out.append(f"{'':21}{h['outcome']}")
    return "\n".join(out)


def render_fence_verify(doc: dict[str, Any]) -> str:
    out = []
    for d in doc.get("devices", []):
        out.append(f"  {d['device']:<16} {'ok' if d['ok'] else 'FAILED':<7} {d.get('reason', '')}")
    lines = ["Fence devices:", *(out or ["  (none configured: the cluster relies on "
                                        "self-fencing)"])]
    unf = doc.get("unfenceable", [])
    lines.append(f"Not fenceable: {', '.join(unf)}" if unf else "Every node is fenceable.")
    return "\n".join(lines)
