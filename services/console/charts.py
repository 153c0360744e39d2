"""Charts a board member reads at a glance, drawn on the server as SVG: no script, no
CDN, nothing fetched by the browser. Each chart is an image with a title and a
description (`role="img"`, `aria-labelledby`), and the page puts the same figures in a
table beneath it for a screen reader (the chart says so in its description).

Pure functions: figures in, SVG text out. Every label is escaped here, since the page
inserts the SVG as markup. Colours come from classes the console's stylesheet sets
(`bar`, `rag-red`...), so the chart follows the page's colours and contrast.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

ROW = 28  # height of one bar's row
LABEL = 210  # width given to the labels of a horizontal chart
VALUE = 70  # width given to the figures after the bars


@dataclass(frozen=True)
class Bar:
    """One bar: what it is, its figure, the figure as shown, and an extra class (a RAG)."""

    label: str
    value: float
    shown: str
    tone: str = ""


def _frame(chart_id: str, title: str, description: str, width: int, height: int) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc">'
        f'<title id="{chart_id}-title">{escape(title)}</title>'
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>'
    )


def bars(
    chart_id: str, title: str, items: Sequence[Bar], *, width: int = 640, table: str = ""
) -> str:
    """A horizontal bar chart: one row a bar, its label on the left and its figure on the
    right; the longest bar fills the space. `table` names the table beneath that holds
    the same figures."""
    height = max(1, len(items)) * ROW + 8
    most = max((item.value for item in items), default=0) or 1
    room = width - LABEL - VALUE
    description = f"{len(items)} bars; the figures are in the table {table or 'below'}."
    parts = [_frame(chart_id, title, description, width, height)]
    if not items:
        parts.append(f'<text x="0" y="20" class="chart-empty">{escape("Nothing yet")}</text>')
    for row, item in enumerate(items):
        y = row * ROW + 4
        length = max(0.0, item.value) / most * room
        tone = f" {escape(item.tone)}" if item.tone else ""
        parts.append(
            f'<text x="{LABEL - 8}" y="{y + 17}" text-anchor="end" class="chart-label">'
            f"{escape(item.label)}</text>"
            f'<rect x="{LABEL}" y="{y + 3}" width="{length:.1f}" height="{ROW - 8}" '
            f'class="bar{tone}"/>'
            f'<text x="{LABEL + length + 6:.1f}" y="{y + 17}" class="chart-value">'
            f"{escape(item.shown)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def columns(
    chart_id: str, title: str, items: Sequence[Bar], *, width: int = 640, table: str = ""
) -> str:
    """A column chart for a trend (months left to right): each column's label beneath
    it and its figure above it."""
    height, base, top = 220, 190, 20
    step = width / max(1, len(items))
    most = max((item.value for item in items), default=0) or 1
    description = f"{len(items)} columns; the figures are in the table {table or 'below'}."
    parts = [_frame(chart_id, title, description, width, height)]
    for index, item in enumerate(items):
        tall = max(0.0, item.value) / most * (base - top - 14)
        x = index * step + step * 0.15
        centre = index * step + step / 2
        parts.append(
            f'<rect x="{x:.1f}" y="{base - tall:.1f}" width="{step * 0.7:.1f}" '
            f'height="{tall:.1f}" class="bar"/>'
            f'<text x="{centre:.1f}" y="{base - tall - 4:.1f}" text-anchor="middle" '
            f'class="chart-value">{escape(item.shown)}</text>'
            f'<text x="{centre:.1f}" y="{base + 18}" text-anchor="middle" '
            f'class="chart-label">{escape(item.label)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
