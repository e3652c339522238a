"""Subflow instances -> runtime nodes with ids ``<instanceId>-<innerId>`` (``Subflow.js``)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace

from nodered_causal.flows.ir import Flow, FlowNode, Group, Scope, SubflowDef
from nodered_causal.flows.passes._common import add_notes

__all__ = ["expand_subflows", "status_node_id"]

_SCOPED = frozenset({"catch", "status", "complete"})


def status_node_id(instance_id: str) -> str:
    """Runtime id of the node behind a subflow instance's status output."""
    return f"{instance_id}:status"


@dataclass
class _Out:
    nodes: list[FlowNode]
    groups: list[Group]
    broken: list[str]


def expand_subflows(flow: Flow) -> Flow:
    """Replace each running subflow instance by its runtime nodes.

    Mirrors ``Subflow`` in ``@node-red/runtime/lib/flows/Subflow.js``:

    - every node of the definition is cloned with id ``<instanceId>-<id>`` (``_alias`` = old id,
      ``z`` = instance id); its wires, ``g``, catch/status/complete ``scope`` and any property
      naming a definition node are remapped; wires to ids outside the definition become
      ``null`` (dropped);
    - the instance node itself stays a node: its wires are the definition's input wires, so it
      re-sends every input message to the entry nodes;
    - outputs are not nodes: a node wired to output *i* gets the instance's outer wires of
      output *i* appended to that port; an input wired straight to an output appends them to
      the instance node's own port 0;
    - a status output adds a node ``<instanceId>:status`` (type ``subflow-status``) that the
      nodes wired to it send to;
    - instances inside the definition are expanded the same way, recursively, after their wires
      got the outer targets (so ids nest: ``<outer>-<inner>-<id>``).

    Disabled instances (and those on disabled tabs) are not expanded. An instance whose
    definition's input names an unknown node fails to start at runtime: it is marked disabled.

    >>> from nodered_causal.flows.parse import parse_flow
    >>> flow = expand_subflows(parse_flow([
    ...     {"id": "sf", "type": "subflow", "name": "S", "in": [{"wires": [{"id": "f"}]}],
    ...      "out": [{"wires": [{"id": "f", "port": 0}]}]},
    ...     {"id": "f", "type": "function", "z": "sf", "x": 1, "y": 1, "wires": [[]]},
    ...     {"id": "i", "type": "subflow:sf", "z": "t", "x": 1, "y": 1, "wires": [["d"]]},
    ...     {"id": "d", "type": "debug", "z": "t", "x": 2, "y": 1}]))
    >>> [(n.id, n.wires) for n in flow.nodes]
    [('i', (('i-f',),)), ('i-f', (('d',),)), ('d', ())]
    """
    if not any(n.subflow for n in flow.nodes):
        return flow
    subflows = flow.subflow_by_id
    out = _Out(nodes=[], groups=list(flow.groups), broken=[])
    for node in flow.nodes:
        if node.subflow is None or node.disabled:
            out.nodes.append(node)
            continue
        _expand_all(subflows, node, out)
    notes = [
        f"subflow instance '{iid}' does not start (its subflow's input names an unknown node)"
        for iid in out.broken
    ]
    return add_notes(replace(flow, nodes=tuple(out.nodes), groups=tuple(out.groups)), notes)


def _pad(ports: list[list[str]], port: int) -> list[str]:
    while len(ports) <= port:
        ports.append([])
    return ports[port]


def _remap(value: str | None, node_map: dict[str, str]) -> str | None:
    return node_map.get(value, value) if value is not None else None


def _remap_scope(node: FlowNode, node_map: dict[str, str]) -> Scope:
    if node.type in _SCOPED and isinstance(node.scope, tuple):
        return tuple(node_map.get(s, "") for s in node.scope)
    return node.scope


def _remap_links(node: FlowNode, node_map: dict[str, str]) -> tuple[str, ...]:
    # remapSubflowNodes looks every property value up in the node map; an array property is
    # looked up by its string form, so only a single-element ``links`` (or a string) is remapped.
    raw = node.config.get("links")
    if isinstance(raw, str) or (isinstance(raw, list) and len(raw) == 1):
        key = raw if isinstance(raw, str) else raw[0]
        if isinstance(key, str) and key in node_map:
            return (node_map[key],)
    return node.links


def _expand_all(subflows: Mapping[str, SubflowDef], instance: FlowNode, out: _Out) -> None:
    """Expand ``instance`` and the instances nested in it, depth first, in the order a recursive
    expansion would append them, with an explicit stack (any nesting depth)."""
    stack: list[Iterator[FlowNode | tuple[FlowNode, tuple[str, ...]]]] = [
        _expand(subflows, instance, subflows[str(instance.subflow)], (), out)
    ]
    while stack:
        item = next(stack[-1], None)
        if item is None:
            stack.pop()
        elif isinstance(item, FlowNode):
            out.nodes.append(item)
        else:
            nested, path = item
            stack.append(_expand(subflows, nested, subflows[str(nested.subflow)], path, out))


def _expand(
    subflows: Mapping[str, SubflowDef],
    instance: FlowNode,
    sf: SubflowDef,
    path: tuple[str, ...],
    out: _Out,
) -> Iterator[FlowNode | tuple[FlowNode, tuple[str, ...]]]:
    """One instance: yields its runtime nodes in order, and ``(instance, path)`` for each nested
    instance to expand at that point."""
    rid = instance.id
    def_ids = [
        *(d.id for d in sf.nodes),
        *(c.id for c in sf.config_nodes),
        *(g.id for g in sf.groups),
    ]
    node_map = {did: f"{rid}-{did}" for did in def_ids}
    inner_ids = {d.id for d in sf.nodes}
    if any(t not in inner_ids for targets in sf.inputs for t in targets):
        out.broken.append(rid)
        yield replace(instance, disabled=True)
        return
    inner: dict[str, list[list[str]]] = {
        d.id: [[node_map[t] for t in port if t in inner_ids] for port in d.wires] for d in sf.nodes
    }
    instance_wires: list[list[str]] = [[node_map[t] for t in targets] for targets in sf.inputs]
    outer = instance.wires
    for index, refs in enumerate(sf.outputs):
        targets = list(outer[index]) if index < len(outer) else []
        for ref in refs:
            if ref.id == sf.id:
                _pad(instance_wires, ref.port).extend(targets)
            elif ref.id in inner:
                _pad(inner[ref.id], ref.port).extend(targets)
    inner_path = (*path, rid)
    status_nodes: list[FlowNode] = []
    if sf.status is not None:
        sid = status_node_id(rid)
        for ref in sf.status:
            if ref.id == sf.id:
                _pad(instance_wires, ref.port).append(sid)
            elif ref.id in inner:
                _pad(inner[ref.id], ref.port).append(sid)
        status_nodes.append(
            FlowNode(
                id=sid,
                type="subflow-status",
                name=f"{instance.name or sf.name} status",
                z=rid,
                tab=instance.tab,
                x=instance.x,
                y=instance.y,
                subflow_path=inner_path,
            )
        )
    yield replace(instance, wires=_freeze(instance_wires), subflow_path=path)
    yield from status_nodes
    out.groups.extend(
        Group(id=node_map[g.id], z=rid, g=_remap(g.g, node_map), name=g.name) for g in sf.groups
    )
    for d in sf.nodes:
        node = FlowNode(
            id=node_map[d.id],
            type=d.type,
            name=d.name,
            z=rid,
            tab=instance.tab,
            x=d.x,
            y=d.y,
            wires=_freeze(inner[d.id]),
            disabled=d.disabled,
            g=_remap(d.g, node_map),
            subflow_path=inner_path,
            alias=d.id,
            subflow=d.subflow,
            scope=_remap_scope(d, node_map),
            links=_remap_links(d, node_map),
            config=d.config,
        )
        if node.subflow is not None and not node.disabled:
            yield (node, inner_path)
        else:
            yield node


def _freeze(ports: Sequence[Sequence[str]]) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(p) for p in ports)
