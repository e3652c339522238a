"""The networkx view: attributes, merged parallel hops, the condensed analysis DAG, exports."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import networkx as nx
import pytest

import nodered_causal.flows as flows_pkg
from nodered_causal.errors import FlowParseError
from nodered_causal.flows import load_flow, to_causal_dag
from nodered_causal.flows.export import to_graphml, to_json, to_text

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "flows"


def _flow(name: str):  # type: ignore[no-untyped-def]
    return load_flow(FIXTURES / f"{name}.json", source=f"{name}.json")


def test_public_api_is_pinned() -> None:
    assert flows_pkg.__all__ == sorted(flows_pkg.__all__)
    for name in flows_pkg.__all__:
        assert getattr(flows_pkg, name) is not None, name
    assert {"load_flow", "to_causal_dag", "Flow", "FlowNode", "Edge", "FlowWarning"} <= set(
        flows_pkg.__all__
    )


def test_node_attributes_use_runtime_ids() -> None:
    graph = to_causal_dag(_flow("subflow_nested"))
    assert graph.nodes["I-n1-x"] == {
        "id": "I-n1-x",
        "type": "function",
        "name": "x",
        "tab": "Main",
        "tab_id": "t1",
        "z": "I-n1",
        "x": 160.0,
        "y": 40.0,
        "subflow_path": ["I", "I-n1"],
        "alias": "x",
        "disabled": False,
    }
    assert graph.nodes["I"]["type"] == "subflow:s_out"
    assert graph.nodes["I"]["subflow_path"] == []


def test_parallel_hops_merge_into_one_edge() -> None:
    graph = to_causal_dag(_flow("basic_tabs"))
    assert graph.edges["sw", "hi"] == {
        "port": 0,
        "kind": "wire",
        "ports": [0, 1],
        "kinds": ["wire"],
    }
    assert "broker" not in graph  # config node
    assert graph.number_of_nodes() == 9


def test_kinds_filter_and_unknown_kind() -> None:
    flow = _flow("catch_scopes")
    assert to_causal_dag(flow, kinds=["wire"]).number_of_edges() == 0
    assert to_causal_dag(flow, kinds=["catch"]).number_of_edges() == 11
    with pytest.raises(ValueError, match="unknown edge kinds"):
        to_causal_dag(flow, kinds=["wires"])


def test_disabled_nodes_only_on_request() -> None:
    flow = _flow("disabled")
    assert "b" not in to_causal_dag(flow)
    graph = to_causal_dag(flow, include_disabled=True)
    assert graph.nodes["b"]["disabled"] is True
    assert graph.degree("b") == 0


def test_condensed_contracts_junctions() -> None:
    dag = to_causal_dag(_flow("junction"), condensed=True)
    assert sorted(dag.nodes) == ["a", "b", "c"]
    assert dag.edges["a", "c"]["contracted"] == ["j1", "j2"]
    assert dag.graph["contracted"] == ["j1", "j2"]
    assert "2 junctions contracted (pass-through nodes)" in dag.graph["notes"]


def test_condensed_cycles_have_members() -> None:
    flow = _flow("cycles")
    graph = to_causal_dag(flow)
    assert not nx.is_directed_acyclic_graph(graph)
    dag = to_causal_dag(flow, condensed=True)
    assert nx.is_directed_acyclic_graph(dag)
    assert dag.nodes["cycle:b"]["members"] == ["b", "c", "w"]
    assert dag.nodes["cycle:b"]["x"] == pytest.approx((260 + 420 + 420) / 3)
    assert sorted(dag.edges) == [("a", "cycle:b"), ("cycle:b", "d")]
    assert dag.graph["cycles"] == [["b", "c", "w"]]
    assert "1 self-loops dropped" in dag.graph["notes"]


def test_condensed_splits_link_calls_inside_subflows() -> None:
    dag = to_causal_dag(_flow("link_in_subflow"), condensed=True)
    assert nx.is_directed_acyclic_graph(dag)
    assert dag.edges["I1", "top_li"]["contracted"] == ["I1-lc"]
    assert dag.edges["I1", "top_li"]["kind"] == "link-call"
    assert dag.has_edge("ret", "I1-lc")


def test_json_is_node_link_data() -> None:
    data = json.loads(to_json(to_causal_dag(_flow("subflow_basic"))))
    assert set(data) >= {"nodes", "edges", "graph", "directed"}
    back = nx.node_link_graph(data, edges="edges")
    assert sorted(back.edges) == sorted(to_causal_dag(_flow("subflow_basic")).edges)
    assert data["graph"]["source"] == "subflow_basic.json"


def test_graphml_round_trips() -> None:
    graph = to_causal_dag(_flow("link_call"))
    text = to_graphml(graph)
    ET.fromstring(text)  # well-formed
    back = nx.parse_graphml(text)
    assert sorted(back.edges) == sorted(graph.edges)
    assert back.edges["call", "rin"]["kind"] == "link-call"
    assert "port" not in back.edges["call", "rin"]  # None is left out


def test_text_lists_everything() -> None:
    text = to_text(to_causal_dag(_flow("disabled")))
    assert text.startswith("flow disabled.json (runtime graph)\n")
    assert '  t2  "Off"  0 nodes [disabled]' in text
    assert "  a:0 -> I2  wire" in text
    assert "  I2-q:0 -> c  subflow" in text
    assert "  - tab 'Off' is disabled: its 3 nodes do not run" in text
    assert "warnings (0):" in text


def test_text_says_when_the_runtime_graph_has_cycles() -> None:
    text = to_text(to_causal_dag(_flow("cycles")))
    assert (
        "  - the runtime graph has 1 cycles and 1 self-loops: --condensed condenses them into an "
        "acyclic analysis DAG" in text
    )
    assert "cycles" not in to_text(to_causal_dag(_flow("junction")))
    assert "runtime graph has" not in to_text(to_causal_dag(_flow("cycles"), condensed=True))


@pytest.mark.parametrize("port", [1, "1", 1.0])
def test_subflow_out_port_given_as_a_string_is_the_same_port(port: object) -> None:
    # Node-RED indexes the inner node's wires with the value (flows/Subflow.js: node.wires[port]),
    # so real exports with "port": "1" run; the edge leaves the inner node at output 1
    data = [
        {"id": "t", "type": "tab", "label": "Main"},
        {"id": "S", "type": "subflow", "name": "S", "in": [{"wires": [{"id": "f"}]}],
         "out": [{"wires": [{"id": "f", "port": port}]}]},
        {"id": "f", "type": "function", "z": "S", "x": 1, "y": 1, "outputs": 2,
         "wires": [[], []]},
        {"id": "a", "type": "inject", "z": "t", "x": 1, "y": 1, "wires": [["i"]]},
        {"id": "i", "type": "subflow:S", "z": "t", "x": 2, "y": 1, "wires": [["b"]]},
        {"id": "b", "type": "debug", "z": "t", "x": 3, "y": 1, "wires": []},
    ]  # fmt: skip
    graph = to_causal_dag(load_flow(data, source="flows.json"))
    assert graph.edges["i-f", "b"]["port"] == 1


@pytest.mark.parametrize("port", ["01", "-1", -1, " 1", True, None, 1.5])
def test_subflow_out_port_that_is_no_index_is_malformed(port: object) -> None:
    data = [{"id": "S", "type": "subflow", "name": "S", "in": [],
             "out": [{"wires": [{"id": "f", "port": port}]}]}]  # fmt: skip
    with pytest.raises(FlowParseError) as exc:
        load_flow(data, source="flows.json")
    assert str(exc.value) == "subflow 'S' (\"S\") has a malformed out port in flows.json"
