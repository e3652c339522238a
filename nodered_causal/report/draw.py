"""Draw a flow's causal graph at its editor positions, coloured by blame (pure: data in, text out).

The graph is any object with networkx's ``nodes(data=True)`` / ``edges(data=True)`` (the importer's
DAG); no networkx import is needed here. Node-RED positions are per tab, and nodes inside a subflow
instance carry the subflow definition's positions, so each (tab, subflow instance) group is drawn
in its own horizontal band, stacked top to bottom in the order the groups first appear.

>>> from nodered_causal.report.draw import layout
>>> class G:
...     def nodes(self, data=False):
...         return [("a", {"x": 100, "y": 40, "tab": "Main", "name": "in"}),
...                 ("b", {"x": 300, "y": 40, "tab": "Main", "type": "function"})]
...     def edges(self, data=False):
...         return [("a", "b", {"kind": "wire"})]
>>> [(n.id, n.x, n.y) for n in layout(G()).nodes]
[('a', 100.0, 60.0), ('b', 300.0, 60.0)]
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = [
    "Blame",
    "DrawnEdge",
    "DrawnNode",
    "GraphLike",
    "Layout",
    "blame_colour",
    "layout",
    "to_dot",
    "to_svg",
]

NODE_W = 140
NODE_H = 30
BAND_GAP = 60
BAND_TITLE = 30
#: The smallest scale a page may shrink a flow drawing to (below it, the page scrolls).
MIN_SCALE = 0.7


class GraphLike(Protocol):
    def nodes(self, data: bool = ...) -> Iterable[Any]: ...
    def edges(self, data: bool = ...) -> Iterable[Any]: ...


@dataclass(frozen=True)
class Blame:
    """How much one node is blamed: its score (a share of the whole, 0..1, where the caller has
    one), the confidence interval, whether it is blamed, and a short caption drawn in its box
    (e.g. ``"92 % (85 %–97 %)"``)."""

    score: float
    lo: float | None = None
    hi: float | None = None
    blamed: bool = False
    caption: str = ""


@dataclass(frozen=True)
class DrawnNode:
    id: str
    label: str
    type: str
    x: float
    y: float
    group: str


@dataclass(frozen=True)
class DrawnEdge:
    src: str
    dst: str
    kind: str


@dataclass(frozen=True)
class Layout:
    nodes: tuple[DrawnNode, ...]
    edges: tuple[DrawnEdge, ...]
    bands: tuple[tuple[str, float], ...] = field(default=())  # (group title, top y)
    width: float = 0.0
    height: float = 0.0


def _group(attrs: Mapping[str, Any], names: Mapping[str, str]) -> str:
    """Band title: the tab, then each subflow instance (by name) the node sits in."""
    tab = str(attrs.get("tab") or attrs.get("z") or "")
    path = attrs.get("subflow_path") or ()
    if isinstance(path, str):
        path = (path,) if path else ()
    return " / ".join([tab, *[names.get(str(p)) or str(p) for p in path]]) if path else tab


def layout(graph: GraphLike) -> Layout:
    """Place every node at its editor x/y inside the band of its (tab, subflow instance) group."""
    raw: dict[str, list[tuple[str, Mapping[str, Any]]]] = {}
    all_nodes = [(str(n), a) for n, a in graph.nodes(data=True)]
    names = {n: str(a.get("name") or "") for n, a in all_nodes}
    for node_id, attrs in all_nodes:
        raw.setdefault(_group(attrs, names), []).append((node_id, attrs))
    nodes: list[DrawnNode] = []
    bands: list[tuple[str, float]] = []
    top = 0.0
    width = 0.0
    for group, members in raw.items():
        bands.append((group, top))
        ys = [float(a["y"]) for _, a in members if a.get("y") is not None]
        y0 = min(ys) if ys else 0.0
        bottom = top
        for i, (node_id, attrs) in enumerate(members):
            has_pos = attrs.get("x") is not None and attrs.get("y") is not None
            x = float(attrs["x"]) if has_pos else 100.0 + 180.0 * i
            y = float(attrs["y"]) - y0 if has_pos else 0.0
            y += top + BAND_TITLE + NODE_H
            label = str(attrs.get("name") or attrs.get("type") or node_id)
            members_of = attrs.get("members")
            if members_of:
                label = f"{label} (+{len(members_of) - 1} in cycle)"
            nodes.append(DrawnNode(node_id, label, str(attrs.get("type") or ""), x, y, group))
            bottom = max(bottom, y + NODE_H)
            width = max(width, x + NODE_W)
        top = bottom + BAND_GAP
    edges = tuple(
        DrawnEdge(str(u), str(v), str(d.get("kind", "wire"))) for u, v, d in graph.edges(data=True)
    )
    return Layout(tuple(nodes), edges, tuple(bands), width + 40.0, max(top, 100.0))


def blame_colour(blame: Blame | None, max_score: float) -> str:
    """Fill colour by the node's share of the largest score: white→red when blamed, light→darker
    grey when it has a share but is not blamed (its interval includes zero, or too small)."""
    if blame is None or max_score <= 0:
        return "#eeeeee"
    share = max(0.0, min(1.0, abs(blame.score) / max_score))
    if not blame.blamed:
        g = int(238 - 70 * share)
        return f"#{g:02x}{g:02x}{g:02x}"
    g = int(230 - 190 * share)
    return f"#ff{g:02x}{g:02x}"


def _max_score(blame: Mapping[str, Blame]) -> float:
    return max((abs(b.score) for b in blame.values()), default=0.0)


def _hover(node: DrawnNode, b: Blame | None) -> str:
    text = f"{node.label} ({node.type}), id {node.id}"
    if b is not None:
        text += f"\nshare {b.caption}" if b.caption else f"\nscore {b.score:.4g}"
        if not b.caption and b.lo is not None and b.hi is not None:
            text += f"  interval [{b.lo:.4g}, {b.hi:.4g}]"
        text += "  (blamed)" if b.blamed else "  (not blamed)"
    return text


def _scene(
    graph: GraphLike, blame: Mapping[str, Blame] | None, highlight: Iterable[str]
) -> tuple[Layout, Mapping[str, Blame], float, set[str]]:
    """What both drawings need: the layout, the blame, its largest score, the marked ids."""
    blame = blame or {}
    return layout(graph), blame, _max_score(blame), set(highlight)


def to_svg(
    graph: GraphLike,
    blame: Mapping[str, Blame] | None = None,
    *,
    highlight: Iterable[str] = (),
) -> str:
    """An inline SVG of the flow; ``highlight`` ids (e.g. the injected node) get a thick outline."""
    lay, blame, top, marked = _scene(graph, blame, highlight)
    pos = {n.id: n for n in lay.nodes}
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="flow" width="{lay.width:.0f}" '
        f'height="{lay.height:.0f}" viewBox="0 0 {lay.width:.0f} {lay.height:.0f}" '
        # a page narrower than the flow shrinks it to fit, down to MIN_SCALE, then scrolls
        f'style="max-width: 100%; height: auto; min-width: {lay.width * MIN_SCALE:.0f}px" '
        'font-family="Helvetica, Arial, sans-serif" font-size="12">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" '
        'markerHeight="6" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#888"/></marker></defs>',
    ]
    for title, y in lay.bands:
        out.append(
            f'<text class="band" x="8" y="{y + 18:.0f}" font-weight="bold" fill="#555">'
            f"{html.escape(title)}</text>"
        )
    for e in lay.edges:
        a, z = pos.get(e.src), pos.get(e.dst)
        if a is None or z is None:
            continue
        dash = "" if e.kind in ("wire", "subflow", "link") else ' stroke-dasharray="4 3"'
        out.append(
            f'<line class="edge" x1="{a.x + NODE_W / 2:.0f}" y1="{a.y:.0f}" '
            f'x2="{z.x - NODE_W / 2:.0f}" y2="{z.y:.0f}" stroke="#888" stroke-width="1.5"'
            f'{dash} marker-end="url(#arrow)"><title>{html.escape(e.kind)}</title></line>'
        )
    for n in lay.nodes:
        b = blame.get(n.id)
        stroke, width = ("#1f4fd1", 3) if n.id in marked else ("#666", 1)
        if b is not None and b.blamed and n.id not in marked:
            stroke, width = ("#a00000", 2)
        label = n.label if len(n.label) <= 20 else n.label[:19] + "…"
        caption = b.caption if b is not None else ""
        text = (
            f'<text x="{n.x:.0f}" y="{n.y - 2:.0f}" text-anchor="middle">{html.escape(label)}'
            f'</text><text class="share" x="{n.x:.0f}" y="{n.y + 11:.0f}" text-anchor="middle" '
            f'font-size="10" fill="#333">{html.escape(caption)}</text>'
            if caption
            else f'<text x="{n.x:.0f}" y="{n.y + 4:.0f}" text-anchor="middle">'
            f"{html.escape(label)}</text>"
        )
        out.append(
            f'<g class="node" data-id="{html.escape(n.id)}" '
            f'data-blamed="{str(bool(b and b.blamed)).lower()}">'
            f"<title>{html.escape(_hover(n, b))}</title>"
            f'<rect x="{n.x - NODE_W / 2:.0f}" y="{n.y - NODE_H / 2:.0f}" width="{NODE_W}" '
            f'height="{NODE_H}" rx="6" fill="{blame_colour(b, top)}" stroke="{stroke}" '
            f'stroke-width="{width}"/>{text}</g>'
        )
    out.append("</svg>")
    return "\n".join(out)


_CONTROL = re.compile("[\x00-\x1f\x7f]")


def _dot_id(value: str) -> str:
    """A quoted DOT id; control characters (a NUL ends a C string in graphviz) as ``\\uXXXX``."""
    quoted = value.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + _CONTROL.sub(lambda m: f"\\\\u{ord(m.group()):04x}", quoted) + '"'


def to_dot(
    graph: GraphLike,
    blame: Mapping[str, Blame] | None = None,
    *,
    highlight: Iterable[str] = (),
) -> str:
    """Graphviz DOT with fixed positions (``neato -n2``), same colours as :func:`to_svg`."""
    lay, blame, top, marked = _scene(graph, blame, highlight)
    lines = [
        "digraph flow {",
        "  graph [splines=true, outputorder=edgesfirst];",
        '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10, '
        f"width={NODE_W / 72:.2f}, height={NODE_H / 72:.2f}, fixedsize=true];",
    ]
    for title, y in lay.bands:
        lines.append(
            f'  {_dot_id("band:" + title)} [shape=plaintext, style="", label={_dot_id(title)}, '
            f'pos="{60:.0f},{-(y + 15):.0f}!", fontsize=11];'
        )
    for n in lay.nodes:
        b = blame.get(n.id)
        extra = ', penwidth=3, color="#1f4fd1"' if n.id in marked else ""
        if not extra and b is not None and b.blamed:
            extra = ', penwidth=2, color="#a00000"'
        label = _dot_id(n.label[:22])
        if b is not None and b.caption:  # a second line: DOT's own \n escape
            label = label[:-1] + "\\n" + _dot_id(b.caption)[1:]
        lines.append(
            f"  {_dot_id(n.id)} [label={label}, "
            f'fillcolor="{blame_colour(b, top)}", '
            f'pos="{n.x:.0f},{-n.y:.0f}!"{extra}];'
        )
    for e in lay.edges:
        style = "" if e.kind in ("wire", "subflow", "link") else " [style=dashed]"
        lines.append(f"  {_dot_id(e.src)} -> {_dot_id(e.dst)}{style};")
    lines.append("}")
    return "\n".join(lines) + "\n"
