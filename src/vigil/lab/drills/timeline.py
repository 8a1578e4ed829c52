"""The timeline picture of one drill run, as an SVG string (pure: record in, text out).

Rows: the client's probes (coloured by the node that answered, black when nothing did),
then for each node one thin row per watched resource (coloured while the detector saw it
there). Red bands mark any instant a resource was on two nodes. Dashed lines mark the
steps that changed something: faults red, heals green, planned actions blue.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from xml.sax.saxutils import escape

from vigil.lab.drills.expectations import splits
from vigil.lab.drills.record import Record

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#F0E442")
"""Okabe-Ito colours (readable with colour blindness), one per node."""
NO_ANSWER = "#222222"
SPLIT = "#FF0000"
MARK_COLOURS = {"fault": "#D55E00", "heal": "#009E73", "do": "#0072B2", "fenced": "#7B3294"}
WIDTH = 980
LEFT = 120
RIGHT = 20
ROW = 20
SUB = 9


def node_colour(nodes: Sequence[str], node: str | None) -> str:
    if node is None or node not in nodes:
        return "#999999"
    return PALETTE[list(nodes).index(node) % len(PALETTE)]


def _tick_step(duration: float) -> float:
    for step in (0.5, 1, 2, 5, 10, 15, 30, 60, 120):
        if duration / step <= 14:
            return step
    return 300


def _runs(values: Sequence[tuple[float, object]], end: float) -> list[tuple[float, float, object]]:
    """Merge consecutive equal values into (start, end, value) spans."""
    out: list[tuple[float, float, object]] = []
    for i, (t, v) in enumerate(values):
        t_next = values[i + 1][0] if i + 1 < len(values) else end
        if out and out[-1][2] == v and abs(out[-1][1] - t) < 0.5:
            out[-1] = (out[-1][0], t_next, v)
        else:
            out.append((t, t_next, v))
    return out


def _label_rows(labels: list[tuple[float, str]], x_of: Callable[[float], float]) -> list[int]:
    """A row per label so that no two labels overlap (greedy)."""
    ends: list[float] = []
    rows: list[int] = []
    for t, text in labels:
        x = x_of(t)
        width = 6.2 * len(text) + 8
        for r, end in enumerate(ends):
            if x > end:
                ends[r] = x + width
                rows.append(r)
                break
        else:
            ends.append(x + width)
            rows.append(len(ends) - 1)
    return rows


def render_svg(record: Record) -> str:
    duration = max(record.duration, 0.1)
    span = WIDTH - LEFT - RIGHT

    def x_of(t: float) -> float:
        return LEFT + span * max(0.0, min(t, duration)) / duration

    rids = sorted({rid for h in record.holders for rid in h.holders},
                  key=lambda r: (r != record.vip, r != record.service, r))
    marks = [m for m in record.marks if m.kind in MARK_COLOURS]
    label_rows = _label_rows([(m.t, m.label) for m in marks], x_of)
    header = 34 + 14 * (max(label_rows) + 1 if label_rows else 0)
    node_block = max(len(rids), 1) * (SUB + 2) + 8
    height = header + ROW + 10 + len(record.nodes) * node_block + 70
    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="11">',
        f'<rect width="{WIDTH}" height="{height}" fill="white"/>',
        f'<text x="8" y="16" font-size="13" font-weight="bold">{escape(record.drill)}</text>',
    ]
    top = header
    bottom = height - 40
    # Grid and time axis.
    step = _tick_step(duration)
    t = 0.0
    while t <= duration + 1e-9:
        x = x_of(t)
        out.append(f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{bottom}" '
                   'stroke="#e6e6e6"/>')
        out.append(f'<text x="{x:.1f}" y="{bottom + 14}" text-anchor="middle" '
                   f'fill="#444">{t:g}s</text>')
        t += step
    # Client row.
    y = top
    out.append(f'<text x="8" y="{y + 14}">client (VIP)</text>')
    probes = sorted(record.probes, key=lambda p: p.t)
    values: list[tuple[float, object]] = [(p.t, p.node if p.ok else None) for p in probes]
    for start, end, node in _runs(values, duration):
        colour = NO_ANSWER if node is None else node_colour(record.nodes, str(node))
        width = max(x_of(end) - x_of(start), 0.8)
        title = escape(_probe_title(start, end, node))
        out.append(f'<rect x="{x_of(start):.1f}" y="{y}" width="{width:.1f}" '
                   f'height="{ROW - 4}" fill="{colour}"><title>{title}</title></rect>')
    y += ROW + 10
    # One block per node: a thin row per watched resource.
    for node in record.nodes:
        colour = node_colour(record.nodes, node)
        out.append(f'<text x="8" y="{y + 10}" font-weight="bold" fill="{colour}">'
                   f'{escape(node)}</text>')
        for i, rid in enumerate(rids):
            ry = y + i * (SUB + 2)
            out.append(f'<text x="{LEFT - 6}" y="{ry + SUB - 1}" text-anchor="end" '
                       f'font-size="9" fill="#555">{escape(rid)}</text>')
            out.append(f'<rect x="{LEFT}" y="{ry}" width="{span}" height="{SUB}" fill="#f4f4f4"/>')
            held = [(h.t, node in h.holders.get(rid, ())) for h in record.holders]
            for start, end, on in _runs(held, duration):
                if on:
                    out.append(f'<rect x="{x_of(start):.1f}" y="{ry}" '
                               f'width="{max(x_of(end) - x_of(start), 0.8):.1f}" height="{SUB}" '
                               f'fill="{colour}"><title>{escape(rid)} on {escape(node)} '
                               f'{start:.2f}s-{end:.2f}s</title></rect>')
        y += node_block
    # Splits: red bands over everything, one label per band (stacked when they overlap).
    label_ends: list[float] = []
    for s in splits(record.holders):
        x1, x2 = x_of(s.start), x_of(s.end)
        out.append(f'<rect x="{x1:.1f}" y="{top - 4}" width="{max(x2 - x1, 2):.1f}" '
                   f'height="{bottom - top + 4}" fill="{SPLIT}" fill-opacity="0.3">'
                   f'<title>SPLIT: {escape(s.resource)} on {escape(", ".join(s.nodes))} '
                   f'{s.start:.2f}s-{s.end:.2f}s</title></rect>')
        text = f"split: {s.resource} on {' + '.join(s.nodes)}"
        row = next((i for i, end in enumerate(label_ends) if x1 > end), len(label_ends))
        if row == len(label_ends):
            label_ends.append(0.0)
        label_ends[row] = x1 + 6.5 * len(text)
        out.append(f'<text x="{x1 + 2:.1f}" y="{bottom - 3 - 12 * row}" fill="{SPLIT}" '
                   f'font-weight="bold">{escape(text)}</text>')
    # Step marks with their labels stacked above the rows.
    for m, row in zip(marks, label_rows, strict=True):
        x = x_of(m.t)
        colour = MARK_COLOURS[m.kind]
        ly = 34 + 14 * row
        out.append(f'<line x1="{x:.1f}" y1="{ly + 2}" x2="{x:.1f}" y2="{bottom}" '
                   f'stroke="{colour}" stroke-width="1.5" stroke-dasharray="4 3"/>')
        out.append(f'<text x="{x + 3:.1f}" y="{ly}" fill="{colour}">{escape(m.label)}</text>')
    # Legend.
    ly = height - 12
    lx = 8.0
    items = [(node_colour(record.nodes, n), f"{n}") for n in record.nodes]
    items += [(NO_ANSWER, "no answer"), (SPLIT, "on two nodes (split)")]
    for colour, text in items:
        out.append(f'<rect x="{lx:.0f}" y="{ly - 9}" width="10" height="10" fill="{colour}"/>')
        out.append(f'<text x="{lx + 14:.0f}" y="{ly}">{escape(text)}</text>')
        lx += 14 + 6.5 * len(text) + 14
    for kind, colour in MARK_COLOURS.items():
        word = {"fault": "fault", "heal": "heal", "do": "planned action",
                "fenced": "fenced"}[kind]
        out.append(f'<line x1="{lx:.0f}" y1="{ly - 4}" x2="{lx + 14:.0f}" y2="{ly - 4}" '
                   f'stroke="{colour}" stroke-width="1.5" stroke-dasharray="4 3"/>')
        out.append(f'<text x="{lx + 18:.0f}" y="{ly}">{word}</text>')
        lx += 18 + 6.5 * len(word) + 14
    out.append("</svg>")
    return "\n".join(out)


def _probe_title(start: float, end: float, node: object) -> str:
    who = "no answer" if node is None else f"answered by {node}"
    return f"{start:.2f}s-{end:.2f}s: {who}"
