"""The flow IR as a networkx graph: the runtime graph, or the condensed analysis DAG.

``to_causal_dag(flow)`` is the *runtime graph*: one node per running node, keyed by its runtime
id, one edge per (source, target) pair of :attr:`Flow.edges` (parallel hops are merged and keep
``ports`` and ``kinds`` lists). It may have cycles (retry loops, feedback, catch nodes wired
back into their scope).

``to_causal_dag(flow, condensed=True)`` is the *analysis DAG*:

1. link calls are split: what a ``link call`` sends on is what came back from the ``return``
   link out, while its target ``link in`` receives what the call received. So the edge
   ``call -> link in`` becomes ``<each sender into the call> -> link in`` (kind ``link-call``,
   ``contracted`` = [call]); ``return -> call`` stays. Without this every link call would be a
   cycle;
2. junctions are contracted (their predecessors wired straight to their successors, the edge
   remembers them in ``contracted``);
3. every strongly connected component left becomes one node ``cycle:<first member>`` with a
   ``members`` list (self-loops are dropped).

The result is acyclic; ``graph["notes"]`` says what was condensed.

Node attributes: ``id, type, name, tab`` (label), ``tab_id, z, x, y, subflow_path, alias,
disabled`` (+ ``members`` on cycle nodes). Edge attributes: ``port`` (source output index, None
for link-call/link-return/catch/status/complete), ``kind``, ``ports``, ``kinds`` (+ ``contracted``
where junctions were contracted). Graph attributes: ``source, rev, condensed, tabs, warnings,
notes``.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable
from typing import Any

import networkx as nx

from nodered_causal.flows.ir import EDGE_KINDS, Flow, FlowNode

__all__ = ["CYCLE_PREFIX", "condense", "contract_junctions", "split_link_calls", "to_causal_dag"]

logger = logging.getLogger(__name__)

#: Node id prefix of a condensed strongly connected component.
CYCLE_PREFIX = "cycle:"
_KIND_RANK = {kind: rank for rank, kind in enumerate(EDGE_KINDS)}


def _node_attrs(flow: Flow, node: FlowNode) -> dict[str, Any]:
    return {
        "id": node.id,
        "type": node.type,
        "name": node.name,
        "tab": flow.tab_label(node.tab) if node.tab else "",
        "tab_id": node.tab,
        "z": node.z,
        "x": node.x,
        "y": node.y,
        "subflow_path": list(node.subflow_path),
        "alias": node.alias,
        "disabled": node.disabled,
    }


def _merge_edge(graph: nx.DiGraph, u: str, v: str, attrs: dict[str, Any]) -> None:
    """Add ``u -> v`` or fold ``attrs`` into the existing edge (ports/kinds/contracted)."""
    if not graph.has_edge(u, v):
        graph.add_edge(u, v, **attrs)
        return
    data = graph.edges[u, v]
    for port in attrs["ports"]:
        if port not in data["ports"]:
            data["ports"].append(port)
    for kind in attrs["kinds"]:
        if kind not in data["kinds"]:
            data["kinds"].append(kind)
    data["kinds"].sort(key=lambda k: _KIND_RANK.get(k, len(_KIND_RANK)))
    data["kind"] = data["kinds"][0]
    real_ports = sorted(p for p in data["ports"] if p is not None)
    data["port"] = real_ports[0] if real_ports else None
    if attrs.get("contracted"):
        merged = data.setdefault("contracted", [])
        merged.extend(j for j in attrs["contracted"] if j not in merged)


def _edge_attrs(port: int | None, kind: str, contracted: Iterable[str] = ()) -> dict[str, Any]:
    attrs: dict[str, Any] = {"port": port, "kind": kind, "ports": [port], "kinds": [kind]}
    contracted = list(contracted)
    if contracted:
        attrs["contracted"] = contracted
    return attrs


def to_causal_dag(
    flow: Flow,
    *,
    condensed: bool = False,
    kinds: Collection[str] | None = None,
    include_disabled: bool = False,
) -> nx.DiGraph:
    """The causal graph of ``flow``; node ids are runtime ids.

    ``kinds`` keeps only edges of those kinds (default: all, see ``EDGE_KINDS``);
    ``include_disabled`` adds the nodes that do not run as isolated nodes (``disabled=True``),
    e.g. to draw them. ``condensed=True`` returns the acyclic analysis graph (module docstring).
    """
    unknown = set(kinds or ()) - set(EDGE_KINDS)
    if unknown:
        raise ValueError(f"unknown edge kinds {sorted(unknown)}; known: {', '.join(EDGE_KINDS)}")
    graph = nx.DiGraph()
    graph.graph.update(
        source=flow.source,
        rev=flow.rev,
        condensed=False,
        tabs=[
            {"id": t.id, "label": t.label, "disabled": t.disabled, "implicit": t.implicit}
            for t in flow.tabs
        ],
        warnings=[w.message for w in flow.warnings],
        notes=list(flow.notes),
    )
    for node in flow.nodes:
        if include_disabled or not node.disabled:
            graph.add_node(node.id, **_node_attrs(flow, node))
    for edge in flow.edges:
        if kinds is None or edge.kind in kinds:
            _merge_edge(graph, edge.source, edge.target, _edge_attrs(edge.port, edge.kind))
    if condensed:
        graph = condense(contract_junctions(split_link_calls(graph)))
    return graph


def _copy(graph: nx.DiGraph) -> nx.DiGraph:
    out = graph.copy()
    for _, _, data in out.edges(data=True):
        for key, value in data.items():
            if isinstance(value, list):
                data[key] = list(value)
    out.graph = {k: (list(v) if isinstance(v, list) else v) for k, v in graph.graph.items()}
    return out


def split_link_calls(graph: nx.DiGraph) -> nx.DiGraph:
    """A copy of ``graph`` where each ``call -> link in`` edge starts at the call's senders."""
    out = _copy(graph)
    calls = [(u, v) for u, v, kind in out.edges(data="kind") if kind == "link-call"]
    for call, target in calls:
        data = out.edges[call, target]
        if data["kinds"] != ["link-call"]:
            continue
        out.remove_edge(call, target)
        for pred, _, pdata in list(out.in_edges(call, data=True)):
            if pdata["kind"] not in ("wire", "link", "subflow") or pred == call:
                continue
            chain = [*pdata.get("contracted", []), call]
            for port in pdata["ports"]:
                _merge_edge(out, pred, target, _edge_attrs(port, "link-call", chain))
    if calls:
        out.graph["notes"] = [
            *out.graph.get("notes", []),
            f"{len(calls)} link calls split: their senders feed the called link in, the "
            "returns feed the call",
        ]
    return out


def contract_junctions(graph: nx.DiGraph) -> nx.DiGraph:
    """A copy of ``graph`` with every ``junction`` node replaced by direct edges."""
    out = _copy(graph)
    junctions = [n for n, t in out.nodes(data="type") if t == "junction"]
    for junction in junctions:
        preds = [(p, d) for p, _, d in out.in_edges(junction, data=True) if p != junction]
        succs = [(s, d) for _, s, d in out.out_edges(junction, data=True) if s != junction]
        for pred, pdata in preds:
            if pdata["kind"] not in ("wire", "link", "subflow"):
                continue
            for succ, sdata in succs:
                if sdata["kind"] not in ("wire", "link", "subflow", "link-call"):
                    continue
                kinds = (pdata["kind"], sdata["kind"])
                kind = next((k for k in ("link-call", "subflow") if k in kinds), pdata["kind"])
                chain = [*pdata.get("contracted", []), junction, *sdata.get("contracted", [])]
                for port in pdata["ports"]:
                    _merge_edge(out, pred, succ, _edge_attrs(port, kind, chain))
        out.remove_node(junction)
    if junctions:
        out.graph["contracted"] = junctions
        out.graph["notes"] = [
            *out.graph.get("notes", []),
            f"{len(junctions)} junctions contracted (pass-through nodes)",
        ]
    return out


def _cycle_attrs(graph: nx.DiGraph, node_id: str, members: list[str]) -> dict[str, Any]:
    datas = [graph.nodes[m] for m in members]
    tabs = sorted({d.get("tab", "") for d in datas})
    xs = [d["x"] for d in datas if d.get("x") is not None]
    ys = [d["y"] for d in datas if d.get("y") is not None]
    tab_ids = sorted({d.get("tab_id", "") for d in datas})
    return {
        "id": node_id,
        "type": "cycle",
        "name": f"cycle of {len(members)} nodes",
        "tab": ", ".join(tabs),
        "tab_id": tab_ids[0] if len(tab_ids) == 1 else "",
        "z": "",
        "x": sum(xs) / len(xs) if xs else None,
        "y": sum(ys) / len(ys) if ys else None,
        "subflow_path": [],
        "alias": None,
        "disabled": False,
        "members": members,
    }


def condense(graph: nx.DiGraph) -> nx.DiGraph:
    """Condense each strongly connected component into one node (``members``); drop self-loops."""
    out = nx.DiGraph()
    out.graph.update(graph.graph)
    out.graph["condensed"] = True
    notes = list(graph.graph.get("notes", []))
    where: dict[str, str] = {}
    cycles: dict[str, list[str]] = {}
    order = {n: i for i, n in enumerate(graph.nodes)}
    for component in nx.strongly_connected_components(graph):
        if len(component) == 1:
            continue
        members = sorted(component, key=order.__getitem__)
        node_id = CYCLE_PREFIX + members[0]
        cycles[node_id] = members
        for member in members:
            where[member] = node_id
    cycle_ids: set[str] = set()
    for node, data in graph.nodes(data=True):
        target = where.get(node)
        if target is None:
            out.add_node(node, **data)
        elif target not in cycle_ids:
            cycle_ids.add(target)
            out.add_node(target, **_cycle_attrs(graph, target, cycles[target]))
    loops = 0
    for u, v, data in graph.edges(data=True):
        cu, cv = where.get(u, u), where.get(v, v)
        if cu == cv:
            loops += u == v
            continue
        attrs = {k: (list(val) if isinstance(val, list) else val) for k, val in data.items()}
        _merge_edge(out, cu, cv, attrs)
    for members in cycles.values():
        shown = ", ".join(members[:6]) + (
            f" and {len(members) - 6} more" if len(members) > 6 else ""
        )
        notes.append(
            f"cycle of {len(members)} nodes condensed into '{CYCLE_PREFIX}{members[0]}': {shown}"
        )
    if loops:
        notes.append(f"{loops} self-loops dropped")
    out.graph["notes"] = notes
    out.graph["cycles"] = list(cycles.values())
    logger.debug("condensed %d cycles, %d self-loops", len(cycles), loops)
    return out
