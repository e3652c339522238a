"""Helpers shared by the passes: where a node is (for messages), JS truthiness."""

from __future__ import annotations

from dataclasses import replace

from nodered_causal.flows.ir import Flow, FlowNode, FlowWarning
from nodered_causal.flows.parse import describe_node

__all__ = ["add_notes", "add_warnings", "js_truthy", "locate", "node_ref"]

#: Warning codes that ``strict`` turns into :class:`~nodered_causal.errors.UnknownWireTargetError`.
STRICT_CODES = frozenset({"unknown-wire-target"})


def js_truthy(value: object) -> bool:
    """JavaScript truthiness of a JSON value (``[]`` and ``{}`` are true, ``""`` and 0 false)."""
    if isinstance(value, list | dict):
        return True
    return bool(value)


def locate(flow: Flow, node: FlowNode) -> tuple[str | None, str | None]:
    """``(where, tab_label)``: ``"tab 'Main'"`` or ``"subflow 'Smooth'"`` and the label alone."""
    if node.tab:
        label = flow.tab_label(node.tab)
        return f"tab '{label}'", label
    sf = flow.subflow_by_id.get(node.z)
    if sf is not None:
        return f"subflow '{sf.name}'", sf.name
    if node.z:
        return f"tab '{node.z}'", node.z
    return None, None


def node_ref(flow: Flow, node: FlowNode) -> str:
    """``'a1' (function, tab 'Main')`` — how every message names a node."""
    where, _ = locate(flow, node)
    return f"'{node.id}'{describe_node(node.type, where)}"


def add_warnings(flow: Flow, warnings: list[FlowWarning]) -> Flow:
    return replace(flow, warnings=flow.warnings + tuple(warnings)) if warnings else flow


def add_notes(flow: Flow, notes: list[str]) -> Flow:
    return replace(flow, notes=flow.notes + tuple(notes)) if notes else flow


def warning(
    flow: Flow,
    code: str,
    message: str,
    node: FlowNode | None = None,
    *,
    target: str | None = None,
    port: int | None = None,
) -> FlowWarning:
    tab = locate(flow, node)[1] if node is not None else None
    return FlowWarning(
        code=code,
        message=message,
        node_id=node.id if node is not None else None,
        node_type=node.type if node is not None else None,
        tab=tab,
        path=flow.source,
        target=target,
        port=port,
    )
