"""Reports people can look at: the flow drawn at its editor x/y, coloured by blame.

SVG and HTML are pure text; PNG goes through graphviz.
"""

from __future__ import annotations

from nodered_causal.errors import ReportError
from nodered_causal.report.draw import Blame, layout, to_dot, to_svg
from nodered_causal.report.html import render_html
from nodered_causal.report.write import render_png, write_atomic

__all__ = [
    "Blame",
    "ReportError",
    "layout",
    "render_html",
    "render_png",
    "to_dot",
    "to_svg",
    "write_atomic",
]
