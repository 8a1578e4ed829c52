"""The drill report: JSON, Markdown and HTML with the SVG timeline (pure rendering)."""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from vigil.lab.drills.expectations import judge
from vigil.lab.drills.model import Drill, Expectation, Setup
from vigil.lab.drills.record import Mark, Record
from vigil.lab.drills.report import DrillResult, write_report
from vigil.lab.drills.timeline import NO_ANSWER, PALETTE, SPLIT, render_svg

sys.path.insert(0, str(Path(__file__).parent))
from test_drill_expectations import failover_record

SVG = "{http://www.w3.org/2000/svg}"


def result(split: bool = False) -> DrillResult:
    record = failover_record(split_at=7.0 if split else None)
    record.marks.append(Mark("heal", 8.0, 8.1, "heal power-off n1", "heal"))
    drill = Drill("power-off-active", "Power off the owner.", Setup(), (),
                  (Expectation("outage", {"after": "fault", "at_most": 2.0}),))
    return DrillResult(drill, record, judge(drill, record), wall_seconds=12.0)


def rects(svg: str) -> list[ET.Element]:
    return list(ET.fromstring(svg).iter(f"{SVG}rect"))


def bands(svg: str) -> list[ET.Element]:
    """The split bands (the legend's red square has no opacity)."""
    return [r for r in rects(svg) if r.get("fill") == SPLIT and r.get("fill-opacity")]


def test_the_svg_shows_who_served_the_gap_and_the_marks() -> None:
    svg = render_svg(result().record)
    root = ET.fromstring(svg)  # well-formed XML
    fills = [r.get("fill") for r in rects(svg)]
    assert PALETTE[0] in fills and PALETTE[1] in fills  # n1 then n2 answered
    assert NO_ANSWER in fills  # the outage
    assert not bands(svg)  # no split in this run
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "fault power-off n1" in texts and "heal power-off n1" in texts
    assert "client (VIP)" in texts and {"n1", "n2", "n3"} <= set(texts)
    # The outage rectangle spans the failed probes, with a tooltip saying so.
    titles = [t.text or "" for t in root.iter(f"{SVG}title")]
    assert any(t.startswith("5.00s-5.60s: no answer") for t in titles), titles


def test_a_split_is_drawn_as_a_red_band() -> None:
    svg = render_svg(result(split=True).record)
    band = bands(svg)
    assert len(band) == 1 and float(band[0].get("width", "0")) >= 2
    assert "split: vip" in svg


def test_write_report_writes_every_format(tmp_path: Path) -> None:
    ok, bad = result(), result(split=True)
    bad.drill = Drill("power-off-split", "d", Setup(), (), ())
    bad.record.drill = "power-off-split"
    doc = write_report([ok, bad], tmp_path)
    assert doc["passed"] == 1 and doc["failed"] == 1
    data = json.loads((tmp_path / "results.json").read_text())
    first = data["drills"][0]
    assert first["passed"] and first["figures"]["longest_outage_s"] == 0.62
    assert Record.from_json(first["record"]).probes[0].node == "n1"
    md = (tmp_path / "report.md").read_text()
    assert "| power-off-active | PASS | 0.62s |" in md
    assert "| power-off-split | FAIL |" in md
    assert "![timeline of power-off-active](power-off-active.svg)" in md
    assert "| never_split | **FAIL** | 1 split(s)" in md
    html = (tmp_path / "report.html").read_text()
    assert html.count("<svg") == 2 and "class='fail'>FAIL" in html
    assert (tmp_path / "power-off-active.svg").read_text().startswith("<svg")
