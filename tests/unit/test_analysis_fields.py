"""A node's value is often an object: one variable per payload leaf (``fields="all"``)."""

from __future__ import annotations

from typing import Any

import networkx as nx
import numpy as np
import pytest

from nodered_causal.analysis import AttributionConfig, attribute_shift, datasets
from nodered_causal.experiment.live import fault_field

T0 = 1_700_000_000_000_000_000
TICK = 40_000_000  # 25 messages/s

#  A ──a──┐
#         join {a, b} ── score (a + 2 b) ── sink
#  B ──b──┘
DAG = nx.DiGraph([("A", "join"), ("B", "join"), ("join", "score"), ("score", "sink")])


def _bottles(
    seed: int, n: int = 500, *, bias_b: float = 0.0, bias_join_b: float = 0.0
) -> dict[str, list[Any]]:
    rng = np.random.default_rng(seed)
    cols: dict[str, list[Any]] = {
        k: []
        for k in ("seq", "ts_ns", "kind", "src", "port", "dst", "payload", "payload.a",
                  "payload.b", "payload.score", "payload.c")
    }  # fmt: skip

    def send(src: str, dst: str, ts: int, **leaves: float) -> None:
        cols["seq"].append(len(cols["seq"]) + 1)
        cols["ts_ns"].append(ts)
        cols["kind"].append("deliver")
        cols["src"].append(src)
        cols["port"].append(0)
        cols["dst"].append(dst)
        for key in ("payload", "payload.a", "payload.b", "payload.score", "payload.c"):
            cols[key].append(leaves.get(key.replace("payload.", "") if "." in key else "value"))

    for i in range(n):
        ts = T0 + i * TICK
        a = 10 + rng.normal()
        b = 5 + rng.normal() + bias_b
        send("A", "join", ts, value=a)
        send("B", "join", ts + 1000, value=b)
        jb = b + bias_join_b
        send("join", "score", ts + 2000, a=a, b=jb)
        score = a + 2 * jb + 0.1 * rng.normal()
        # c: a constant leaf of score's messages (left out by the analysis, with a note)
        send("score", "sink", ts + 3000, score=score, c=1.0)
    return cols


def test_value_fields_keeps_common_plain_leaves_up_to_the_cap() -> None:
    cols: dict[str, list[Any]] = {
        "ts_ns": [T0 + i for i in range(4)],
        "kind": ["deliver"] * 4,
        "src": ["n", "n", "n", "m"],
        "dst": ["s", "s", "s", "s"],
        "payload.x": [1.0, 2.0, 3.0, None],
        "payload.rare": [1.0, None, None, None],  # in 1 of n's 3 messages: not a variable
        "payload.lines[0].qty": [1.0, 1.0, 2.0, 4.0],  # array leaf: only if nothing else
        "payload.y": [4.0, 5.0, 6.0, None],
        "payload.z": [7.0, 8.0, 9.0, None],
    }
    assert datasets.value_fields(cols) == {
        "n": ["payload.x", "payload.y", "payload.z"],
        "m": ["payload.lines[0].qty"],
        "s": ["payload.x", "payload.y", "payload.z"],  # a sink: what it received (3 of 4)
    }
    assert datasets.value_fields(cols, max_fields=2)["n"] == ["payload.x", "payload.y"]


def test_windowed_adds_one_value_column_per_leaf() -> None:
    cols = _bottles(1, n=100)
    frame = datasets.windowed(cols, window_s=1.0, variables=datasets.value_fields(cols))
    value = datasets.metric_frame(frame, "value")
    assert {"join::payload.a", "join::payload.b", "score::payload.score"} <= set(value.columns)
    # the variable is the window mean of that leaf over the node's messages
    first = np.array(cols["payload.b"][2:100:4], dtype=float)  # join's messages, window 0
    assert value["join::payload.b"].iloc[0] == pytest.approx(first.mean())
    # the node's own column stays its default leaf; rates have no per-leaf columns
    assert value["join"].iloc[0] == pytest.approx(np.array(cols["payload.a"][2:100:4]).mean())
    assert not any("::" in c for c in datasets.metric_frame(frame, "throughput").columns)


@pytest.mark.parametrize("fields", ["all", "one"])
def test_a_fault_on_a_second_leaf_is_found_only_with_all_fields(fields: str) -> None:
    cfg = AttributionConfig(window_s=0.5, fields=fields, n_bootstrap=20)  # type: ignore[arg-type]
    base, incident = _bottles(1), _bottles(2, bias_b=1.0)
    attr = attribute_shift(DAG, base, incident, "score", metric="value", config=cfg)
    if fields == "all":
        assert attr.blamed == ("B",)
        assert attr.ranking[0] == "B"
        assert attr.dataset_sizes["variables"] > attr.dataset_sizes["nodes"] == 4
        assert set(attr.scores) == {"A", "B", "join", "score"}  # nodes, never variables
        assert any("score::payload.c" in n and "constant" in n for n in attr.notes)
    else:
        # join's value is payload.a, so b's change cannot reach the score through the graph
        assert "B" not in attr.blamed
        assert "variables" not in attr.dataset_sizes


def test_a_fault_inside_the_join_is_blamed_on_the_join() -> None:
    cfg = AttributionConfig(window_s=0.5, n_bootstrap=20)
    attr = attribute_shift(DAG, _bottles(3), _bottles(4, bias_join_b=1.0), "score", config=cfg)
    assert attr.blamed == ("join",)


def test_no_change_blames_nothing_with_all_fields() -> None:
    cfg = AttributionConfig(window_s=0.5, n_bootstrap=20)
    for seed in range(5):
        attr = attribute_shift(DAG, _bottles(10 + seed), _bottles(20 + seed), "score", config=cfg)
        assert attr.blamed == (), (seed, attr.blamed, attr.p_values)


def test_fault_field_picks_the_leaf_the_target_reads() -> None:
    # score = a + 2 b: b moves the score more than a does
    assert fault_field(_bottles(5), "join", "score") == "payload.b"
    assert fault_field(_bottles(5), "A", "score") == "payload"  # one leaf: itself


def test_a_leaf_keeps_only_the_parent_leaves_it_follows() -> None:
    import pandas as pd

    from nodered_causal.analysis.prepare import prune_parents as _prune_parents

    rng = np.random.default_rng(7)
    parents = {f"P::payload.x{i}": rng.normal(size=40) for i in range(6)}
    child = 2 * parents["P::payload.x4"] - parents["P::payload.x1"] + 0.1 * rng.normal(size=40)
    frame = pd.DataFrame({**parents, "C::payload.y": child, "D": rng.normal(size=40)})
    graph = nx.DiGraph([(p, v) for p in parents for v in ("C::payload.y", "D")])
    owner = {**{p: "P" for p in parents}, "C::payload.y": "C"}
    pruned = _prune_parents(graph, frame, owner)
    assert set(pruned.predecessors("C::payload.y")) == {"P::payload.x4", "P::payload.x1"}
    # D is a plain node but its parents are leaves: D follows none of them, it becomes a root
    assert set(pruned.predecessors("D")) == set()


def test_off_wire_deliveries_count_only_for_nodes_without_wires() -> None:
    # a link call: its call into the link in (port null) carries the message before the call,
    # its wired send the message after the return; the link out (return mode) sends off-wire only
    rows = [
        ("call", None, "lin", 1.0),
        ("ret", None, "call", 5.0),
        ("call", 0, "next", 5.0),
    ]
    cols = {
        "ts_ns": [T0 + i for i in range(3)],
        "kind": ["deliver"] * 3,
        "src": [r[0] for r in rows],
        "port": [r[1] for r in rows],
        "dst": [r[2] for r in rows],
        "payload": [r[3] for r in rows],
    }
    value = datasets.metric_frame(datasets.windowed(cols), "value")
    thr = datasets.metric_frame(datasets.windowed(cols), "throughput")
    assert value["call"].tolist() == [5.0] and thr["call"].tolist() == [1.0]
    assert value["ret"].tolist() == [5.0]


@pytest.mark.parametrize("induced", [True, False])
def test_a_non_linear_child_pushed_out_of_range_is_not_blamed(induced: bool) -> None:
    import pandas as pd

    rng = np.random.default_rng(11)

    def windows(level: float) -> pd.DataFrame:
        p = level + rng.normal(size=40)
        return pd.DataFrame({"P": p, "C": p**2 / 10 + 0.1 * rng.normal(size=40)})

    dag = nx.DiGraph([("P", "C")])
    cfg = AttributionConfig(induced=induced, n_bootstrap=20)
    attr = attribute_shift(dag, windows(10.0), windows(16.0), "C", config=cfg)
    if induced:  # C's inputs left the baseline's range: its linear fit no longer holds there
        assert attr.blamed == ("P",) and attr.changed_mechanisms == ("P",)
    else:
        assert "C" in attr.changed_mechanisms
