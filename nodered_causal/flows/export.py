"""Encode a causal graph as text, node-link JSON, GraphML or DOT (pure: graph in, text out).

DOT uses the report's drawing (nodes at their editor x/y, one band per tab and subflow
instance); PNG/SVG go through graphviz in :func:`nodered_causal.report.write.render_image`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import networkx as nx

from nodered_causal.errors import FlowError

__all__ = ["FORMATS", "TEXT_FORMATS", "to_graphml", "to_json", "to_text", "to_text_format"]

#: Every ``--format`` of ``nodered-causal graph``.
FORMATS: tuple[str, ...] = ("text", "json", "dot", "graphml", "png", "svg")
#: Formats that are text and need no graphviz.
TEXT_FORMATS: tuple[str, ...] = ("text", "json", "dot", "graphml")


def to_json(graph: nx.DiGraph) -> str:
    """networkx node-link data (``edges`` key), indented."""
    data = nx.node_link_data(graph, edges="edges")
    return json.dumps(data, indent=2, default=str) + "\n"


#: Characters XML 1.0 cannot carry, even escaped (control characters, lone surrogates, U+FFFE/F).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_safe(text: str) -> str:
    r"""``text`` with characters XML cannot hold written as ``\uXXXX`` (a NUL in an id)."""
    return _NOT_XML.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _graphml_value(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return _xml_safe(",".join(str(v) for v in value))
    if isinstance(value, dict):
        return _xml_safe(json.dumps(value, sort_keys=True))
    return _xml_safe(value) if isinstance(value, str) else value


def to_graphml(graph: nx.DiGraph) -> str:
    r"""GraphML; list attributes are comma-joined and ``None`` values left out. Characters XML
    cannot hold are written ``\uXXXX`` (always well-formed XML); :class:`FlowError` if that
    makes two node ids the same."""
    clean = nx.DiGraph()
    ids: dict[str, Any] = {}
    for node in graph.nodes:
        safe = _xml_safe(str(node))
        if ids.setdefault(safe, node) != node:
            raise FlowError(
                f"node ids {ids[safe]!r} and {node!r} are the same once made XML-safe ({safe!r})",
                node_id=str(node),
            )
    safe_id = {node: safe for safe, node in ids.items()}
    for key, value in graph.graph.items():
        if value is not None and not isinstance(value, list | dict):
            clean.graph[key] = _graphml_value(value)
    for node, data in graph.nodes(data=True):
        clean.add_node(
            safe_id[node], **{k: _graphml_value(v) for k, v in data.items() if v is not None}
        )
    for u, v, data in graph.edges(data=True):
        attrs = {
            k: _graphml_value([p for p in val if p is not None] if k == "ports" else val)
            for k, val in data.items()
            if val is not None
        }
        clean.add_edge(safe_id[u], safe_id[v], **attrs)
    return "\n".join(nx.generate_graphml(clean)) + "\n"


def _quote(text: str) -> str:
    return f'"{text}"' if text else ""


def to_text(graph: nx.DiGraph) -> str:
    """A readable listing: tabs, nodes, edges, warnings and notes."""
    meta = graph.graph
    kind = "condensed analysis DAG" if meta.get("condensed") else "runtime graph"
    rev = f", rev {meta['rev']}" if meta.get("rev") else ""
    lines = [f"flow {meta.get('source', '<data>')}{rev} ({kind})", ""]
    tabs = meta.get("tabs", [])
    per_tab: dict[str, int] = {}
    for _, tab_id in graph.nodes(data="tab_id"):
        per_tab[tab_id or ""] = per_tab.get(tab_id or "", 0) + 1
    lines.append(f"tabs ({len(tabs)}):")
    for tab in tabs:
        flags = [f for f in ("disabled", "implicit") if tab[f]]
        extra = f" [{', '.join(flags)}]" if flags else ""
        count = per_tab.get(tab["id"], 0)
        lines.append(f"  {tab['id']}  {_quote(tab['label'])}  {count} nodes{extra}".rstrip())
    lines.append("")
    lines.append(f"nodes ({graph.number_of_nodes()}):")
    width = max((len(str(n)) for n in graph.nodes), default=0)
    for node, data in graph.nodes(data=True):
        parts = [f"  {str(node):<{width}}", f"{data.get('type', ''):<14}"]
        if data.get("name"):
            parts.append(_quote(str(data["name"])))
        if data.get("tab"):
            parts.append(f"tab '{data['tab']}'")
        if data.get("subflow_path"):
            parts.append("in subflow instance " + " > ".join(data["subflow_path"]))
        if data.get("members"):
            parts.append("members: " + ", ".join(data["members"]))
        if data.get("disabled"):
            parts.append("[disabled]")
        lines.append(" ".join(parts).rstrip())
    lines.append("")
    lines.append(f"edges ({graph.number_of_edges()}):")
    for u, v, data in graph.edges(data=True):
        ports = [p for p in data.get("ports", [data.get("port")]) if p is not None]
        source = f"{u}:{','.join(str(p) for p in ports)}" if ports else str(u)
        text = f"  {source} -> {v}  {'/'.join(data.get('kinds', [data.get('kind', '')]))}"
        if data.get("contracted"):
            text += f"  (via {', '.join(data['contracted'])})"
        lines.append(text)
    notes = list(meta.get("notes", []))
    if not meta.get("condensed"):
        cycles = [c for c in nx.strongly_connected_components(graph) if len(c) > 1]
        loops = nx.number_of_selfloops(graph)
        if cycles or loops:
            notes.append(
                f"the runtime graph has {len(cycles)} cycles and {loops} self-loops: "
                "--condensed condenses them into an acyclic analysis DAG"
            )
    for title, items in (("warnings", meta.get("warnings", [])), ("notes", notes)):
        lines.append("")
        lines.append(f"{title} ({len(items)}):")
        lines.extend(f"  - {item}" for item in items)
    return "\n".join(lines) + "\n"


def _to_dot(graph: nx.DiGraph) -> str:
    from nodered_causal.report.draw import to_dot

    return to_dot(graph)


_ENCODERS: dict[str, Callable[[nx.DiGraph], str]] = {
    "text": to_text,
    "json": to_json,
    "graphml": to_graphml,
    "dot": _to_dot,
}


def to_text_format(graph: nx.DiGraph, fmt: str) -> str:
    """Encode ``graph`` in one of :data:`TEXT_FORMATS`."""
    try:
        return _ENCODERS[fmt](graph)
    except KeyError:
        raise ValueError(f"unknown text format {fmt!r}; one of {', '.join(TEXT_FORMATS)}") from None
