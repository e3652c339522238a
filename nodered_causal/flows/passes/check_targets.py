"""Warn about wires (and links) to ids the runtime cannot deliver to; it drops such messages."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from nodered_causal.flows.ir import Flow, FlowNode, FlowWarning, PortRef, SubflowDef
from nodered_causal.flows.passes._common import add_warnings, node_ref, warning

__all__ = ["check_wire_targets", "link_mode"]

CODE = "unknown-wire-target"


def link_mode(node: FlowNode) -> str:
    """A ``link out``'s mode: ``link`` (sends to its targets) or ``return`` (answers a call)."""
    mode = node.config.get("mode")
    return mode if isinstance(mode, str) and mode else "link"


def _outgoing(node: FlowNode) -> Iterable[tuple[str, int, str]]:
    """``(what, port, target)`` for every wire or static link of a node, as written."""
    if node.type == "link out":
        if link_mode(node) == "link":
            for target in node.links:
                yield "link", 0, target
        return
    for port, targets in enumerate(node.wires):
        for target in targets:
            yield "wire", port, target


class _Ids:
    def __init__(self, flow: Flow) -> None:
        self.top = {n.id for n in flow.nodes}
        self.inner: Mapping[str, SubflowDef] = {n.id: sf for sf in flow.subflows for n in sf.nodes}
        self.configs = {c.id: c.type for c in flow.config_nodes} | {
            c.id: c.type for sf in flow.subflows for c in sf.config_nodes
        }
        self.other = (
            {t.id: "a tab" for t in flow.tabs}
            | {s.id: "a subflow definition" for s in flow.subflows}
            | {g.id: "a group" for g in flow.groups}
            | {g.id: "a group" for sf in flow.subflows for g in sf.groups}
        )

    def reason(self, target: str, home: SubflowDef | None) -> str:
        if target in self.configs:
            return f"'{target}', a config node ({self.configs[target]}), not a flow node"
        if target in self.other:
            return f"'{target}', {self.other[target]}, not a node"
        if home is not None and (target in self.top or target in self.inner):
            return f"node '{target}' outside subflow '{home.name}'"
        if home is None and target in self.inner:
            return f"node '{target}' inside subflow '{self.inner[target].name}', not a runtime id"
        return f"unknown node '{target}'"


def check_wire_targets(flow: Flow) -> Flow:
    """Warn (code ``unknown-wire-target``) for each wire to an id no running node has.

    Checked where it is written: tab nodes against the tab-level nodes; nodes of a subflow
    definition and its in/out/status ports against that definition (the runtime remaps ids inside
    an instance and turns the rest into ``null``). A subflow whose input names an unknown node
    makes every instance fail to start (``Subflow.start`` throws). One warning per written wire,
    not per instance. ``link out`` nodes are checked through their ``links``; ``link call``
    targets by the link-call pass.

    >>> from nodered_causal.flows.parse import parse_flow
    >>> flow = check_wire_targets(parse_flow([{"id": "t", "type": "tab", "label": "Main"},
    ...     {"id": "a", "type": "inject", "z": "t", "x": 1, "y": 1, "wires": [["gone"]]}],
    ...     source="f.json"))
    >>> print(flow.warnings[0].message)
    wire from 'a' (inject, tab 'Main') port 0 targets unknown node 'gone' in f.json
    """
    ids = _Ids(flow)
    found: list[FlowWarning] = []
    for node in flow.nodes:
        if not node.disabled:
            found.extend(_check_node(flow, ids, node, ids.top, None))
    for sf in flow.subflows:
        inner = {n.id for n in sf.nodes}
        for node in sf.nodes:
            if not node.disabled:
                found.extend(_check_node(flow, ids, node, inner, sf))
        found.extend(_check_ports(flow, ids, sf, inner))
    return add_warnings(flow, found)


def _check_node(
    flow: Flow, ids: _Ids, node: FlowNode, known: set[str], home: SubflowDef | None
) -> list[FlowWarning]:
    out: list[FlowWarning] = []
    for what, port, target in _outgoing(node):
        if target in known:
            continue
        where = f" port {port}" if what == "wire" else ""
        message = (
            f"{what} from {node_ref(flow, node)}{where} targets {ids.reason(target, home)} "
            f"in {flow.source}"
        )
        out.append(warning(flow, CODE, message, node, target=target, port=port))
    return out


def _check_ports(flow: Flow, ids: _Ids, sf: SubflowDef, inner: set[str]) -> list[FlowWarning]:
    out: list[FlowWarning] = []

    def bad(ref_id: str) -> bool:
        return ref_id != sf.id and ref_id not in inner

    for targets in sf.inputs:
        for target in targets:
            if target not in inner:
                out.append(
                    _port_warning(
                        flow,
                        f"subflow '{sf.name}' input targets {ids.reason(target, sf)} in "
                        f"{flow.source}: its instances fail to start",
                        sf,
                        target,
                    )
                )
    for index, refs in enumerate(sf.outputs):
        out.extend(
            _port_warning(
                flow,
                f"subflow '{sf.name}' output {index} comes from "
                f"{ids.reason(ref.id, sf)} in {flow.source}",
                sf,
                ref.id,
                ref,
            )
            for ref in refs
            if bad(ref.id)
        )
    out.extend(
        _port_warning(
            flow,
            f"subflow '{sf.name}' status output comes from {ids.reason(ref.id, sf)} in "
            f"{flow.source}",
            sf,
            ref.id,
            ref,
        )
        for ref in sf.status or ()
        if bad(ref.id)
    )
    return out


def _port_warning(
    flow: Flow, message: str, sf: SubflowDef, target: str, ref: PortRef | None = None
) -> FlowWarning:
    return FlowWarning(
        code=CODE,
        message=message,
        node_id=sf.id,
        node_type="subflow",
        tab=sf.name,
        path=flow.source,
        target=target,
        port=ref.port if ref is not None else None,
    )
