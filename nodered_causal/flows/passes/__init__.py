"""The passes that turn a parsed export into the runtime view, as pure ``Flow -> Flow`` rules.

Like sqlglot's optimizer: :data:`RULES` is applied in order by :func:`apply_rules`; each rule is
its own module with one public function, a docstring example and a golden fixture
(``tests/fixtures/flows``). The order matters: link wires are resolved on the definitions (as
``parseConfig`` does) before subflows are expanded, and link calls need the wire edges.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from nodered_causal.flows.ir import Flow
from nodered_causal.flows.passes._common import STRICT_CODES
from nodered_causal.flows.passes.check_targets import check_wire_targets
from nodered_causal.flows.passes.disabled import mark_disabled
from nodered_causal.flows.passes.event_scopes import event_scopes
from nodered_causal.flows.passes.expand_subflows import expand_subflows, status_node_id
from nodered_causal.flows.passes.implicit_tab import IMPLICIT_TAB_ID, assign_implicit_tab
from nodered_causal.flows.passes.link_calls import link_calls
from nodered_causal.flows.passes.link_wires import resolve_link_wires
from nodered_causal.flows.passes.wire_edges import wire_edges

__all__ = [
    "IMPLICIT_TAB_ID",
    "RULES",
    "STRICT_CODES",
    "FlowRule",
    "apply_rules",
    "assign_implicit_tab",
    "check_wire_targets",
    "event_scopes",
    "expand_subflows",
    "link_calls",
    "mark_disabled",
    "resolve_link_wires",
    "status_node_id",
    "wire_edges",
]


class FlowRule(Protocol):
    """A pass: a pure function from a flow to a flow."""

    def __call__(self, flow: Flow, /) -> Flow: ...


RULES: tuple[FlowRule, ...] = (
    assign_implicit_tab,
    mark_disabled,
    check_wire_targets,
    resolve_link_wires,
    expand_subflows,
    wire_edges,
    link_calls,
    event_scopes,
)


def apply_rules(flow: Flow, rules: Sequence[FlowRule] = RULES) -> Flow:
    """Apply ``rules`` in order."""
    for rule in rules:
        flow = rule(flow)
    return flow
