"""A self-contained HTML page (works offline): the flow coloured by blame, a summary, a case table.

Pure: :func:`render_html` takes data and returns the page text; writing it is the caller's job
(:func:`nodered_causal.report.write.write_report`).
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from nodered_causal.report.draw import Blame, GraphLike, to_svg

__all__ = ["render_html"]

CSS = """
body { font-family: Helvetica, Arial, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 28px; }
table { border-collapse: collapse; font-size: 13px; }
td, th { border: 1px solid #ccc; padding: 4px 8px; text-align: left; }
th { background: #f4f4f4; }
.summary td:first-child { font-weight: bold; }
.hit { background: #e6f6e6; } .miss { background: #fbe9e9; }
.flowbox { overflow: auto; border: 1px solid #ddd; padding: 8px; background: #fafafa; }
.legend span { display: inline-block; padding: 2px 8px; margin-right: 8px; border: 1px solid #999; }
"""


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    if value is None:
        return "–"
    return str(value)


def _table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], cls: str = "") -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for row in rows:
        row_cls = row.get("_class", "")
        cells = "".join(f"<td>{html.escape(_fmt(row.get(c)))}</td>" for c in columns)
        body.append(f'<tr class="{html.escape(str(row_cls))}">{cells}</tr>')
    return f'<table class="{cls}"><tr>{head}</tr>{"".join(body)}</table>'


def render_html(
    graph: GraphLike,
    *,
    title: str,
    blame: Mapping[str, Blame] | None = None,
    highlight: Iterable[str] = (),
    summary: Mapping[str, Any] | None = None,
    cases: Sequence[Mapping[str, Any]] = (),
    case_columns: Sequence[str] = (),
    notes: Sequence[str] = (),
    details: Sequence[tuple[str, Mapping[str, Blame], Sequence[str]]] = (),
    data: Any = None,
) -> str:
    """The report page. ``cases`` rows may carry ``_class`` ("hit"/"miss") to colour the row;
    ``details`` adds one collapsible drawing per ``(title, blame, highlight)`` (e.g. per case);
    ``data`` (JSON-serialisable) is embedded as ``<script type="application/json" id="data">``."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    if summary:
        rows = [{"metric": k, "value": v} for k, v in summary.items()]
        table = _table(rows, ["metric", "value"], "summary")
        parts += ['<h2>Summary</h2><div id="summary">', table]
        parts.append("</div>")
    parts += [
        "<h2>Flow</h2>",
        '<p class="legend"><span style="background:#ff2828">blamed (darker = larger share)</span>'
        '<span style="background:#eeeeee">not blamed</span>'
        '<span style="border:3px solid #1f4fd1">injected / highlighted</span> '
        "Hover a node for its score and interval.</p>",
        f'<div class="flowbox">{to_svg(graph, blame, highlight=highlight)}</div>',
    ]
    if cases:
        columns = list(case_columns) or [k for k in cases[0] if not k.startswith("_")]
        parts += ["<h2>Cases</h2>", _table(cases, columns, "cases")]
    if details:
        parts.append("<h2>Per case</h2>")
        for head, case_blame, marked in details:
            svg = to_svg(graph, case_blame, highlight=marked)
            parts.append(
                f'<details><summary>{html.escape(head)}</summary><div class="flowbox">{svg}</div>'
                "</details>"
            )
    if notes:
        parts.append("<h2>Notes</h2><ul>")
        parts += [f"<li>{html.escape(n)}</li>" for n in notes]
        parts.append("</ul>")
    if data is not None:
        payload = json.dumps(data, default=str).replace("</", "<\\/")
        parts.append(f'<script type="application/json" id="data">{payload}</script>')
    # Self-check for headless rendering tests and curious users: how many nodes got a real box.
    parts.append(
        "<script>window.addEventListener('load',function(){var n=0;"
        "document.querySelectorAll('svg.flow g.node').forEach(function(g){"
        "var b=g.getBBox();if(b.width>0&&b.height>0){n++;}});"
        "document.body.setAttribute('data-rendered-nodes',String(n));});</script>"
    )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
