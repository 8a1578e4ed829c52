"""The drill report: `results.json` (every verdict, figure and sample), `report.md` (a
summary table, then each drill's procedure, steps, verdicts and its timeline as an SVG
file) and `report.html` (the same with the pictures inline)."""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vigil.lab.drills.expectations import Verdict, outages, passed, splits
from vigil.lab.drills.model import Drill
from vigil.lab.drills.record import Record
from vigil.lab.drills.timeline import render_svg


@dataclass
class DrillResult:
    drill: Drill
    record: Record
    verdicts: list[Verdict]
    wall_seconds: float = 0.0
    """Lab up + drill + lab down."""

    @property
    def passed(self) -> bool:
        return passed(self.verdicts)

    def figures(self) -> dict[str, float | None]:
        """The few numbers worth a column: longest outage, availability, split time."""
        r = self.record
        found = outages(r.probes)
        longest = max((o.seconds for o in found), default=0.0)
        ok = sum(p.ok for p in r.probes)
        return {
            "longest_outage_s": None if math.isinf(longest) else round(longest, 3),
            "availability": round(ok / len(r.probes), 4) if r.probes else None,
            "split_s": round(sum(s.end - s.start for s in splits(r.holders)), 3),
            "probes": float(len(r.probes)),
            "duration_s": round(r.duration, 2),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.drill.name,
            "file": self.drill.file,
            "description": self.drill.description,
            "passed": self.passed,
            "wall_seconds": round(self.wall_seconds, 2),
            "figures": self.figures(),
            "verdicts": [{"expectation": v.expectation, "ok": v.ok, "observed": v.observed,
                          "figure": v.figure} for v in self.verdicts],
            "steps": [s.describe() for s in self.drill.steps],
            "record": self.record.to_json(),
        }


def _fig(value: float | None, unit: str = "s") -> str:
    if value is None:
        return "never back" if unit == "s" else "-"
    if unit == "%":
        return f"{100 * value:.1f}%"
    return f"{value:.2f}{unit}"


def _svg_name(result: DrillResult) -> str:
    return f"{result.drill.name}.svg"


def write_report(results: list[DrillResult], out: Path, started: datetime | None = None,
                 extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write results.json, report.md, report.html and one SVG per drill; the JSON doc."""
    out.mkdir(parents=True, exist_ok=True)
    started = started or datetime.now(UTC)
    doc: dict[str, Any] = {
        "started": started.isoformat(timespec="seconds"),
        "passed": sum(r.passed for r in results),
        "failed": sum(not r.passed for r in results),
        "wall_seconds": round(sum(r.wall_seconds for r in results), 1),
        **(extra or {}),
        "drills": [r.to_json() for r in results],
    }
    (out / "results.json").write_text(json.dumps(doc, indent=1) + "\n")
    svgs = {r.drill.name: render_svg(r.record) for r in results}
    for r in results:
        (out / _svg_name(r)).write_text(svgs[r.drill.name] + "\n")
    (out / "report.md").write_text(render_markdown(results, doc))
    (out / "report.html").write_text(render_html(results, doc, svgs))
    return doc


def summary_rows(results: list[DrillResult]) -> list[list[str]]:
    rows = []
    for r in results:
        f = r.figures()
        rows.append([r.drill.name, "PASS" if r.passed else "FAIL",
                     _fig(f["longest_outage_s"]), _fig(f["availability"], "%"),
                     _fig(f["split_s"]), f"{r.record.duration:.1f}s", f"{r.wall_seconds:.0f}s"])
    return rows


SUMMARY_HEADER = ["drill", "result", "longest outage", "answered", "split", "drill time",
                  "wall time"]


def render_markdown(results: list[DrillResult], doc: dict[str, Any]) -> str:
    lines = [f"# Drill report ({doc['started']})", "",
             f"{doc['passed']} passed, {doc['failed']} failed, "
             f"{doc['wall_seconds']:.0f}s in all. Probe: HTTP GET through the VIP every 20 ms "
             "from the client host; detector: every host every 20 ms.", "",
             "| " + " | ".join(SUMMARY_HEADER) + " |",
             "|" + "---|" * len(SUMMARY_HEADER)]
    lines += ["| " + " | ".join(row) + " |" for row in summary_rows(results)]
    for r in results:
        lines += ["", f"## {r.drill.name}: {'PASS' if r.passed else 'FAIL'}", "",
                  r.drill.description, "", "Steps (t = seconds since the drill started):", ""]
        for m in r.record.marks:
            flag = "" if m.ok else f" — FAILED: {m.error}"
            lines.append(f"- t={m.t:6.2f}s  {m.label}{flag}")
        lines += ["", "| expectation | result | observed |", "|---|---|---|"]
        for v in r.verdicts:
            lines.append(f"| {v.expectation} | {'ok' if v.ok else '**FAIL**'} | "
                         f"{v.observed.replace('|', '/')} |")
        if r.record.final_nodes:
            nodes = ", ".join(f"{k} {v}" for k, v in r.record.final_nodes.items() if k != "dc")
            lines += ["", f"At the end: {nodes}; DC {r.record.final_nodes.get('dc')}."]
        cost = r.record.sampler_cost
        if cost:
            lines += ["", f"Detector: {cost.get('passes', 0):.0f} passes, mean "
                      f"{cost.get('mean_pass_ms', 0):.2f} ms, worst "
                      f"{cost.get('max_pass_ms', 0):.2f} ms; longest gap between passes "
                      f"{cost.get('max_gap_ms', 0):.0f} ms."]
        lines += ["", f"![timeline of {r.drill.name}]({_svg_name(r)})"]
    return "\n".join(lines) + "\n"


_CSS = """
body { font-family: sans-serif; margin: 2em; max-width: 1020px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: left; font-size: 14px; }
.pass { color: #00704a; font-weight: bold; } .fail { color: #c00; font-weight: bold; }
pre { background: #f6f6f6; padding: 0.5em; }
"""


def render_html(results: list[DrillResult], doc: dict[str, Any], svgs: dict[str, str]) -> str:
    e = html.escape
    parts = ["<!doctype html><html><head><meta charset='utf-8'>",
             f"<title>vigil drill report {e(doc['started'])}</title>",
             f"<style>{_CSS}</style></head><body>",
             f"<h1>vigil drill report</h1><p>{e(doc['started'])}: {doc['passed']} passed, "
             f"{doc['failed']} failed, {doc['wall_seconds']:.0f}s in all. Probe: HTTP GET "
             "through the VIP every 20 ms; detector: every host every 20 ms.</p>",
             "<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in SUMMARY_HEADER) + "</tr>"]
    for row in summary_rows(results):
        cls = "pass" if row[1] == "PASS" else "fail"
        cells = [f"<td><a href='#{e(row[0])}'>{e(row[0])}</a></td>",
                 f"<td class='{cls}'>{row[1]}</td>"] + [f"<td>{e(c)}</td>" for c in row[2:]]
        parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append("</table>")
    for r in results:
        cls = "pass" if r.passed else "fail"
        parts += [f"<h2 id='{e(r.drill.name)}'>{e(r.drill.name)}: "
                  f"<span class='{cls}'>{'PASS' if r.passed else 'FAIL'}</span></h2>",
                  f"<p>{e(r.drill.description)}</p>", svgs[r.drill.name],
                  "<table><tr><th>t</th><th>step</th></tr>"]
        for m in r.record.marks:
            flag = "" if m.ok else f" <span class='fail'>FAILED: {e(m.error)}</span>"
            parts.append(f"<tr><td>{m.t:.2f}s</td><td>{e(m.label)}{flag}</td></tr>")
        parts.append("</table><table><tr><th>expectation</th><th>result</th>"
                     "<th>observed</th></tr>")
        for v in r.verdicts:
            c = "pass" if v.ok else "fail"
            parts.append(f"<tr><td>{e(v.expectation)}</td><td class='{c}'>"
                         f"{'ok' if v.ok else 'FAIL'}</td><td>{e(v.observed)}</td></tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
