"""Every example flow bundled with Node-RED 4 parses; a handful checked edge by edge by hand.

The examples are the real exports of ``@node-red/nodes/examples`` (installed from npm by the
``node_red_examples`` fixture). Most are exports of selected nodes (their tab is not in the file).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import networkx as nx
import pytest

from nodered_causal.flows import load_flow, to_causal_dag

# (path under examples/, expected {kind: count}, expected warning codes), checked against the
# files by hand:
# - link across tabs: inject -> link out (wire); link out -> link in on the 2nd tab (link; its
#   other link 'f5fead9.12cdf5' does not exist: a warning); link in -> debug (wire).
# - link call: inject -> call, link in -> change, change -> return link out, call -> debug
#   (wire); call -> link in (link-call); return -> call (link-return).
# - catch: inject -> function, catch -> debug (wire); function -> catch (scope [function]).
# - status: inject -> debug1, status -> debug2 (wire); inject, debug1 -> status (its scope).
# - complete: inject -> debug1, complete -> debug2 (wire); debug1 -> complete (its scope).
HAND_CHECKED = [
    ("common/link/02 - Link across tabs.json", {"wire": 2, "link": 1}, ["unknown-wire-target"]),
    (
        "common/link/03 - Link call.json",
        {"wire": 4, "link-call": 1, "link-return": 1},
        [],
    ),
    ("common/catch/01 - Catch error.json", {"wire": 2, "catch": 1}, []),
    ("common/status/01 - Handle status message output.json", {"wire": 2, "status": 2}, []),
    (
        "common/complete/01 - Handle completion of node execution.json",
        {"wire": 2, "complete": 1},
        [],
    ),
    ("function/function/05 - Handling errors.json", {"wire": 3, "catch": 1}, []),
]


@pytest.fixture(scope="module")
def examples_root(node_red_dir: Path) -> Path:
    return node_red_dir / "node_modules" / "@node-red" / "nodes" / "examples"


def test_every_bundled_example_parses(node_red_examples: list[Path]) -> None:
    assert len(node_red_examples) >= 100
    edges = 0
    for path in node_red_examples:
        flow = load_flow(path)
        graph = to_causal_dag(flow)
        dag = to_causal_dag(flow, condensed=True)
        assert nx.is_directed_acyclic_graph(dag), path
        assert set(graph.nodes) == {n.id for n in flow.nodes if not n.disabled}, path
        edges += graph.number_of_edges()
    assert edges > 150


@pytest.mark.parametrize(("name", "kinds", "codes"), HAND_CHECKED, ids=[h[0] for h in HAND_CHECKED])
def test_hand_checked_examples(
    examples_root: Path, name: str, kinds: dict[str, int], codes: list[str]
) -> None:
    flow = load_flow(examples_root / name)
    assert dict(Counter(e.kind for e in flow.edges)) == kinds
    assert [w.code for w in flow.warnings] == codes


def test_link_call_example_exact_edges(examples_root: Path) -> None:
    flow = load_flow(examples_root / "common/link/03 - Link call.json")
    assert {(e.source, e.target, e.kind) for e in flow.edges} == {
        ("6b61792143b3b0a3", "cd31efb4d2c6967e", "wire"),
        ("cd31efb4d2c6967e", "dbc46892c8d14c37", "link-call"),
        ("dbc46892c8d14c37", "e10575d73f2e5352", "wire"),
        ("e10575d73f2e5352", "cf8438e7137bc0f0", "wire"),
        ("cf8438e7137bc0f0", "cd31efb4d2c6967e", "link-return"),
        ("cd31efb4d2c6967e", "c3db64d1d2260340", "wire"),
    }
    # the runtime graph has the call cycle; the analysis DAG splits the call instead
    assert not nx.is_directed_acyclic_graph(to_causal_dag(flow))
    dag = to_causal_dag(flow, condensed=True)
    assert nx.is_directed_acyclic_graph(dag)
    assert dag.edges["6b61792143b3b0a3", "dbc46892c8d14c37"]["contracted"] == ["cd31efb4d2c6967e"]
