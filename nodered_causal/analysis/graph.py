"""The analysis graph: the target's ancestors, acyclic, with a column of data per node."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import networkx as nx

from nodered_causal.errors import CycleError, MissingDataError, UnknownNodeError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "analysis_dag",
    "ancestor_graph",
    "contract",
    "node_columns",
    "node_label",
    "node_labels",
    "require_target",
    "resolve",
    "topological",
]

logger = logging.getLogger(__name__)

_SUM_METRICS = ("throughput", "errors")


def resolve(dag: nx.DiGraph, node: str) -> str:
    """``node`` itself, or the condensed node whose ``members`` contain it."""
    if node in dag:
        return node
    for candidate, members in dag.nodes(data="members"):
        if members and node in members:
            return str(candidate)
    raise UnknownNodeError(f"target node {node!r} is not in the flow's graph", node_id=node)


def analysis_dag(data: Mapping[str, Any]) -> nx.DiGraph:
    """The analysis DAG from a stored node-link DAG (a run's ``dag``): the importer's passes, as
    ``to_causal_dag(flow, condensed=True)`` applies them (link calls split, junctions contracted,
    cycles condensed)."""
    from nodered_causal.flows.dag import condense, contract_junctions, split_link_calls

    graph = nx.node_link_graph(data, edges="edges", directed=True)
    return condense(contract_junctions(split_link_calls(graph)))


def ancestor_graph(dag: nx.DiGraph, target: str) -> nx.DiGraph:
    """``target`` and its ancestors; :class:`CycleError` if that part has a cycle."""
    target = resolve(dag, target)
    nodes = nx.ancestors(dag, target) | {target}
    sub = nx.DiGraph(dag.subgraph(nodes))
    if not nx.is_directed_acyclic_graph(sub):
        cycle = [(str(u), str(v)) for u, v, *_ in nx.find_cycle(sub)]
        path = " -> ".join([cycle[0][0], *(v for _, v in cycle)])
        raise CycleError(
            f"the analysis graph upstream of {target!r} has a cycle ({path}); "
            "use the condensed graph (to_causal_dag(flow, condensed=True))",
            cycle=cycle,
        )
    return sub


def topological(graph: nx.DiGraph) -> list[str]:
    """A deterministic topological order (ties by node id)."""
    return [str(n) for n in nx.lexicographical_topological_sort(graph, key=str)]


def contract(graph: nx.DiGraph, nodes: Iterable[str]) -> nx.DiGraph:
    """Remove ``nodes``, wiring each one's parents to its children (paths through it survive)."""
    out = nx.DiGraph(graph)
    for node in nodes:
        if node not in out:
            continue
        preds, succs = list(out.predecessors(node)), list(out.successors(node))
        out.remove_node(node)
        out.add_edges_from((p, s) for p in preds for s in succs if p != s)
    return out


def node_columns(data: pd.DataFrame, graph: nx.DiGraph, metric: str) -> pd.DataFrame:
    """One column per graph node. A condensed node (``members``) gets the mean of its members'
    columns (sum for throughput/errors); a node without any column is left out."""
    import pandas as pd

    columns: dict[str, Any] = {}
    have = {str(c) for c in data.columns}
    for node in graph.nodes:
        name = str(node)
        if name in have:
            columns[name] = data[name]
            continue
        members = [str(m) for m in graph.nodes[node].get("members") or () if str(m) in have]
        if members:
            block = data[members]
            columns[name] = (
                block.sum(axis=1, min_count=1) if metric in _SUM_METRICS else block.mean(axis=1)
            )
    return pd.DataFrame(columns, index=data.index)


def node_label(dag: nx.DiGraph, node: str) -> str:
    """``name (type)``; a subflow-internal node adds ``in subflow instance <name> [<id>]`` per level
    (``subflow_path`` holds the instance ids, outermost first); a condensed cycle lists members."""
    attrs: Mapping[str, Any] = dag.nodes[node] if node in dag else {}
    name = attrs.get("name") or ""
    kind = attrs.get("type") or "node"
    label = f"{name} ({kind})" if name else f"{node} ({kind})"
    path = attrs.get("subflow_path") or ()
    if isinstance(path, str):
        path = (path,)
    if path:
        levels = []
        for instance in path:
            inst = dag.nodes[instance] if instance in dag else {}
            levels.append(f"{inst.get('name') or inst.get('type') or 'instance'} [{instance}]")
        label = f"{label} in subflow instance {' › '.join(levels)}"
    members = attrs.get("members")
    if members:
        label = f"{label} cycle of {', '.join(str(m) for m in members)}"
    return label


def node_labels(dag: nx.DiGraph, nodes: Iterable[str]) -> dict[str, str]:
    return {n: node_label(dag, n) for n in nodes}


def require_target(data: pd.DataFrame, target: str, which: str) -> None:
    if target not in data.columns or bool(data[target].isna().all()):
        raise MissingDataError(
            f"no data for the target node {target!r} in the {which} data", node_id=target
        )
