"""Property tests: random valid flows never crash the importer and give consistent graphs;
random corruptions of them give the documented FlowParseError text."""

from __future__ import annotations

import copy
from typing import Any

import networkx as nx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nodered_causal.errors import FlowParseError
from nodered_causal.flows import load_flow, to_causal_dag

SETTINGS = settings(
    max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
PLAIN = [
    "function",
    "junction",
    "debug",
    "change",
    "switch",
    "link in",
    "link out",
    "link call",
    "catch",
    "status",
    "complete",
]


@st.composite
def flows(draw: st.DrawFn) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    n_sub = draw(st.integers(0, 3))
    sub_ids = [f"sf{i}" for i in range(n_sub)]
    for index, sid in enumerate(sub_ids):
        inner = [f"{sid}n{j}" for j in range(draw(st.integers(1, 4)))]
        for nid in inner:
            kinds = PLAIN + [f"subflow:{s}" for s in sub_ids[:index]]  # no recursion
            items.append(_node(draw, nid, draw(st.sampled_from(kinds)), sid, inner + [sid], inner))
        port = st.sampled_from(inner + [sid])
        items.append(
            {
                "id": sid,
                "type": "subflow",
                "name": f"S{index}",
                "in": [
                    {
                        "x": 1,
                        "y": 1,
                        "wires": [
                            {"id": i} for i in draw(st.lists(st.sampled_from(inner), max_size=2))
                        ],
                    }
                ]
                if draw(st.booleans())
                else [],
                "out": [
                    {"x": 1, "y": 1, "wires": [{"id": draw(port), "port": draw(st.integers(0, 1))}]}
                    for _ in range(draw(st.integers(0, 2)))
                ],
                **(
                    {
                        "status": {
                            "x": 1,
                            "y": 1,
                            "wires": [{"id": draw(st.sampled_from(inner)), "port": 0}],
                        }
                    }
                    if draw(st.booleans())
                    else {}
                ),
            }
        )
    tabs = [f"t{i}" for i in range(draw(st.integers(1, 3)))]
    for tid in tabs:
        items.append(
            {"id": tid, "type": "tab", "label": tid.upper(), "disabled": draw(st.booleans())}
        )
        items.append({"id": f"{tid}g", "type": "group", "z": tid, "nodes": []})
    top = [f"n{i}" for i in range(draw(st.integers(1, 15)))]
    for nid in top:
        kinds = PLAIN + [f"subflow:{s}" for s in sub_ids]
        z = draw(st.sampled_from(tabs))
        items.append(
            _node(draw, nid, draw(st.sampled_from(kinds)), z, top + ["missing"], top, f"{z}g")
        )
    items.append({"id": "cfg", "type": "mqtt-broker", "broker": "localhost"})
    return draw(st.permutations(items))


def _node(
    draw: st.DrawFn,
    nid: str,
    node_type: str,
    z: str,
    targets: list[str],
    peers: list[str],
    group: str | None = None,
) -> dict[str, Any]:
    wires = [
        draw(st.lists(st.sampled_from(targets), max_size=3)) for _ in range(draw(st.integers(0, 2)))
    ]
    node: dict[str, Any] = {"id": nid, "type": node_type, "z": z, "x": 10, "y": 20, "wires": wires}
    if draw(st.integers(0, 9)) == 0:
        node["d"] = True
    if group and draw(st.booleans()):
        node["g"] = group
    if node_type in ("link in", "link out", "link call"):
        node["links"] = draw(st.lists(st.sampled_from(peers + ["missing"]), max_size=2))
        node["mode"] = draw(st.sampled_from(["link", "return"]))
        node["linkType"] = draw(st.sampled_from(["static", "static", "dynamic"]))
    if node_type in ("catch", "status", "complete"):
        node["scope"] = draw(
            st.one_of(st.none(), st.just("group"), st.lists(st.sampled_from(peers), max_size=3))
        )
        node["uncaught"] = draw(st.booleans())
    return node


@SETTINGS
@given(flows())
def test_random_valid_flows_never_crash(data: list[dict[str, Any]]) -> None:
    flow = load_flow(copy.deepcopy(data))
    nodes = flow.node_by_id
    for edge in flow.edges:
        assert not nodes[edge.source].disabled and not nodes[edge.target].disabled
        assert (edge.port is None) == (edge.kind not in ("wire", "link", "subflow"))
    for node in flow.nodes:
        if node.subflow_path and node.type != "subflow-status":
            assert node.id == f"{node.subflow_path[-1]}-{node.alias}"
            assert node.z == node.subflow_path[-1]
    assert all(w.code for w in flow.warnings)
    graph = to_causal_dag(flow)
    assert graph.number_of_nodes() == len(flow.active_nodes)
    dag = to_causal_dag(flow, condensed=True)
    assert nx.is_directed_acyclic_graph(dag)
    members = [m for _, ms in dag.nodes(data="members") if ms for m in ms]
    assert len(members) == len(set(members))


@SETTINGS
@given(flows())
def test_plain_wires_are_the_edges(data: list[dict[str, Any]]) -> None:
    """Without subflows, links and event nodes, the edges are exactly the wires between
    running nodes (an independent restatement of Node.send + getNode)."""
    plain = [n for n in data if n["type"] in ("tab", "group", "function", "junction", "debug")]
    flow = load_flow(copy.deepcopy(plain))
    off = {n["id"] for n in plain if n["type"] == "tab" and n["disabled"]}
    running = {n["id"] for n in plain if "x" in n and not n.get("d") and n["z"] not in off}
    want = {
        (n["id"], port, t)
        for n in plain
        if n["id"] in running
        for port, targets in enumerate(n["wires"])
        for t in targets
        if t in running
    }
    assert {(e.source, e.port, e.target) for e in flow.edges} == want
    assert {e.kind for e in flow.edges} <= {"wire"}


def _where(item: dict[str, Any], data: list[dict[str, Any]]) -> str:
    labels = {n["id"]: n.get("label") for n in data if n["type"] == "tab"}
    names = {n["id"]: n.get("name") for n in data if n["type"] == "subflow"}
    z = item.get("z")
    if z in names:
        return f"subflow '{names[z]}'"
    return f"tab '{labels.get(z, z)}'"


@SETTINGS
@given(
    flows(),
    st.sampled_from(["no-id", "duplicate", "unknown-subflow", "bad-wires", "not-object"]),
    st.data(),
)
def test_corrupted_flows_give_the_documented_error(
    data: list[dict[str, Any]], corruption: str, pick: st.DataObject
) -> None:
    data = copy.deepcopy(data)
    nodes = [i for i, n in enumerate(data) if "x" in n]
    index = pick.draw(st.sampled_from(nodes))
    item = data[index]
    where = _where(item, data)
    if corruption == "no-id":
        del item["id"]
        want = f"node at index {index} ({item['type']}, {where}) has no id in <data>"
    elif corruption == "duplicate":
        other = data[pick.draw(st.sampled_from([i for i in nodes if i != index] or [index]))]
        if other is item:
            return
        first, second = sorted([item, other], key=lambda n: data.index(n))
        second["id"] = first["id"]
        want = (
            f"duplicate node id '{first['id']}' ({first['type']}, {_where(first, data)} and "
            f"{second['type']}, {_where(second, data)}) in <data>"
        )
    elif corruption == "unknown-subflow":
        item["type"] = "subflow:nowhere"
        want = (
            f"subflow instance '{item['id']}' (subflow:nowhere, {where}) uses unknown "
            "subflow 'nowhere' in <data>"
        )
    elif corruption == "bad-wires":
        item["wires"] = {"0": ["x"]}
        want = (
            f"node '{item['id']}' ({item['type']}, {where}) has malformed wires (expected a "
            "list of lists of node ids) in <data>"
        )
    else:
        data[index] = [item["id"]]
        want = f"item {index} of <data> is not a node object (got array)"
    with pytest.raises(FlowParseError) as info:
        load_flow(data)
    assert str(info.value) == want
