"""Disabled nodes (``d: true``) and everything on a disabled tab do not run."""

from __future__ import annotations

from dataclasses import replace

from nodered_causal.flows.ir import Flow, FlowNode
from nodered_causal.flows.passes._common import add_notes

__all__ = ["mark_disabled"]

_LISTED = 8


def _names(nodes: list[FlowNode]) -> str:
    shown = ", ".join(f"'{n.id}' ({n.type})" for n in nodes[:_LISTED])
    more = len(nodes) - _LISTED
    return shown + (f" and {more} more" if more > 0 else "")


def mark_disabled(flow: Flow) -> Flow:
    """Mark nodes on disabled tabs as disabled and say what does not run.

    The runtime starts no flow for a disabled tab (``flows/index.js``) and skips nodes with
    ``d: true`` (``Flow.start``); wires into them are dropped. Disabled nodes stay in the IR with
    ``disabled=True`` and leave the causal graph.

    >>> from nodered_causal.flows.parse import parse_flow
    >>> flow = mark_disabled(parse_flow([
    ...     {"id": "t", "type": "tab", "label": "Off", "disabled": True},
    ...     {"id": "a", "type": "inject", "z": "t", "x": 1, "y": 1}]))
    >>> flow.nodes[0].disabled, flow.notes
    (True, ("tab 'Off' is disabled: its 1 nodes do not run",))
    """
    off_tabs = {t.id for t in flow.tabs if t.disabled}
    notes: list[str] = []
    for tab in flow.tabs:
        if tab.disabled:
            count = sum(1 for n in flow.nodes if n.tab == tab.id)
            notes.append(f"tab '{tab.label or tab.id}' is disabled: its {count} nodes do not run")
    own = [n for n in flow.nodes if n.disabled and n.tab not in off_tabs]
    if own:
        notes.append(f"{len(own)} disabled nodes do not run: {_names(own)}")
    for sf in flow.subflows:
        inner = [n for n in sf.nodes if n.disabled]
        if inner:
            notes.append(
                f"subflow '{sf.name}': {len(inner)} disabled nodes do not run in any instance: "
                f"{_names(inner)}"
            )
    if off_tabs:
        flow = replace(
            flow,
            nodes=tuple(
                replace(n, disabled=True) if n.tab in off_tabs and not n.disabled else n
                for n in flow.nodes
            ),
        )
    return add_notes(flow, notes)
