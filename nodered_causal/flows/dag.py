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

from nodered_causal.flows._gc import gc_paused
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


Edges = dict[tuple[str, str], dict[str, Any]]
Nodes = dict[str, dict[str, Any]]
_PASS_KINDS = ("wire", "link", "subflow")


def _fold(data: dict[str, Any], attrs: dict[str, Any]) -> None:
    """Fold the attributes of a parallel hop into an existing edge (ports/kinds/contracted)."""
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


def _add(edges: Edges, u: str, v: str, attrs: dict[str, Any]) -> None:
    data = edges.get((u, v))
    if data is None:
        edges[(u, v)] = attrs
    else:
        _fold(data, attrs)


def _edge_attrs(port: int | None, kind: str, contracted: Iterable[str] = ()) -> dict[str, Any]:
    attrs: dict[str, Any] = {"port": port, "kind": kind, "ports": [port], "kinds": [kind]}
    contracted = list(contracted)
    if contracted:
        attrs["contracted"] = contracted
    return attrs


def _clone(data: dict[str, Any]) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, list) else v) for k, v in data.items()}


def _from_graph(graph: nx.DiGraph) -> tuple[Nodes, Edges, dict[str, Any]]:
    nodes = {n: dict(d) for n, d in graph.nodes(data=True)}
    edges = {(u, v): _clone(d) for u, v, d in graph.edges(data=True)}
    meta = {k: (list(v) if isinstance(v, list) else v) for k, v in graph.graph.items()}
    return nodes, edges, meta


def _to_graph(nodes: Nodes, edges: Edges, meta: dict[str, Any]) -> nx.DiGraph:
    graph = nx.DiGraph()
    graph.graph.update(meta)
    graph.add_nodes_from(nodes.items())
    graph.add_edges_from((u, v, d) for (u, v), d in edges.items())
    return graph


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
    with gc_paused():
        return _build(flow, condensed, kinds, include_disabled)


def _build(
    flow: Flow, condensed: bool, kinds: Collection[str] | None, include_disabled: bool
) -> nx.DiGraph:
    meta: dict[str, Any] = {
        "source": flow.source,
        "rev": flow.rev,
        "condensed": False,
        "tabs": [
            {"id": t.id, "label": t.label, "disabled": t.disabled, "implicit": t.implicit}
            for t in flow.tabs
        ],
        "warnings": [w.message for w in flow.warnings],
        "notes": list(flow.notes),
    }
    nodes = {n.id: _node_attrs(flow, n) for n in flow.nodes if include_disabled or not n.disabled}
    edges: Edges = {}
    for edge in flow.edges:
        if kinds is None or edge.kind in kinds:
            _add(edges, edge.source, edge.target, _edge_attrs(edge.port, edge.kind))
    if condensed:
        edges = _split_link_calls(edges, meta)
        nodes, edges = _contract_junctions(nodes, edges, meta)
        nodes, edges = _condense(nodes, edges, meta)
    return _to_graph(nodes, edges, meta)


def _note(meta: dict[str, Any], text: str) -> None:
    meta["notes"] = [*meta.get("notes", []), text]


def split_link_calls(graph: nx.DiGraph) -> nx.DiGraph:
    """A copy of ``graph`` where each ``call -> link in`` edge starts at the call's senders."""
    nodes, edges, meta = _from_graph(graph)
    return _to_graph(nodes, _split_link_calls(edges, meta), meta)


def _split_link_calls(edges: Edges, meta: dict[str, Any]) -> Edges:
    calls = [key for key, data in edges.items() if data["kinds"] == ["link-call"]]
    if not calls:
        return edges
    into: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for (u, v), data in edges.items():
        if data["kind"] in _PASS_KINDS and u != v:
            into.setdefault(v, []).append((u, data))
    out = dict(edges)
    for call, target in calls:
        del out[(call, target)]
        for pred, pdata in into.get(call, ()):
            chain = [*pdata.get("contracted", []), call]
            for port in pdata["ports"]:
                _add(out, pred, target, _edge_attrs(port, "link-call", chain))
    _note(
        meta,
        f"{len(calls)} link calls split: their senders feed the called link in, the returns "
        "feed the call",
    )
    return out


def contract_junctions(graph: nx.DiGraph) -> nx.DiGraph:
    """A copy of ``graph`` with every ``junction`` node replaced by direct edges."""
    nodes, edges, meta = _from_graph(graph)
    return _to_graph(*_contract_junctions(nodes, edges, meta), meta)


def _contract_junctions(nodes: Nodes, edges: Edges, meta: dict[str, Any]) -> tuple[Nodes, Edges]:
    junctions = [n for n, d in nodes.items() if d.get("type") == "junction"]
    if not junctions:
        return nodes, edges
    succ: dict[str, dict[str, dict[str, Any]]] = {}
    pred: dict[str, dict[str, dict[str, Any]]] = {}
    for (u, v), data in edges.items():
        succ.setdefault(u, {})[v] = data
        pred.setdefault(v, {})[u] = data

    def link(u: str, v: str, attrs: dict[str, Any]) -> None:
        data = succ.setdefault(u, {}).get(v)
        if data is None:
            succ[u][v] = attrs
            pred.setdefault(v, {})[u] = attrs
        else:
            _fold(data, attrs)

    for junction in junctions:
        ins = [(p, d) for p, d in pred.pop(junction, {}).items() if p != junction]
        outs = [(t, d) for t, d in succ.pop(junction, {}).items() if t != junction]
        for p, _ in ins:
            succ[p].pop(junction, None)
        for t, _ in outs:
            pred[t].pop(junction, None)
        for p, pdata in ins:
            if pdata["kind"] not in _PASS_KINDS:
                continue
            for t, sdata in outs:
                if sdata["kind"] not in (*_PASS_KINDS, "link-call"):
                    continue
                both = (pdata["kind"], sdata["kind"])
                kind = next((k for k in ("link-call", "subflow") if k in both), pdata["kind"])
                chain = [*pdata.get("contracted", []), junction, *sdata.get("contracted", [])]
                for port in pdata["ports"]:
                    link(p, t, _edge_attrs(port, kind, chain))
    gone = set(junctions)
    meta["contracted"] = junctions
    _note(meta, f"{len(junctions)} junctions contracted (pass-through nodes)")
    kept = {n: d for n, d in nodes.items() if n not in gone}
    return kept, {(u, v): d for u, vs in succ.items() for v, d in vs.items()}


def _cycle_attrs(nodes: Nodes, node_id: str, members: list[str]) -> dict[str, Any]:
    datas = [nodes[m] for m in members]
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
    nodes, edges, meta = _from_graph(graph)
    return _to_graph(*_condense(nodes, edges, meta), meta)


def _condense(nodes: Nodes, edges: Edges, meta: dict[str, Any]) -> tuple[Nodes, Edges]:
    skeleton = nx.DiGraph()
    skeleton.add_nodes_from(nodes)
    skeleton.add_edges_from(edges)
    order = {n: i for i, n in enumerate(nodes)}
    where: dict[str, str] = {}
    cycles: dict[str, list[str]] = {}
    for component in nx.strongly_connected_components(skeleton):
        if len(component) > 1:
            members = sorted(component, key=order.__getitem__)
            cycles[CYCLE_PREFIX + members[0]] = members
            where.update((m, CYCLE_PREFIX + members[0]) for m in members)
    out_nodes: Nodes = {}
    for node, data in nodes.items():
        target = where.get(node)
        if target is None:
            out_nodes[node] = data
        elif target not in out_nodes:
            out_nodes[target] = _cycle_attrs(nodes, target, cycles[target])
    out_edges: Edges = {}
    loops = 0
    for (u, v), data in edges.items():
        cu, cv = where.get(u, u), where.get(v, v)
        if cu == cv:
            loops += u == v
            continue
        _add(out_edges, cu, cv, data)  # the input dicts are ours to fold into
    for members in cycles.values():
        more = f" and {len(members) - 6} more" if len(members) > 6 else ""
        _note(
            meta,
            f"cycle of {len(members)} nodes condensed into '{CYCLE_PREFIX}{members[0]}': "
            f"{', '.join(members[:6])}{more}",
        )
    if loops:
        _note(meta, f"{loops} self-loops dropped")
    meta["condensed"] = True
    meta["cycles"] = list(cycles.values())
    logger.debug("condensed %d cycles, %d self-loops", len(cycles), loops)
    return out_nodes, out_edges
