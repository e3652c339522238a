"""A sampling tap in a real Node-RED: whole traces of a quarter of the messages, exact counts."""

from __future__ import annotations

import copy
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from nodered_causal.collector import Store, flow_snapshot, record
from nodered_causal.nodered import LocalNodeRed
from nodered_causal.nodered.runtime import PLUGIN_DIR
from tests.mqtt_helpers import free_port

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def test_sampled_traces_are_whole_and_counts_are_exact(tmp_path: Path, mqtt_prefix: str) -> None:
    nodes: list[dict[str, Any]] = json.loads((REPO / "flows" / "sensor-pipeline.json").read_text())
    nodes = copy.deepcopy(nodes)
    for node in nodes:
        if node["id"] == "src_tick":
            node["repeat"] = "0.01"
    port = free_port()
    settings = {
        "causalTap": {
            "instance": mqtt_prefix,
            "transport": "http",
            "url": f"http://127.0.0.1:{port}",
            "flushMs": 50,
            "statsMs": 250,
            "sample": 0.25,
        }
    }
    with (
        Store(tmp_path / "runs.db") as store,
        LocalNodeRed("4", flows=nodes, plugins=[PLUGIN_DIR], settings=settings) as nr,
    ):
        result = record(
            store, "s", seconds=4, http=("127.0.0.1", port), snapshot=flow_snapshot(nr.url)
        )
        cols = store.record_columns("s", kinds=("deliver", "counts"))
    assert result.ok, result.problems  # the seqs of a sampling tap have no gaps
    rows = [dict(zip(cols, v, strict=True)) for v in zip(*cols.values(), strict=True)]
    delivers = [r for r in rows if r["kind"] == "deliver"]
    counted: Counter[tuple[str, str]] = Counter()
    for r in rows:
        if r["kind"] == "counts":
            assert r["counts"]["sample"] == 0.25
            for src, _port, dst, n in r["counts"]["wires"]:
                counted[(src, dst)] += n
    recorded = Counter((r["src"], r["dst"]) for r in delivers)
    roots = counted[("src_tick", "read_sensor")]
    assert roots > 150  # ~100 messages/s for 4 s (a loaded machine fires fewer)
    share = recorded[("src_tick", "read_sensor")] / roots
    assert 0.1 < share < 0.45, share
    for wire, n in recorded.items():  # a sample of what was counted
        assert n <= counted[wire], wire
    # whole traces: every recorded delivery's parent is recorded, each trace reaches the sink
    by_seq = {r["seq"]: r for r in delivers}
    traces: dict[int, list[dict[str, Any]]] = {}
    for r in delivers:
        assert r["parent"] is None or r["parent"] in by_seq, r
        traces.setdefault(r["trace"], []).append(r)
    complete = [t for t in traces.values() if any(r["dst"] == "sink" for r in t)]
    assert len(complete) >= 0.9 * len(traces)  # the last ones may still be on their way
    for t in complete:
        hops = {(r["src"], r["dst"]) for r in t}
        assert {
            ("src_tick", "read_sensor"),
            ("read_sensor", "calibrate"),
            ("comfort", "sink"),
        } <= hops
