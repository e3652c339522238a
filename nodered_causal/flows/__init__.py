"""flows: Node-RED flow export -> typed IR -> causal DAG whose node ids are runtime ids.

>>> from nodered_causal.flows import load_flow, to_causal_dag
>>> flow = load_flow([{"id": "t", "type": "tab", "label": "Main"},
...     {"id": "a", "type": "inject", "z": "t", "x": 100, "y": 40, "wires": [["b"]]},
...     {"id": "b", "type": "debug", "z": "t", "x": 300, "y": 40, "wires": []}])
>>> sorted(to_causal_dag(flow).edges(data="kind"))
[('a', 'b', 'wire')]

The pipeline is ``load`` (the only I/O) -> ``parse`` (decoded JSON -> definition-level IR) ->
``passes.RULES`` (pure ``Flow -> Flow`` rewrites into the runtime view) -> ``dag`` (networkx) ->
``export`` (text, node-link JSON, GraphML, DOT). networkx is imported on first use of the graph
functions, so importing this package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nodered_causal.flows.ir import (
    EDGE_KINDS,
    WIRE_KINDS,
    ConfigNode,
    Edge,
    EdgeKind,
    Flow,
    FlowNode,
    FlowWarning,
    Group,
    PortRef,
    SubflowDef,
    Tab,
    Wire,
)
from nodered_causal.flows.load import load_flow, read_flow_json
from nodered_causal.flows.parse import parse_flow
from nodered_causal.flows.passes import RULES, STRICT_CODES, apply_rules

if TYPE_CHECKING:
    from nodered_causal.flows.dag import condense, contract_junctions, to_causal_dag
    from nodered_causal.flows.export import FORMATS, to_graphml, to_json, to_text

__all__ = [
    "ConfigNode",
    "EDGE_KINDS",
    "Edge",
    "EdgeKind",
    "FORMATS",
    "Flow",
    "FlowNode",
    "FlowWarning",
    "Group",
    "PortRef",
    "RULES",
    "STRICT_CODES",
    "SubflowDef",
    "Tab",
    "WIRE_KINDS",
    "Wire",
    "apply_rules",
    "condense",
    "contract_junctions",
    "load_flow",
    "parse_flow",
    "read_flow_json",
    "to_causal_dag",
    "to_graphml",
    "to_json",
    "to_text",
]

_LAZY = {
    "condense": "nodered_causal.flows.dag",
    "contract_junctions": "nodered_causal.flows.dag",
    "to_causal_dag": "nodered_causal.flows.dag",
    "FORMATS": "nodered_causal.flows.export",
    "to_graphml": "nodered_causal.flows.export",
    "to_json": "nodered_causal.flows.export",
    "to_text": "nodered_causal.flows.export",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
