"""Raw flow JSON (already decoded) -> definition-level :class:`~nodered_causal.flows.ir.Flow`.

Classification follows the runtime's ``parseConfig`` (``@node-red/runtime/lib/flows/util.js``):
``tab`` -> tab, ``subflow`` -> subflow definition, ``group`` -> group, otherwise a node with both
``x`` and ``y`` properties is a flow node and one without is a config node; nodes whose ``z`` is a
subflow belong to that definition. Unknown node types are kept: only their wires matter.

Malformed input raises :class:`~nodered_causal.errors.FlowParseError`; the messages are part of
the documented behaviour (tests assert them)::

    <src> is not a flow export: expected a JSON array of nodes or an object with a "flows"
        array, got <kind>
    item <i> of <src> is not a node object (got <kind>)
    node at index <i> (<type>, tab '<label>') has no id in <src>
    node at index <i> (<type>, tab '<label>') has an id that is not a string (<value>) in <src>
    node '<id>' (tab '<label>') has no type in <src>
    duplicate node id '<id>' (<type>, tab '<a>' and <type>, tab '<b>') in <src>
    node '<id>' (<type>, tab '<label>') has malformed wires (expected a list of lists of node
        ids) in <src>
    subflow '<id>' ("<name>") has a malformed <in|out|status> port in <src>
    subflow instance '<id>' (<type>, tab '<label>') uses unknown subflow '<sid>' in <src>
    subflow '<id>' ("<name>") contains itself (instance '<iid>' of subflow '<sid>') in <src>

``node_id``, ``node_type``, ``tab`` and ``path`` are set on the error as attributes too.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from nodered_causal.errors import FlowParseError
from nodered_causal.flows.ir import (
    ConfigNode,
    Flow,
    FlowNode,
    Group,
    PortRef,
    Scope,
    SubflowDef,
    Tab,
)

__all__ = ["describe_node", "parse_flow", "unwrap_export"]

logger = logging.getLogger(__name__)

_SCOPED_TYPES = frozenset({"catch", "status", "complete"})
_LINK_TYPES = frozenset({"link in", "link out", "link call"})
SUBFLOW_PREFIX = "subflow:"


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def unwrap_export(data: object, source: str) -> tuple[list[Any], str | None]:
    """Accept a plain array export or the Admin API v2 ``{"flows": [...], "rev": ...}`` shape."""
    rev: str | None = None
    if isinstance(data, dict) and isinstance(data.get("flows"), list):
        raw_rev = data.get("rev")
        rev = None if raw_rev is None else str(raw_rev)
        data = data["flows"]
    if not isinstance(data, list):
        raise FlowParseError(
            f"{source} is not a flow export: expected a JSON array of nodes or an object with a "
            f'"flows" array, got {_kind(data)}',
            path=source,
        )
    return data, rev


class _Labels:
    """Tab labels and subflow names, to say where a node is in messages."""

    def __init__(self, items: Sequence[Any]) -> None:
        self.tabs: dict[str, str] = {}
        self.subflows: dict[str, str] = {}
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                continue
            if item.get("type") == "tab":
                self.tabs[item["id"]] = _str(item.get("label")) or item["id"]
            elif item.get("type") == "subflow":
                self.subflows[item["id"]] = _str(item.get("name")) or item["id"]

    def where(self, z: object) -> str | None:
        if not isinstance(z, str) or not z:
            return None
        if z in self.subflows:
            return f"subflow '{self.subflows[z]}'"
        return f"tab '{self.tabs.get(z, z)}'"

    def tab_label(self, z: object) -> str | None:
        if not isinstance(z, str) or not z:
            return None
        return self.subflows.get(z) or self.tabs.get(z, z)


def describe_node(node_type: str | None, where: str | None) -> str:
    """`` (function, tab 'Main')`` style location used in every message (leading space)."""
    parts = [p for p in (node_type, where) if p]
    return f" ({', '.join(parts)})" if parts else ""


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _coord(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _wires(raw: object) -> tuple[tuple[str, ...], ...] | None:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        return None
    ports: list[tuple[str, ...]] = []
    for port in raw:
        if port is None:
            ports.append(())
            continue
        if not isinstance(port, list) or not all(isinstance(t, str) for t in port):
            return None
        ports.append(tuple(port))
    return tuple(ports)


def _scope(raw: object) -> Scope:
    if isinstance(raw, list):
        return tuple(str(s) for s in raw if isinstance(s, str | int))
    if isinstance(raw, str) and raw:
        return raw
    return None


def _links(raw: object) -> tuple[str, ...]:
    if isinstance(raw, str):
        return (raw,)
    if isinstance(raw, list):
        return tuple(s for s in raw if isinstance(s, str))
    return ()


def parse_flow(data: object, *, source: str = "<data>") -> Flow:
    """Build the definition-level IR from decoded JSON (array or ``{"flows", "rev"}`` object).

    >>> flow = parse_flow([{"id": "t", "type": "tab", "label": "Main"},
    ...     {"id": "a", "type": "inject", "z": "t", "x": 1, "y": 2, "wires": [["b"]]},
    ...     {"id": "b", "type": "debug", "z": "t", "x": 3, "y": 4, "wires": []}])
    >>> [(n.id, n.tab, n.wires) for n in flow.nodes]
    [('a', 't', (('b',),)), ('b', 't', ())]
    """
    items, rev = unwrap_export(data, source)
    labels = _Labels(items)
    seen: dict[str, dict[str, Any]] = {}
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise FlowParseError(
                f"item {index} of {source} is not a node object (got {_kind(item)})", path=source
            )
        _check_identity(item, index, seen, labels, source)

    tabs: list[Tab] = []
    groups: dict[str, list[Group]] = {}
    nodes: dict[str, list[FlowNode]] = {}
    configs: dict[str, list[ConfigNode]] = {}
    subflow_items: list[dict[str, Any]] = []
    for item in items:
        node_type = item["type"]
        if node_type == "tab":
            tabs.append(
                Tab(
                    id=item["id"],
                    label=_str(item.get("label")),
                    disabled=bool(item.get("disabled")),
                    info=_str(item.get("info")),
                )
            )
        elif node_type == "subflow":
            subflow_items.append(item)
        elif node_type == "group":
            z = _str(item.get("z"))
            groups.setdefault(z, []).append(
                Group(id=item["id"], z=z, g=item.get("g") or None, name=_str(item.get("name")))
            )
        elif "x" in item and "y" in item:
            node = _flow_node(item, labels, source)
            nodes.setdefault(node.z, []).append(node)
        else:
            z = item.get("z")
            configs.setdefault(_str(z), []).append(
                ConfigNode(
                    id=item["id"],
                    type=node_type,
                    name=_str(item.get("name")),
                    z=z if isinstance(z, str) and z else None,
                    config=MappingProxyType(item),
                )
            )

    subflows = tuple(
        _subflow(
            item,
            nodes.pop(item["id"], []),
            configs.pop(item["id"], []),
            groups.pop(item["id"], []),
            source,
        )
        for item in subflow_items
    )
    flow = Flow(
        source=source,
        rev=rev,
        tabs=tuple(tabs),
        subflows=subflows,
        groups=tuple(g for gs in groups.values() for g in gs),
        nodes=tuple(_in_export_order(items, nodes)),
        config_nodes=tuple(c for cs in configs.values() for c in cs),
    )
    _check_instances(flow, labels, source)
    logger.debug(
        "parsed %s: %d tabs, %d subflows, %d nodes",
        source,
        len(tabs),
        len(subflows),
        len(flow.nodes),
    )
    return flow


def _in_export_order(
    items: Sequence[dict[str, Any]], nodes: dict[str, list[FlowNode]]
) -> list[FlowNode]:
    by_id = {n.id: n for ns in nodes.values() for n in ns}
    return [by_id[item["id"]] for item in items if item["id"] in by_id]


def _check_identity(
    item: dict[str, Any], index: int, seen: dict[str, dict[str, Any]], labels: _Labels, source: str
) -> None:
    node_id = item.get("id")
    raw_type = item.get("type")
    node_type = raw_type if isinstance(raw_type, str) and raw_type else None
    where = labels.where(item.get("z"))
    tab = labels.tab_label(item.get("z"))
    if node_id is None or node_id == "":
        raise FlowParseError(
            f"node at index {index}{describe_node(node_type, where)} has no id in {source}",
            path=source,
            node_type=node_type,
            tab=tab,
        )
    if not isinstance(node_id, str):
        raise FlowParseError(
            f"node at index {index}{describe_node(node_type, where)} has an id that is not a "
            f"string ({node_id!r}) in {source}",
            path=source,
            node_type=node_type,
            tab=tab,
        )
    if node_type is None:
        raise FlowParseError(
            f"node '{node_id}'{describe_node(None, where)} has no type in {source}",
            path=source,
            node_id=node_id,
            tab=tab,
        )
    if node_id in seen:
        first = seen[node_id]
        first_desc = ", ".join(p for p in (first["type"], labels.where(first.get("z"))) if p)
        this_desc = ", ".join(p for p in (node_type, where) if p)
        raise FlowParseError(
            f"duplicate node id '{node_id}' ({first_desc} and {this_desc}) in {source}",
            path=source,
            node_id=node_id,
            node_type=node_type,
            tab=tab,
        )
    seen[node_id] = item


def _flow_node(item: dict[str, Any], labels: _Labels, source: str) -> FlowNode:
    node_id: str = item["id"]
    node_type: str = item["type"]
    z = _str(item.get("z"))
    wires = _wires(item.get("wires"))
    if wires is None:
        raise FlowParseError(
            f"node '{node_id}'{describe_node(node_type, labels.where(z))} has malformed wires "
            f"(expected a list of lists of node ids) in {source}",
            path=source,
            node_id=node_id,
            node_type=node_type,
            tab=labels.tab_label(z),
        )
    subflow = node_type[len(SUBFLOW_PREFIX) :] if node_type.startswith(SUBFLOW_PREFIX) else None
    return FlowNode(
        id=node_id,
        type=node_type,
        name=_str(item.get("name")),
        z=z,
        tab=z if z in labels.tabs else "",
        x=_coord(item.get("x")),
        y=_coord(item.get("y")),
        wires=wires,
        disabled=item.get("d") is True,
        g=item.get("g") if isinstance(item.get("g"), str) and item.get("g") else None,
        subflow=subflow,
        scope=_scope(item.get("scope")) if node_type in _SCOPED_TYPES else None,
        links=_links(item.get("links")) if node_type in _LINK_TYPES else (),
        config=MappingProxyType(item),
    )


def _port_refs(raw: object) -> tuple[PortRef, ...] | None:
    if not isinstance(raw, dict):
        return None
    wires = raw.get("wires", [])
    if not isinstance(wires, list):
        return None
    refs: list[PortRef] = []
    for wire in wires:
        if not isinstance(wire, dict) or not isinstance(wire.get("id"), str):
            return None
        port = _port_index(wire.get("port", 0))
        if port is None:
            return None
        refs.append(PortRef(id=wire["id"], port=port))
    return tuple(refs)


def _port_index(value: object) -> int | None:
    """A subflow port's output index as Node-RED reads it: the runtime indexes the node's
    ``wires`` array with the value (``node.wires[wire.port]``, flows/Subflow.js), so ``0``,
    ``"0"`` and ``0.0`` are the same port; anything that is not an array index is malformed.

    >>> [_port_index(v) for v in (1, "1", 1.0, "01", -1, True, None)]
    [1, 1, 1, None, None, None, None]
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.isascii() and value.isdigit() and value == str(int(value)):
        value = int(value)
    return value if isinstance(value, int) and value >= 0 else None


def _subflow(
    item: dict[str, Any],
    nodes: list[FlowNode],
    configs: list[ConfigNode],
    groups: list[Group],
    source: str,
) -> SubflowDef:
    sid: str = item["id"]
    name = _str(item.get("name")) or sid

    def malformed(port: str) -> FlowParseError:
        return FlowParseError(
            f"subflow '{sid}' (\"{name}\") has a malformed {port} port in {source}",
            path=source,
            node_id=sid,
            node_type="subflow",
        )

    inputs: list[tuple[str, ...]] = []
    raw_in = item.get("in") or []
    if not isinstance(raw_in, list):
        raise malformed("in")
    for raw in raw_in:
        refs = _port_refs(raw)
        if refs is None:
            raise malformed("in")
        inputs.append(tuple(r.id for r in refs))
    outputs: list[tuple[PortRef, ...]] = []
    raw_out = item.get("out") or []
    if not isinstance(raw_out, list):
        raise malformed("out")
    for raw in raw_out:
        refs = _port_refs(raw)
        if refs is None:
            raise malformed("out")
        outputs.append(refs)
    status: tuple[PortRef, ...] | None = None
    if item.get("status"):
        status = _port_refs(item["status"])
        if status is None:
            raise malformed("status")
    return SubflowDef(
        id=sid,
        name=name,
        inputs=tuple(inputs),
        outputs=tuple(outputs),
        status=status,
        nodes=tuple(nodes),
        config_nodes=tuple(configs),
        groups=tuple(groups),
    )


def _check_instances(flow: Flow, labels: _Labels, source: str) -> None:
    """Every ``subflow:<id>`` names a defined subflow, and no subflow contains itself."""
    subflows = flow.subflow_by_id
    all_nodes = list(flow.nodes) + [n for s in flow.subflows for n in s.nodes]
    for node in all_nodes:
        if node.subflow is not None and node.subflow not in subflows:
            raise FlowParseError(
                f"subflow instance '{node.id}'{describe_node(node.type, labels.where(node.z))} "
                f"uses unknown subflow '{node.subflow}' in {source}",
                path=source,
                node_id=node.id,
                node_type=node.type,
                tab=labels.tab_label(node.z),
            )
    size = _check_recursion(subflows, source)
    total = sum(size.get(n.subflow, 1) if n.subflow and not n.disabled else 1 for n in flow.nodes)
    if total > MAX_RUNTIME_NODES:
        raise FlowParseError(
            f"{source} expands to {total:,} runtime nodes, more than {MAX_RUNTIME_NODES:,} "
            "(subflow instances inside subflows multiply)",
            path=source,
        )


def _check_recursion(subflows: Mapping[str, SubflowDef], source: str) -> dict[str, int]:
    """No subflow contains itself, directly or through others (iterative: any nesting depth);
    the fully expanded flow stays within :data:`MAX_RUNTIME_NODES`."""
    state: dict[str, int] = {}  # 1 = visiting, 2 = done
    size: dict[str, int] = {}  # runtime nodes one instance of the subflow expands to
    depth: dict[str, int] = {}  # levels of subflows one instance of it is (1: no nested ones)
    for root in subflows:
        if state.get(root) is not None:
            continue
        state[root] = 1
        stack: list[tuple[str, Iterator[FlowNode]]] = [(root, iter(subflows[root].nodes))]
        while stack:
            sid, nodes = stack[-1]
            node = next(nodes, None)
            if node is None:
                stack.pop()
                state[sid] = 2
                size[sid] = _expanded_size(subflows[sid], size, source)
                depth[sid] = _depth(subflows[sid], depth, source)
                continue
            child = node.subflow
            if child is None or node.disabled:
                continue
            if state.get(child) == 1:
                sf = subflows[child]
                raise FlowParseError(
                    f"subflow '{sf.id}' (\"{sf.name}\") contains itself (instance '{node.id}' of "
                    f"subflow '{child}') in {source}",
                    path=source,
                    node_id=node.id,
                    node_type=node.type,
                    tab=subflows[sid].name,
                )
            if state.get(child) is None:
                state[child] = 1
                stack.append((child, iter(subflows[child].nodes)))
    return size


#: The most runtime nodes a flow may expand to (subflow instances inside subflows multiply).
MAX_RUNTIME_NODES = 2_000_000
#: The deepest nesting of subflow instances taken (ids nest: ``<i1>-<i2>-...-<id>``, so a node's
#: id and subflow path grow with the depth; real flows nest a few levels).
MAX_SUBFLOW_DEPTH = 100


def _depth(sf: SubflowDef, depth: Mapping[str, int], source: str) -> int:
    """Levels of subflows one instance of ``sf`` is (its nested ones are done already)."""
    levels = 1 + max((depth.get(str(n.subflow), 0) for n in sf.nodes if n.subflow), default=0)
    if levels > MAX_SUBFLOW_DEPTH:
        raise FlowParseError(
            f"subflow '{sf.id}' (\"{sf.name}\") nests subflows {levels} levels deep, more than "
            f"{MAX_SUBFLOW_DEPTH} in {source}",
            path=source,
            node_id=sf.id,
            node_type="subflow",
        )
    return levels


def _expanded_size(sf: SubflowDef, size: Mapping[str, int], source: str) -> int:
    total = 2  # the instance node itself, its status node
    for node in sf.nodes:
        total += size.get(node.subflow, 1) if node.subflow and not node.disabled else 1
        if total > MAX_RUNTIME_NODES:
            raise FlowParseError(
                f"subflow '{sf.id}' (\"{sf.name}\") expands to more than {MAX_RUNTIME_NODES:,} "
                f"runtime nodes (instances of subflows inside subflows multiply) in {source}",
                path=source,
                node_id=sf.id,
                node_type="subflow",
            )
    return total
