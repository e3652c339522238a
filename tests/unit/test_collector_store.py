from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from nodered_causal.collector import sql_store
from nodered_causal.collector.store import RECORD_KEYS, RecordStore, Store
from nodered_causal.errors import StoreError
from nodered_causal.tap.records import Rejected, parse_batch
from tests.collector_records import T0, body, rec, stats


def test_runs_carry_rev_dag_and_taps(store: RecordStore) -> None:
    dag = {
        "directed": True,
        "nodes": [{"id": "a1"}, {"id": "b2"}],
        "edges": [{"source": "a1", "target": "b2"}],
    }
    store.start_run("base", flow_rev="rev-1", dag=dag, start_ns=10)
    store.insert("base", [rec(1, tap="x"), rec(1, tap="y")])
    run = store.end_run("base", end_ns=20)
    assert (run.name, run.start_ns, run.end_ns, run.flow_rev, run.dag, run.taps) == (
        "base",
        10,
        20,
        "rev-1",
        dag,
        ("x", "y"),
    )
    assert [r.name for r in store.runs()] == ["base"]


def test_run_names_are_unique_unless_resumed(store: RecordStore) -> None:
    store.start_run("r")
    with pytest.raises(StoreError, match=r"run 'r' already exists in .* \(still open\)"):
        store.start_run("r")
    store.end_run("r")
    resumed = store.start_run("r", resume=True, flow_rev="2")
    assert (resumed.end_ns, resumed.flow_rev) == (None, "2")


def test_unknown_run_lists_the_known_ones(store: RecordStore) -> None:
    store.start_run("one")
    with pytest.raises(StoreError, match=r"no run 'two' in .* \(runs: 'one'\)"):
        store.record_columns("two")


def test_record_columns_contract(store: RecordStore) -> None:
    store.start_run("r")
    records = [
        rec(1, values={"payload": 1.5}),
        rec(2, values={"payload.a": 2.0, "payload.b[0]": True}),
        rec(3, kind="error", dst=None, error="boom", values={}),
        rec(4, payload=None),
        stats(5),
    ]
    result = store.insert("r", records)
    assert (result.inserted, result.duplicates) == (5, 0)
    cols = store.record_columns("r")
    assert list(cols) == [*RECORD_KEYS, "payload", "payload.a", "payload.b[0]"]
    assert cols["seq"] == [1, 2, 3, 4]
    assert cols["kind"] == ["deliver", "deliver", "error", "deliver"]
    assert cols["error"] == [None, None, "boom", None]
    assert cols["payload"] == [1.5, None, None, None]
    assert cols["payload.a"] == [None, 2.0, None, None]
    assert cols["payload.b[0]"] == [None, 1.0, None, None]
    assert cols["tap"] == ["tap1"] * 4 and cols["ts_ns"][0] == T0 + 1000
    with_stats = store.record_columns("r", kinds=("stats",))
    assert (with_stats["seq"], with_stats["recorded"], with_stats["dropped"]) == ([5], [6], [0])


def test_empty_run_has_all_keys(store: RecordStore) -> None:
    store.start_run("r")
    assert store.record_columns("r") == {k: [] for k in RECORD_KEYS}


def test_unknown_kind_is_an_error(store: RecordStore) -> None:
    store.start_run("r")
    with pytest.raises(StoreError, match="unknown record kind"):
        store.record_columns("r", kinds=("send",))


def test_redelivered_records_are_stored_once(store: RecordStore) -> None:
    store.start_run("r")
    store.insert("r", [rec(1), rec(2)])
    again = store.insert("r", [rec(2), rec(3)])
    assert (again.inserted, again.duplicates) == (1, 1)
    assert store.record_columns("r")["seq"] == [1, 2, 3]


def test_runs_are_separate(store: RecordStore) -> None:
    store.start_run("a")
    store.start_run("b")
    store.insert("a", [rec(1, values={"payload.x": 1.0})])
    store.insert("b", [rec(1, values={"payload.y": 2.0})])
    assert list(store.record_columns("a"))[-1] == "payload.x"
    assert store.record_columns("b")["payload.y"] == [2.0]
    store.delete_run("a")
    assert [r.name for r in store.runs()] == ["b"]


def test_rejected_records_are_kept_with_reason(store: RecordStore) -> None:
    store.start_run("r")
    batch = parse_batch(body([rec(1), rec(2, v=3)]))
    store.insert("r", batch.records, batch.rejected, received_ns=99)
    rows = store.rejected("r")
    assert [(r.reason, r.seq, r.received_ns) for r in rows] == [
        ("unsupported schema version 3 (expected 1)", 2, 99)
    ]
    assert store.counts("r") == {
        "deliver": 1,
        "error": 0,
        "complete": 0,
        "stats": 0,
        "counts": 0,
        "rejected": 1,
        "values_cut": 0,
    }
    # the rejected seq arrived: no gap between 1 and 3
    store.insert("r", [rec(3)])
    (c,) = store.completeness("r")
    assert (c.received, c.rejected, c.gaps) == (2, 1, 0)


def test_completeness_from_the_store(store: RecordStore) -> None:
    store.start_run("r")
    store.insert("r", [rec(0), rec(1), stats(2), rec(5), stats(6, dropped=1), rec(0, boot="b2")])
    report = store.completeness("r")
    assert [
        (c.boot, c.received, c.gaps, c.gap_ranges, c.dropped, c.transport_loss) for c in report
    ] == [
        ("b0", 5, 2, ((3, 4),), 1, 1),
        ("b2", 1, 0, (), 0, 0),
    ]


def test_value_paths_beyond_the_column_cap_go_to_json(
    store: RecordStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sql_store, "MAX_VALUE_COLUMNS", 2)
    store.start_run("r")
    store.insert(
        "r",
        [rec(1, values={"payload.a": 1.0, "payload.b": 2.0, "payload.c": 3.0}), rec(2, values={})],
    )
    cols = store.record_columns("r")
    assert (cols["payload.a"], cols["payload.b"], cols["payload.c"]) == (
        [1.0, None],
        [2.0, None],
        [3.0, None],
    )


def test_open_existing_only(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no record store at"):
        Store(tmp_path / "missing.db", create=False)


def test_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="cannot open record store"):
        Store(path)


def test_wal_mode_and_readable_by_another_process_while_writing(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    with Store(path) as writer:
        writer.start_run("live")
        writer.insert("live", [rec(i) for i in range(50)])
        assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone() == ("wal",)
        code = (
            "import sys, json; sys.path.insert(0, sys.argv[2]);"
            "from nodered_causal.collector.store import Store;"
            "s = Store(sys.argv[1], create=False);"
            "print(json.dumps(s.record_columns('live')['seq']))"
        )
        root = str(Path(__file__).resolve().parents[2])
        out = subprocess.run(
            [sys.executable, "-c", code, str(path), root],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        assert json.loads(out.stdout) == list(range(50))
        writer.insert("live", [rec(50)])  # still writable after the reader


def test_values_of_a_rolled_back_batch_do_not_poison_the_cache(store: RecordStore) -> None:
    store.start_run("r")
    bad = rec(1, values={"payload.new": 1.0})
    bad["kind"] = None  # NOT NULL violation inside the transaction
    with pytest.raises(StoreError, match="cannot write to"):
        store.insert("r", [bad])
    store.insert("r", [rec(2, values={"payload.new": 2.0})])
    assert store.record_columns("r")["payload.new"] == [2.0]


def test_rejected_objects_roundtrip(store: RecordStore) -> None:
    store.start_run("r")
    store.insert("r", [], [Rejected("why", "{}", None, None, None)])
    assert store.rejected("r")[0].reason == "why"


def test_arrival_order_is_kept_across_payload_shapes(store: RecordStore) -> None:
    store.start_run("r")
    shapes = [{"payload": 1.0}, {}, {"payload.a": 2.0}, {"payload": 3.0, "payload.a": 4.0}, {}]
    store.insert("r", [rec(10 - i, values=v) for i, v in enumerate(shapes)])
    cols = store.record_columns("r")
    assert cols["seq"] == [10, 9, 8, 7, 6]
    assert (cols["payload"], cols["payload.a"]) == (
        [1.0, None, None, 3.0, None],
        [None, None, 2.0, 4.0, None],
    )


def test_public_api_is_exported() -> None:
    import nodered_causal.collector as collector
    import nodered_causal.tap as tap

    for module in (collector, tap):
        assert [n for n in module.__all__ if not hasattr(module, n)] == []
    assert isinstance(Store, type) and "record_columns" in dir(collector.RecordStore)


def test_time_slices_of_a_run(store: RecordStore) -> None:
    store.start_run("r")
    store.insert("r", [rec(i) for i in range(1, 6)])  # ts_ns = T0 + seq * 1000
    cols = store.record_columns("r", since_ns=T0 + 2000, until_ns=T0 + 4000)
    assert cols["seq"] == [2, 3]
    assert store.record_columns("r", since_ns=T0 + 5000)["seq"] == [5]


def test_parents_round_trip(store: RecordStore) -> None:
    store.start_run("r")
    store.insert("r", [rec(1), rec(2, parents=[1, 7, 2**63 - 1]), rec(3, parents=None)])
    assert store.record_columns("r")["parents"] == [None, [1, 7, 2**63 - 1], None]
