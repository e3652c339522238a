"""The graph matches what really runs: every hop a real Node-RED delivers is an edge of our DAG.

A test-only runtime plugin (tests/fixtures/hop-recorder) appends every ``postDeliver`` event
(sender runtime id, port, receiver runtime id) and every ``onReceive`` (with the source of a
catch/status/complete event and the link call on top of ``msg._linkSource``) to a file.

Tab Main/Other: a nested subflow instance with a junction and a status output, a link out to a
link in on another tab, a link call with a return link out, and a junction. Tab Errors: a
subflow whose node sets a status and throws, a function that throws, catch nodes scoped on the
instance / on everything / ``uncaught``, a status node and a complete node. One message each;
the sends must be exactly the ones our IR predicts, with the same runtime ids, and every event
delivery an edge of its kind.
"""

from __future__ import annotations

import json
import time
from collections import deque
from pathlib import Path
from typing import Any

import pytest

from nodered_causal.flows import WIRE_KINDS, load_flow, to_causal_dag

pytestmark = pytest.mark.integration

RECORDER = Path(__file__).resolve().parent.parent / "fixtures" / "hop-recorder"

FLOW: list[dict[str, Any]] = [
    {
        "id": "sfS",
        "type": "subflow",
        "name": "Bump",
        "info": "",
        "env": [],
        "in": [{"x": 40, "y": 40, "wires": [{"id": "sf_f"}]}],
        "out": [{"x": 400, "y": 40, "wires": [{"id": "sf_j", "port": 0}]}],
        "status": {"x": 400, "y": 120, "wires": [{"id": "sf_f", "port": 0}]},
    },
    {
        "id": "sf_f",
        "type": "function",
        "z": "sfS",
        "name": "bump",
        "outputs": 1,
        "func": "msg.payload = msg.payload + 1;\nreturn msg;",
        "x": 160,
        "y": 40,
        "wires": [["sf_j"]],
    },
    {"id": "sf_j", "type": "junction", "z": "sfS", "x": 280, "y": 40, "wires": [[]]},
    {
        "id": "sfN",
        "type": "subflow",
        "name": "Wrap",
        "info": "",
        "env": [],
        "in": [{"x": 40, "y": 40, "wires": [{"id": "n_inst"}]}],
        "out": [{"x": 400, "y": 40, "wires": [{"id": "n_inst", "port": 0}]}],
    },
    {"id": "n_inst", "type": "subflow:sfS", "z": "sfN", "x": 200, "y": 40, "wires": [[]]},
    {"id": "tMain", "type": "tab", "label": "Main", "disabled": False, "info": ""},
    {"id": "tOther", "type": "tab", "label": "Other", "disabled": False, "info": ""},
    {
        "id": "inj",
        "type": "inject",
        "z": "tMain",
        "name": "go",
        "props": [{"p": "payload"}],
        "repeat": "",
        "once": False,
        "topic": "",
        "payload": "1",
        "payloadType": "num",
        "x": 100,
        "y": 40,
        "wires": [["nest"]],
    },
    {"id": "nest", "type": "subflow:sfN", "z": "tMain", "x": 260, "y": 40, "wires": [["lo"]]},
    {
        "id": "lo",
        "type": "link out",
        "z": "tMain",
        "name": "to other",
        "mode": "link",
        "links": ["li"],
        "x": 420,
        "y": 40,
        "wires": [],
    },
    {
        "id": "li",
        "type": "link in",
        "z": "tOther",
        "name": "from main",
        "links": ["lo"],
        "x": 100,
        "y": 40,
        "wires": [["call"]],
    },
    {
        "id": "call",
        "type": "link call",
        "z": "tOther",
        "name": "",
        "links": ["rin"],
        "linkType": "static",
        "timeout": "5",
        "x": 240,
        "y": 40,
        "wires": [["j"]],
    },
    {"id": "j", "type": "junction", "z": "tOther", "x": 360, "y": 40, "wires": [["dbg"]]},
    {
        "id": "dbg",
        "type": "debug",
        "z": "tOther",
        "name": "end",
        "active": True,
        "tosidebar": False,
        "console": False,
        "tostatus": False,
        "complete": "payload",
        "targetType": "msg",
        "x": 480,
        "y": 40,
        "wires": [],
    },
    {
        "id": "rin",
        "type": "link in",
        "z": "tOther",
        "name": "routine",
        "links": [],
        "x": 100,
        "y": 120,
        "wires": [["ch"]],
    },
    {
        "id": "ch",
        "type": "change",
        "z": "tOther",
        "name": "",
        "rules": [{"t": "set", "p": "topic", "pt": "msg", "to": "called", "tot": "str"}],
        "x": 240,
        "y": 120,
        "wires": [["ret"]],
    },
    {
        "id": "ret",
        "type": "link out",
        "z": "tOther",
        "name": "",
        "mode": "return",
        "links": [],
        "x": 380,
        "y": 120,
        "wires": [],
    },
    {
        "id": "sfE",
        "type": "subflow",
        "name": "Fails",
        "info": "",
        "env": [],
        "in": [{"x": 40, "y": 40, "wires": [{"id": "ef"}]}],
        "out": [],
    },
    {
        "id": "ef",
        "type": "function",
        "z": "sfE",
        "name": "fail",
        "outputs": 1,
        "func": "node.status({text: 'working'});\nthrow new Error('boom');",
        "x": 160,
        "y": 40,
        "wires": [[]],
    },
    {"id": "tErrors", "type": "tab", "label": "Errors", "disabled": False, "info": ""},
    {
        "id": "inj2",
        "type": "inject",
        "z": "tErrors",
        "name": "fail",
        "props": [{"p": "payload"}],
        "repeat": "",
        "once": False,
        "topic": "",
        "payload": "1",
        "payloadType": "num",
        "x": 100,
        "y": 40,
        "wires": [["e_inst", "bad"]],
    },
    {"id": "e_inst", "type": "subflow:sfE", "z": "tErrors", "x": 260, "y": 40, "wires": []},
    {
        "id": "bad",
        "type": "function",
        "z": "tErrors",
        "name": "throws",
        "outputs": 1,
        "func": "throw new Error('top');",
        "x": 260,
        "y": 100,
        "wires": [[]],
    },
    {
        "id": "c_list",
        "type": "catch",
        "z": "tErrors",
        "name": "",
        "scope": ["e_inst"],
        "uncaught": False,
        "x": 100,
        "y": 180,
        "wires": [[]],
    },
    {
        "id": "c_all",
        "type": "catch",
        "z": "tErrors",
        "name": "",
        "scope": None,
        "uncaught": False,
        "x": 100,
        "y": 240,
        "wires": [[]],
    },
    {
        "id": "c_unc",
        "type": "catch",
        "z": "tErrors",
        "name": "",
        "scope": None,
        "uncaught": True,
        "x": 100,
        "y": 300,
        "wires": [[]],
    },
    {
        "id": "st",
        "type": "status",
        "z": "tErrors",
        "name": "",
        "scope": None,
        "x": 300,
        "y": 180,
        "wires": [[]],
    },
    {
        "id": "cmp",
        "type": "complete",
        "z": "tErrors",
        "name": "",
        "scope": ["inj2"],
        "uncaught": False,
        "x": 300,
        "y": 240,
        "wires": [[]],
    },
]
EVENT_KINDS = ("error", "status", "complete")
KIND_OF = {"error": "catch", "status": "status", "complete": "complete"}


def _reachable_sends(flow: Any, start: str) -> set[tuple[str, int | None, str]]:
    """The sends our IR predicts for one message from ``start`` (all edge kinds followed)."""
    out: dict[str, list[Any]] = {}
    for edge in flow.edges:
        out.setdefault(edge.source, []).append(edge)
    seen, queue, sends = {start}, deque([start]), set()
    while queue:
        for edge in out.get(queue.popleft(), []):
            if edge.kind in WIRE_KINDS:
                sends.add((edge.source, edge.port, edge.target))
            if edge.target not in seen:
                seen.add(edge.target)
                queue.append(edge.target)
    return sends


def _records(path: Path, *, until: set[str], timeout: float = 15.0) -> list[dict[str, Any]]:
    """The recorded events, once every id in ``until`` has received something."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = path.read_text().splitlines() if path.exists() else []
        got = {json.loads(line).get("recv") for line in lines}
        if until <= got:
            time.sleep(0.5)  # let the last deliveries of these messages land
            return [json.loads(line) for line in path.read_text().splitlines()]
        time.sleep(0.05)
    raise AssertionError(f"{until} not all reached within {timeout} s: {path.read_text()}")


def _event_targets(flow: Any, source: str, kind: str) -> set[str]:
    return {e.target for e in flow.edges if e.source == source and e.kind == kind}


@pytest.mark.parametrize("version", ["4", "5"])
def test_every_runtime_hop_is_an_edge(tmp_path: Path, version: str) -> None:
    from nodered_causal.nodered.runtime import LocalNodeRed

    flow = load_flow(FLOW)
    graph = to_causal_dag(flow)
    hop_file = tmp_path / "hops.jsonl"
    with LocalNodeRed(
        version, flows=FLOW, plugins=[RECORDER], env={"NRC_HOP_FILE": str(hop_file)}
    ) as nr:
        nr.client.inject("inj")
        nr.client.inject("inj2")
        records = _records(hop_file, until={"dbg", "c_all", "cmp", "st"})
        log = nr.log_text()
    hops = {tuple(r["hop"]) for r in records if "hop" in r}
    for src, port, dst in hops:
        assert graph.has_edge(src, dst), (
            f"runtime hop {src}:{port} -> {dst} is not in the DAG\n{log}"
        )
        assert port in graph.edges[src, dst]["ports"]
    # we predict no send that did not happen: the same sets, with the same runtime ids
    assert hops == _reachable_sends(flow, "inj") | _reachable_sends(flow, "inj2")
    assert ("nest-n_inst-sf_j", 0, "lo") in hops  # nested subflow output continues outside
    assert ("nest-n_inst-sf_f", 0, "nest-n_inst:status") in hops  # the subflow status output
    assert ("call", 0, "j") in hops  # the link call sends on after the return

    events: dict[tuple[str, str], set[str]] = {}
    for r in records:
        node = flow.node_by_id.get(r.get("recv", ""))
        if node is None:
            continue
        if node.type == "link in" and r["call"]:
            assert graph.edges[r["call"], node.id]["kind"] == "link-call"
            events.setdefault((r["call"], "link-call"), set()).add(node.id)
        for key in EVENT_KINDS:
            if node.type == KIND_OF[key] and r[key]:
                assert graph.has_edge(r[key], node.id), (r, log)
                assert KIND_OF[key] in graph.edges[r[key], node.id]["kinds"]
                events.setdefault((r[key], KIND_OF[key]), set()).add(node.id)
    # the runtime's choices, exactly: the instance's error reaches the catch scoped on the
    # instance and the catch-all, not the 'uncaught' one; the status leaves the subflow
    assert events[("e_inst-ef", "catch")] == {"c_list", "c_all"}
    assert events[("bad", "catch")] == {"c_all"}
    assert events[("e_inst-ef", "status")] == {"st"}
    assert events[("inj2", "complete")] == {"cmp"}
    assert events[("call", "link-call")] == {"rin"}
    for (source, kind), targets in events.items():
        if source in ("e_inst-ef", "bad", "inj2"):
            assert _event_targets(flow, source, kind) == targets
