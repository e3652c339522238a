"""``catch`` / ``status`` / ``complete`` nodes receive from the nodes in their scope."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from nodered_causal.flows.ir import Edge, EdgeKind, Flow, FlowNode, Group

__all__ = ["event_scopes"]

_ARRAY_INDEX = re.compile(r"^(0|[1-9][0-9]*)$")


def _js_key_order(nodes: Sequence[FlowNode]) -> list[FlowNode]:
    """Iteration order of a JS object keyed by these ids: array-index keys first, ascending."""
    index = [n for n in nodes if _ARRAY_INDEX.match(n.id) and int(n.id) < 2**32 - 1]
    if not index:
        return list(nodes)
    index_ids = {n.id for n in index}
    rest = [n for n in nodes if n.id not in index_ids]
    return sorted(index, key=lambda n: int(n.id)) + rest


@dataclass
class _RuntimeFlow:
    """One runtime ``Flow``: a tab, or one subflow instance."""

    id: str
    parent: str | None  # the enclosing flow of a subflow instance
    instance: FlowNode | None
    has_status_port: bool
    groups: dict[str, Group] = field(default_factory=dict)
    members: list[FlowNode] = field(default_factory=list)
    catches: list[FlowNode] = field(default_factory=list)
    statuses: list[FlowNode] = field(default_factory=list)
    completes: list[FlowNode] = field(default_factory=list)
    listed: set[str] = field(default_factory=set)  # ids named in a catch/status scope list
    memo: dict[tuple[str, str | None, str], list[FlowNode]] = field(default_factory=dict)

    def receivers(self, kind: str, reporting: FlowNode) -> list[FlowNode]:
        """Catch or status nodes of this flow that get an event reported by ``reporting``.

        The answer depends on the reporting node only through its group and whether a scope
        list names it, so it is computed once per (kind, group, listed id).
        """
        listed = reporting.id if reporting.id in self.listed else ""
        key = (kind, reporting.g, listed)
        found = self.memo.get(key)
        if found is None:
            if kind == "catch":
                found = _catch_receivers(_candidates(self, self.catches, reporting))
            else:
                found = _candidates(self, self.statuses, reporting)
            self.memo[key] = found
        return found


def _runtime_flows(flow: Flow) -> dict[str, _RuntimeFlow]:
    flows: dict[str, _RuntimeFlow] = {
        t.id: _RuntimeFlow(t.id, None, None, False) for t in flow.tabs if not t.disabled
    }
    for node in flow.nodes:
        if node.subflow is not None and not node.disabled:
            sf = flow.subflow_by_id[node.subflow]
            flows[node.id] = _RuntimeFlow(node.id, node.z, node, sf.status is not None)
    for group in flow.groups:
        if group.z in flows:
            flows[group.z].groups[group.id] = group
    for node in flow.nodes:
        rf = flows.get(node.z)
        if rf is None or node.disabled:
            continue
        rf.members.append(node)
    for rf in flows.values():
        ordered = _js_key_order(rf.members)
        rf.catches = sorted((n for n in ordered if n.type == "catch"), key=_catch_rank)
        rf.statuses = [
            replace(n, scope=tuple(_filtered_scope(n))) if isinstance(n.scope, tuple) else n
            for n in ordered
            if n.type == "status"
        ]
        rf.completes = [n for n in ordered if n.type == "complete"]
        rf.listed = {
            i for n in (*rf.catches, *rf.statuses) if isinstance(n.scope, tuple) for i in n.scope
        }
    return flows


def _catch_rank(node: FlowNode) -> int:
    # Flow.start sorts catch nodes: scoped ones first, then unscoped, "uncaught" ones last.
    if node.scope:
        return 0
    return 2 if node.config.get("uncaught") else 1


def _candidates(rf: _RuntimeFlow, targets: list[FlowNode], reporting: FlowNode) -> list[FlowNode]:
    """``Flow.handleError`` / ``handleStatus``: the scope test and the group-distance sort."""
    found: list[tuple[int, FlowNode]] = []
    for target in targets:
        if target.g and target.scope == "group" and not reporting.g:
            continue
        if isinstance(target.scope, tuple) and reporting.id not in target.scope:
            continue
        distance = 0
        if reporting.g:
            group = rf.groups.get(reporting.g)
            while group is not None and group.id != target.g:
                distance += 1
                group = rf.groups.get(group.g) if group.g else None
            if group is None and target.g and target.scope == "group":
                continue
        found.append((distance, target))
    found.sort(key=lambda pair: pair[0])
    return [target for _, target in found]


def _catch_receivers(candidates: list[FlowNode]) -> list[FlowNode]:
    """An ``uncaught`` catch receives only if no catch before it handled the error."""
    receivers: list[FlowNode] = []
    handled = handled_by_uncaught = False
    for catch in candidates:
        if catch.config.get("uncaught") and not handled_by_uncaught:
            if handled:
                continue
            handled_by_uncaught = True
        receivers.append(catch)
        handled = True
    return receivers


def _filtered_scope(node: FlowNode) -> list[str]:
    """Complete/status nodes drop scope ids they are wired to (the runtime's splice loop)."""
    scope = list(node.scope) if isinstance(node.scope, tuple) else []
    wired = {t for port in node.wires for t in port}
    i = 0
    while i < len(scope):
        if scope[i] in wired:
            del scope[i]  # the loop then skips the element that moved into slot i
        i += 1
    return scope


def event_scopes(flow: Flow) -> Flow:
    """Add ``catch``, ``status`` and ``complete`` edges, following ``Flow.js`` / ``Subflow.js``.

    - catch: an erroring node reports to the catch nodes of its own flow whose scope holds it
      (``null`` = whole flow, ids, or ``group`` = its group hierarchy), nearest group first; an
      ``uncaught`` catch only gets errors no catch before it took. An error nobody in a subflow
      instance catches goes to the parent flow with the *instance* as the reporting node.
    - status: the same scope test without ``uncaught``; an unhandled status leaves a subflow
      only if the subflow has no status output. A subflow's status output node reports for its
      instance in the parent flow.
    - complete: the nodes listed in a complete node's scope, in the complete node's own flow.
      A subflow instance node never completes (its ``_flow`` is the subflow itself).

    Subflow instance nodes are not sources (they neither fail nor set status themselves).

    >>> from nodered_causal.flows.parse import parse_flow
    >>> flow = event_scopes(parse_flow([{"id": "t", "type": "tab"},
    ...     {"id": "f", "type": "function", "z": "t", "x": 1, "y": 1},
    ...     {"id": "c", "type": "catch", "z": "t", "x": 1, "y": 2, "scope": None}]))
    >>> [(e.source, e.target, e.kind) for e in flow.edges]
    [('f', 'c', 'catch')]
    """
    flows = _runtime_flows(flow)
    if not any(rf.catches or rf.statuses or rf.completes for rf in flows.values()):
        return flow
    nodes = flow.node_by_id
    edges: list[Edge] = []

    def add(source: str, targets: list[FlowNode], kind: EdgeKind) -> None:
        edges.extend(Edge(source, t.id, None, kind) for t in targets if t.id != source)

    has_catch = any(rf.catches for rf in flows.values())
    has_status = any(rf.statuses for rf in flows.values())
    for rf in flows.values():
        for node in rf.members:
            if node.subflow is not None:
                continue
            if node.type == "subflow-status":
                if has_status:
                    instance = nodes[node.z]
                    add(node.id, _status_targets(flows, instance.z, instance, instance), "status")
                continue
            if has_catch:
                add(node.id, _catch_targets(flows, rf.id, node), "catch")
            if has_status:
                add(node.id, _status_targets(flows, rf.id, node, None), "status")
        members = {n.id: n for n in rf.members}
        for complete in rf.completes:
            for source_id in _filtered_scope(complete):
                source = members.get(source_id)
                if (
                    source is not None
                    and source.subflow is None
                    and source.type != "subflow-status"
                ):
                    add(source_id, [complete], "complete")
    return replace(flow, edges=flow.edges + tuple(edges))


def _catch_targets(
    flows: Mapping[str, _RuntimeFlow], flow_id: str, node: FlowNode
) -> list[FlowNode]:
    reporting = node
    rf: _RuntimeFlow | None = flows[flow_id]
    while rf is not None:
        receivers = rf.receivers("catch", reporting)
        if receivers or rf.instance is None or rf.parent is None:
            return receivers
        reporting = rf.instance
        rf = flows.get(rf.parent)
    return []


def _status_targets(
    flows: Mapping[str, _RuntimeFlow], flow_id: str, node: FlowNode, reporting: FlowNode | None
) -> list[FlowNode]:
    reporting = reporting or node
    rf: _RuntimeFlow | None = flows.get(flow_id)
    while rf is not None:
        receivers = rf.receivers("status", reporting)
        if receivers or rf.instance is None or rf.parent is None:
            return receivers
        if rf.has_status_port and node is not rf.instance:
            return []
        reporting = rf.instance
        rf = flows.get(rf.parent)
    return []
