"""Every send the runtime can make becomes an :class:`~nodered_causal.flows.ir.Edge`."""

from __future__ import annotations

from dataclasses import replace

from nodered_causal.flows.ir import Edge, EdgeKind, Flow, FlowNode
from nodered_causal.flows.passes._common import add_notes
from nodered_causal.flows.passes.check_targets import link_mode

__all__ = ["wire_edges"]


def _kind(source: FlowNode, target: FlowNode) -> EdgeKind:
    if source.type == "link out":
        return "link"
    if (
        source.subflow is not None
        or target.type == "subflow-status"
        or source.subflow_path != target.subflow_path
    ):
        return "subflow"
    return "wire"


def wire_edges(flow: Flow) -> Flow:
    """Turn the runtime wires of running nodes into edges (kinds ``wire``, ``link``, ``subflow``).

    A send goes to ``getNode(id)``: ids of nodes that do not run (disabled, on a disabled tab)
    or do not exist are dropped, as the runtime drops those messages (the missing ones were
    warned about by ``check_wire_targets``). A ``link out`` in ``return`` mode never sends.
    Duplicate wires (the same target twice on one port) are one edge.

    >>> from nodered_causal.flows.parse import parse_flow
    >>> flow = wire_edges(parse_flow([
    ...     {"id": "a", "type": "switch", "z": "t", "x": 1, "y": 1, "wires": [["b"], ["c", "b"]]},
    ...     {"id": "b", "type": "debug", "z": "t", "x": 2, "y": 1},
    ...     {"id": "c", "type": "debug", "z": "t", "x": 2, "y": 2, "d": True}]))
    >>> [(e.source, e.port, e.target, e.kind) for e in flow.edges]
    [('a', 0, 'b', 'wire'), ('a', 1, 'b', 'wire')]
    """
    nodes = flow.node_by_id
    edges: list[Edge] = []
    seen: set[tuple[str, int, str]] = set()
    dropped = 0
    for source in flow.nodes:
        if source.disabled or (source.type == "link out" and link_mode(source) != "link"):
            continue
        for port, targets in enumerate(source.wires):
            for target_id in targets:
                target = nodes.get(target_id)
                if target is None:
                    continue
                if target.disabled:
                    dropped += 1
                    continue
                key = (source.id, port, target_id)
                if key not in seen:
                    seen.add(key)
                    edges.append(Edge(source.id, target_id, port, _kind(source, target)))
    notes = [f"{dropped} wires into disabled nodes are dropped"] if dropped else []
    return add_notes(replace(flow, edges=flow.edges + tuple(edges)), notes)
