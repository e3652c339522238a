"""``link call`` -> ``link in`` (kind ``link-call``) and ``return`` link out -> caller."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import replace

from nodered_causal.flows.ir import WIRE_KINDS, Edge, Flow, FlowNode, FlowWarning
from nodered_causal.flows.passes._common import add_notes, add_warnings, node_ref, warning
from nodered_causal.flows.passes.check_targets import CODE as UNKNOWN_TARGET
from nodered_causal.flows.passes.check_targets import link_mode

__all__ = ["link_calls"]


def _is_return(node: FlowNode) -> bool:
    return node.type == "link out" and link_mode(node) == "return"


def link_calls(flow: Flow) -> Flow:
    """Add the edges of static link calls and of the ``return`` link outs that answer them.

    ``LinkCallNode`` (``@node-red/nodes/core/common/60-link.js``) calls ``receive()`` on its
    target ``link in`` (``links[0]``, or a string ``links``; a runtime id, found among the
    running link-in nodes) and pushes itself on ``msg._linkSource``; a ``link out`` in
    ``return`` mode pops that stack and the link call sends the message on from its own
    outputs. So: an edge ``call -> link in`` (``link-call``) and an edge ``return link out ->
    call`` (``link-return``) for every return link out the called routine reaches along wires.
    A nested call inside the routine answers its own returns and continues from its outputs.
    Dynamic calls (``linkType: dynamic``, target from ``msg.target``) have unknown targets: a
    warning. A static target that does not exist is an ``unknown-wire-target`` warning.

    >>> from nodered_causal.flows.parse import parse_flow
    >>> from nodered_causal.flows.passes.wire_edges import wire_edges
    >>> flow = link_calls(wire_edges(parse_flow([
    ...     {"id": "c", "type": "link call", "z": "t", "x": 1, "y": 1, "links": ["i"]},
    ...     {"id": "i", "type": "link in", "z": "t", "x": 2, "y": 1, "wires": [["r"]]},
    ...     {"id": "r", "type": "link out", "z": "t", "x": 3, "y": 1, "mode": "return"}])))
    >>> [(e.source, e.target, e.kind) for e in flow.edges]
    [('i', 'r', 'wire'), ('c', 'i', 'link-call'), ('r', 'c', 'link-return')]
    """
    calls = [n for n in flow.nodes if n.type == "link call" and not n.disabled]
    if not calls:
        return flow
    nodes = flow.node_by_id
    forward: dict[str, list[str]] = {}
    for edge in flow.edges:
        if edge.kind in WIRE_KINDS:
            forward.setdefault(edge.source, []).append(edge.target)
    returns_of: dict[str, list[str]] = {}
    edges: list[Edge] = []
    found: list[FlowWarning] = []
    notes: list[str] = []
    for call in calls:
        target = _static_target(flow, call, nodes, found, notes)
        if target is None:
            continue
        edges.append(Edge(call.id, target, None, "link-call"))
        if target not in returns_of:
            returns_of[target] = _reachable_returns(target, forward, nodes)
        edges.extend(Edge(r, call.id, None, "link-return") for r in returns_of[target])
    flow = add_warnings(flow, found)
    flow = add_notes(flow, notes)
    return replace(flow, edges=flow.edges + tuple(edges))


def _static_target(
    flow: Flow,
    call: FlowNode,
    nodes: Mapping[str, FlowNode],
    found: list[FlowWarning],
    notes: list[str],
) -> str | None:
    ref = node_ref(flow, call)
    if call.config.get("linkType") == "dynamic":
        found.append(
            warning(
                flow,
                "dynamic-link-call",
                f"link call {ref} in {flow.source} is dynamic (target from msg.target): "
                "its callees are unknown, no link-call/link-return edges",
                call,
            )
        )
        return None
    if not call.links or not call.links[0]:
        found.append(
            warning(
                flow,
                "link-call-without-target",
                f"link call {ref} in {flow.source} has no target: every message fails",
                call,
            )
        )
        return None
    target_id = call.links[0]
    target = nodes.get(target_id)
    if target is None:
        found.append(
            warning(
                flow,
                UNKNOWN_TARGET,
                f"link call from {ref} targets unknown node '{target_id}' in {flow.source}",
                call,
                target=target_id,
            )
        )
        return None
    if target.type != "link in":
        found.append(
            warning(
                flow,
                "link-call-target-not-link-in",
                f"link call {ref} in {flow.source} targets '{target_id}', a {target.type} node, "
                "not a link in: every message fails",
                call,
                target=target_id,
            )
        )
        return None
    if target.disabled:
        notes.append(f"link call '{call.id}' targets '{target_id}', which does not run")
        return None
    return target_id


def _reachable_returns(
    start: str, forward: Mapping[str, list[str]], nodes: Mapping[str, FlowNode]
) -> list[str]:
    seen = {start}
    queue = deque([start])
    found: list[str] = []
    while queue:
        current = queue.popleft()
        if _is_return(nodes[current]):
            found.append(current)
            continue
        for nxt in forward.get(current, ()):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return found
