"""Reports people can look at: the flow drawn at its editor x/y, coloured by blame.

- :class:`Answer` (``answer.py``): one result in plain words, with names, shares and intervals,
  the target's and the culprit's values before and after; built from an attribution by
  :func:`answer_from_attribution` (``build.py``), drawn by :func:`render_answer` (``page.py``),
  written by :func:`write_answer_report`, pushed to the editor by :func:`push_answer`
  (``watch``'s incident documents by :func:`push_incident`, ``push.py``).
- Campaign pages: :func:`render_html` (``html.py``).

SVG and HTML are pure text; PNG goes through graphviz.
"""

from __future__ import annotations

from nodered_causal.errors import ReportError
from nodered_causal.report.answer import Answer, Ranked, Series, display_name
from nodered_causal.report.build import answer_blame, answer_from_attribution, graph_names
from nodered_causal.report.chart import before_after_svg, ranking_svg
from nodered_causal.report.draw import Blame, layout, to_dot, to_svg
from nodered_causal.report.html import render_html
from nodered_causal.report.page import render_answer
from nodered_causal.report.push import push_answer, push_incident
from nodered_causal.report.write import (
    render_png,
    write_answer_report,
    write_atomic,
)

__all__ = [
    "Answer",
    "Blame",
    "Ranked",
    "ReportError",
    "Series",
    "answer_blame",
    "answer_from_attribution",
    "before_after_svg",
    "display_name",
    "graph_names",
    "layout",
    "push_answer",
    "push_incident",
    "ranking_svg",
    "render_answer",
    "render_html",
    "render_png",
    "to_dot",
    "to_svg",
    "write_answer_report",
    "write_atomic",
]
