"""Nodes whose tab is not in the export (an export of selected nodes) share one implicit tab."""

from __future__ import annotations

from dataclasses import replace

from nodered_causal.flows.ir import Flow, Tab
from nodered_causal.flows.passes._common import add_notes

__all__ = ["IMPLICIT_TAB_ID", "assign_implicit_tab"]

#: Id of the implicit tab when the orphan nodes name several (or no) tabs.
IMPLICIT_TAB_ID = "implicit-tab"


def assign_implicit_tab(flow: Flow) -> Flow:
    """Put flow nodes (and groups) that name no tab of the export on one implicit tab.

    The editor imports such an export (the clipboard export of selected nodes) onto the tab
    open at the time, so all of them end up on one tab; the tab keeps the id the nodes name when
    they all name the same one. Node ids do not change, so the runtime ids stay the same.

    >>> from nodered_causal.flows.parse import parse_flow
    >>> flow = assign_implicit_tab(parse_flow([
    ...     {"id": "a", "type": "inject", "z": "gone", "x": 1, "y": 1, "wires": [["b"]]},
    ...     {"id": "b", "type": "debug", "z": "gone", "x": 2, "y": 1}]))
    >>> [(t.id, t.implicit) for t in flow.tabs], [n.tab for n in flow.nodes]
    ([('gone', True)], ['gone', 'gone'])
    """
    tab_ids = {t.id for t in flow.tabs}
    orphans = [n for n in flow.nodes if n.z not in tab_ids]
    if not orphans:
        return flow
    named = sorted({n.z for n in orphans if n.z})
    tab_id = named[0] if len(named) == 1 and all(n.z for n in orphans) else IMPLICIT_TAB_ID
    tab = Tab(id=tab_id, label=tab_id, implicit=True)
    nodes = tuple(replace(n, z=tab_id, tab=tab_id) if n.z not in tab_ids else n for n in flow.nodes)
    orphan_z = set(named)
    groups = tuple(
        replace(g, z=tab_id) if g.z in orphan_z or (not g.z and tab_id == IMPLICIT_TAB_ID) else g
        for g in flow.groups
    )
    if named:
        where = "tab " + ", ".join(f"'{z}'" for z in named) + ", which this export does not contain"
    else:
        where = "no tab"
    note = (
        f"{len(orphans)} nodes name {where} (an export of selected nodes): analysed as one "
        f"implicit tab '{tab_id}', as the editor imports them"
    )
    return add_notes(replace(flow, tabs=(*flow.tabs, tab), nodes=nodes, groups=groups), [note])
