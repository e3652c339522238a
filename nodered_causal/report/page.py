"""The report page of one :class:`~nodered_causal.report.answer.Answer` (pure: returns HTML).

What a person reads, top to bottom: the question, the verdict in words, when/what/which flow
revision, the flow drawn at its editor positions with each node coloured by its share of the
explanation (interval in its box, id on hover), the share of each node as bars with intervals,
the target's and the culprit's values before and after, notes; the numbers behind it (runtime
ids, raw scores) are folded away under "Technical details". Works offline (inline SVG, no
scripts needed to read it). Used by ``attribute --report``, ``explain --report``, ``watch``'s
incident reports and, served by the tap plugin, the editor sidebar's "full report" link.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable

from nodered_causal.report.answer import Answer
from nodered_causal.report.build import answer_blame
from nodered_causal.report.chart import before_after_svg, fmt_number, ranking_svg
from nodered_causal.report.draw import GraphLike, to_svg
from nodered_causal.report.html import CSS

__all__ = ["render_answer"]

_KIND_WORDS = {
    "attribution": "Why a value changed",
    "explanation": "Why one message was unusual",
    "incident": "Incident",
    "experiment": "Experiment",
}
_STATE_WORDS = {"open": "open", "update": "open (updated)", "closed": "closed"}

PAGE_CSS = (
    CSS
    + """
.verdict { font-size: 17px; padding: 10px 14px; background: #fff4f2; border-left: 5px solid
  #c0392b; max-width: 900px; }
.verdict.none { background: #f2f7f2; border-left-color: #3c8d40; }
.meta { color: #555; font-size: 13px; }
.meta span { margin-right: 14px; white-space: nowrap; }
.state { display: inline-block; padding: 1px 8px; border-radius: 9px; color: #fff;
  background: #c0392b; font-size: 12px; }
.state.closed { background: #3c8d40; }
details.tech { margin-top: 28px; } details.tech summary { cursor: pointer; color: #555; }
"""
)


def _meta(answer: Answer) -> str:
    items = [("Made", answer.created_at.replace("T", " ").replace("Z", " UTC"))]
    items.append(("nodered-causal", answer.tool_version))
    items.append(("Flow revision", answer.flow_rev or "not recorded"))
    if answer.detected_at:
        items.append(("Detected", answer.detected_at.replace("T", " ").replace("Z", " UTC")))
    if answer.changed_at:
        items.append(("Changed", answer.changed_at.replace("T", " ").replace("Z", " UTC")))
    items.extend(answer.facts)
    spans = "".join(
        f"<span><b>{html.escape(k)}:</b> {html.escape(str(v))}</span>" for k, v in items
    )
    return f'<p class="meta">{spans}</p>'


def _tech_table(answer: Answer) -> str:
    head = "".join(
        f"<th>{h}</th>" for h in ("node", "runtime id", "score", "interval", "share", "blamed")
    )
    rows = []
    for r in answer.ranking:
        interval = (
            f"{fmt_number(r.low)} to {fmt_number(r.high)}"
            if r.low is not None and r.high is not None
            else "–"
        )
        share = f"{r.share * 100:.1f} %" if r.share is not None else "–"
        cells = (r.name, r.node, fmt_number(r.score), interval, share, "yes" if r.blamed else "")
        rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def render_answer(graph: GraphLike, answer: Answer, *, highlight: Iterable[str] = ()) -> str:
    """The whole page; ``highlight`` ids (e.g. an injected node) get a blue outline."""
    kind = _KIND_WORDS.get(answer.kind, answer.kind)
    state = ""
    if answer.state:
        cls = "state closed" if answer.state == "closed" else "state"
        state = f' <span class="{cls}">{html.escape(_STATE_WORDS.get(answer.state, answer.state))}'
        state += "</span>"
    verdict_cls = "verdict" if answer.blamed else "verdict none"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(answer.title)}</title><style>{PAGE_CSS}</style></head><body>",
        f'<p class="meta">{html.escape(kind)}{state}</p>',
        f"<h1>{html.escape(answer.title)}</h1>",
        f'<p class="{verdict_cls}" id="verdict">{html.escape(answer.verdict)}</p>',
        _meta(answer),
        "<h2>Where in the flow</h2>",
        '<p class="legend"><span style="background:#ff2828">blamed (darker = larger share)'
        '</span><span style="background:#cccccc">has a share, not blamed</span>'
        '<span style="border:3px solid #1f4fd1">highlighted</span> '
        "The percentage in a box is the node's share of the explanation, with its interval. "
        "Hover a node for its id.</p>",
        f'<div class="flowbox">{to_svg(graph, answer_blame(answer), highlight=highlight)}</div>',
    ]
    shown = [r for r in answer.ranking if r.blamed or abs(r.share or r.score) >= 0.005]
    parts.append("<h2>How much each node explains</h2>")
    if shown:
        parts.append(f'<div class="flowbox">{ranking_svg(shown)}</div>')
    else:
        parts.append("<p>No node has a share: nothing upstream changed enough to explain.</p>")
    if answer.series:
        parts.append("<h2>Before and after</h2>")
        parts += [f'<div class="flowbox">{before_after_svg(s)}</div>' for s in answer.series]
    if answer.notes:
        parts.append("<h2>Notes</h2><ul>")
        parts += [f"<li>{html.escape(n)}</li>" for n in answer.notes]
        parts.append("</ul>")
    parts += [
        '<details class="tech"><summary>Technical details</summary>',
        f"<p>Answer id {html.escape(answer.id)}; target id {html.escape(answer.target)}.</p>",
        _tech_table(answer),
        "</details>",
    ]
    payload = json.dumps(answer.to_dict()).replace("</", "<\\/")
    parts.append(f'<script type="application/json" id="data">{payload}</script>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
