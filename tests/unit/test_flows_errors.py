"""Malformed exports give the documented FlowParseError text; missing targets the warning."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nodered_causal.errors import FlowParseError, UnknownWireTargetError
from nodered_causal.flows import load_flow

TAB = {"id": "t1", "type": "tab", "label": "Main"}


def _node(node_id: str, node_type: str = "function", **extra: Any) -> dict[str, Any]:
    return {"id": node_id, "type": node_type, "z": "t1", "x": 10, "y": 10, "wires": [], **extra}


def _error(data: Any) -> FlowParseError:
    with pytest.raises(FlowParseError) as info:
        load_flow(data, source="flows.json")
    return info.value


def test_not_json(tmp_path: Path) -> None:
    path = tmp_path / "flows.json"
    path.write_text('[{"id": "a",}]')
    with pytest.raises(FlowParseError) as info:
        load_flow(path)
    assert str(info.value) == (
        f"{path} is not JSON: Expecting property name enclosed in double quotes at line 1, "
        "column 13"
    )
    assert info.value.path == str(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FlowParseError, match=r"nope\.json does not exist$"):
        load_flow(tmp_path / "nope.json")


@pytest.mark.parametrize(
    ("text", "kind"), [('{"a": 1}', "object"), ('"x"', "string"), ("3", "number"), ("null", "null")]
)
def test_not_a_list(tmp_path: Path, text: str, kind: str) -> None:
    path = tmp_path / "flows.json"
    path.write_text(text)
    with pytest.raises(FlowParseError) as info:
        load_flow(path, source="flows.json")
    assert str(info.value) == (
        "flows.json is not a flow export: expected a JSON array of nodes or an object with a "
        f'"flows" array, got {kind}'
    )


def test_item_not_an_object() -> None:
    assert str(_error([TAB, "oops"])) == "item 1 of flows.json is not a node object (got string)"


def test_node_without_id() -> None:
    exc = _error([TAB, {"type": "function", "z": "t1", "x": 1, "y": 1}])
    assert str(exc) == "node at index 1 (function, tab 'Main') has no id in flows.json"
    assert (exc.node_type, exc.tab, exc.path) == ("function", "Main", "flows.json")


def test_node_with_numeric_id() -> None:
    assert str(_error([TAB, _node(7)])) == (  # type: ignore[arg-type]
        "node at index 1 (function, tab 'Main') has an id that is not a string (7) in flows.json"
    )


def test_node_without_type() -> None:
    exc = _error([TAB, {"id": "a", "z": "t1"}])
    assert str(exc) == "node 'a' (tab 'Main') has no type in flows.json"
    assert exc.node_id == "a"


def test_duplicate_ids() -> None:
    exc = _error(
        [TAB, _node("a"), {"id": "t2", "type": "tab", "label": "B"}, _node("a", "inject", z="t2")]
    )
    assert str(exc) == (
        "duplicate node id 'a' (function, tab 'Main' and inject, tab 'B') in flows.json"
    )
    assert (exc.node_id, exc.node_type, exc.tab) == ("a", "inject", "B")


def test_malformed_wires() -> None:
    assert str(_error([TAB, _node("a", wires=["b"])])) == (
        "node 'a' (function, tab 'Main') has malformed wires (expected a list of lists of node "
        "ids) in flows.json"
    )


def test_unknown_subflow() -> None:
    exc = _error([TAB, _node("i1", "subflow:sf9")])
    assert str(exc) == (
        "subflow instance 'i1' (subflow:sf9, tab 'Main') uses unknown subflow 'sf9' in flows.json"
    )
    assert (exc.node_id, exc.node_type, exc.tab) == ("i1", "subflow:sf9", "Main")


def test_subflow_containing_itself() -> None:
    data = [
        {"id": "A", "type": "subflow", "name": "Alpha", "in": [], "out": []},
        {"id": "B", "type": "subflow", "name": "Beta", "in": [], "out": []},
        {"id": "ia", "type": "subflow:B", "z": "A", "x": 1, "y": 1, "wires": []},
        {"id": "ib", "type": "subflow:A", "z": "B", "x": 1, "y": 1, "wires": []},
    ]
    assert str(_error(data)) == (
        "subflow 'A' (\"Alpha\") contains itself (instance 'ib' of subflow 'A') in flows.json"
    )


def test_malformed_subflow_port() -> None:
    data = [{"id": "S", "type": "subflow", "name": "S", "in": [{"wires": ["x"]}], "out": []}]
    assert str(_error(data)) == "subflow 'S' (\"S\") has a malformed in port in flows.json"


def test_missing_target_warns_and_strict_raises(tmp_path: Path) -> None:
    data = [TAB, _node("a", "inject", wires=[["gone", "b"]]), _node("b", "debug")]
    flow = load_flow(data, source="flows.json")
    assert [
        (w.code, w.node_id, w.node_type, w.tab, w.target, w.port, w.path) for w in flow.warnings
    ] == [("unknown-wire-target", "a", "inject", "Main", "gone", 0, "flows.json")]
    assert [(e.source, e.target) for e in flow.edges] == [("a", "b")]
    path = tmp_path / "flows.json"
    path.write_text(json.dumps(data))
    with pytest.raises(UnknownWireTargetError) as info:
        load_flow(path, strict=True)
    assert str(info.value) == (
        f"wire from 'a' (inject, tab 'Main') port 0 targets unknown node 'gone' in {path}"
    )
    assert (info.value.node_id, info.value.tab, info.value.path) == ("a", "Main", str(path))
    assert info.value.exit_code == 2


def test_strict_ignores_other_warnings() -> None:
    data = [TAB, _node("c", "link call", links=[], linkType="dynamic")]
    flow = load_flow(data, strict=True)
    assert [w.code for w in flow.warnings] == ["dynamic-link-call"]
