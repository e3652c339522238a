"""``link out`` nodes get wires to their ``link in`` targets, exactly as ``parseConfig`` does."""

from __future__ import annotations

from dataclasses import replace

from nodered_causal.flows.ir import Flow, FlowNode
from nodered_causal.flows.passes._common import js_truthy

__all__ = ["resolve_link_wires"]


def resolve_link_wires(flow: Flow) -> Flow:
    """Replace each ``link out``'s wires by ``[[its targets]]``.

    ``parseConfig`` collects, over every node of the export (subflow definitions included),
    the ids a ``link out`` lists in ``links`` and the ``link in`` nodes that list the link out in
    theirs, and sets ``wires = [targets]`` on every link out that has a ``links`` property. The
    link out then *sends* to them (a normal runtime hop, kind ``link``); inside a subflow the
    ids are remapped like any wire.

    >>> from nodered_causal.flows.parse import parse_flow
    >>> flow = resolve_link_wires(parse_flow([
    ...     {"id": "o", "type": "link out", "z": "t", "x": 1, "y": 1, "links": ["i1"]},
    ...     {"id": "i1", "type": "link in", "z": "t", "x": 2, "y": 1, "links": ["o"]},
    ...     {"id": "i2", "type": "link in", "z": "u", "x": 2, "y": 1, "links": ["o"]}]))
    >>> flow.nodes[0].wires
    (('i1', 'i2'),)
    """
    every = [*flow.nodes, *(n for sf in flow.subflows for n in sf.nodes)]
    link_wires: dict[str, dict[str, None]] = {}
    outs: set[str] = set()
    for node in every:
        if not js_truthy(node.config.get("links")):
            continue
        if node.type == "link in":
            for out_id in node.links:
                link_wires.setdefault(out_id, {})[node.id] = None
        elif node.type == "link out":
            targets = link_wires.setdefault(node.id, {})
            for target in node.links:
                targets[target] = None
            outs.add(node.id)
    if not outs:
        return flow

    def rewire(node: FlowNode) -> FlowNode:
        if node.id in outs:
            return replace(node, wires=(tuple(link_wires[node.id]),))
        return node

    return replace(
        flow,
        nodes=tuple(rewire(n) for n in flow.nodes),
        subflows=tuple(
            replace(sf, nodes=tuple(rewire(n) for n in sf.nodes)) for sf in flow.subflows
        ),
    )
