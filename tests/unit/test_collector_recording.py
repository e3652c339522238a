"""record(): one named run over HTTP with a fabricated flow snapshot (no Node-RED needed)."""

from __future__ import annotations

from pathlib import Path

import requests

from nodered_causal.collector import Collector, FlowSnapshot, Store, record
from tests.collector_records import body, rec, stats

SNAPSHOT = FlowSnapshot(
    rev="rev-7",
    dag={
        "directed": True,
        "nodes": [{"id": "a1"}, {"id": "b2"}],
        "edges": [{"source": "a1", "target": "b2"}],
    },
    node_ids=frozenset({"a1", "b2"}),
)


def _post(records: list[dict[str, object]]):  # type: ignore[no-untyped-def]
    def start(collector: Collector) -> None:
        assert collector.http is not None
        requests.post(collector.http.url, data=body(records), timeout=10).raise_for_status()

    return start


def test_a_complete_recording(tmp_path: Path) -> None:
    ticks: list[int] = []
    with Store(tmp_path / "runs.db") as store:
        result = record(
            store,
            "base",
            seconds=0.3,
            grace=0.1,
            http=("127.0.0.1", 0),
            snapshot=SNAPSHOT,
            on_started=_post([rec(0), rec(1), stats(2), rec(3, src="elsewhere")]),
            progress=lambda elapsed, counts: ticks.append(counts.records),
            progress_every=0.1,
        )
        assert result.ok, result.problems
        assert (result.run.flow_rev, result.run.dag, result.run.end_ns is not None) == (
            "rev-7",
            SNAPSHOT.dag,
            True,
        )
        assert result.counts == {
            "deliver": 2,
            "error": 0,
            "complete": 0,
            "stats": 1,
            "counts": 0,
            "rejected": 1,
            "values_cut": 0,
        }
        (c,) = result.completeness
        assert (c.received, c.rejected, c.gaps, c.lost) == (3, 1, 0, 0)
        assert ticks and ticks[-1] == 3
        assert (
            store.rejected("base")[0].reason
            == "unknown node id 'elsewhere' (src) for this run's flow"
        )
        assert result.as_dict()["ok"] is True


def test_loss_and_silence_are_problems(tmp_path: Path) -> None:
    with Store(tmp_path / "runs.db") as store:
        lossy = record(
            store,
            "lossy",
            seconds=0.2,
            grace=0,
            http=("127.0.0.1", 0),
            on_started=_post([rec(1), rec(5), stats(6, dropped=1)]),
        )
        assert not lossy.ok
        assert lossy.problems == [
            "tap 'tap1' boot b0: 3 records missing (seq gaps), 1 dropped by the tap, "
            "2 lost in transport"
        ]
        assert lossy.lost == 3
        silent = record(store, "silent", seconds=0.2, grace=0, http=("127.0.0.1", 0))
        assert silent.problems == [
            "no records arrived (is the tap running and shipping to this collector?)"
        ]
