"""What differs between the store backends, and what must not: schema checks, migration,
refusing foreign databases, PostgreSQL partitions and concurrent writers, NUL text, retention,
and the same runs / exports / completeness / analysis from both."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from pathlib import Path

import pytest

from nodered_causal.collector import export_run
from nodered_causal.collector.postgres_store import DAY_NS, PostgresStore, redact_url
from nodered_causal.collector.store import (
    SCHEMA_VERSION,
    RecordStore,
    SqliteStore,
    open_store,
)
from nodered_causal.errors import StoreError
from nodered_causal.tap.records import Rejected
from tests.collector_records import T0, rec, stats
from tests.pg_helpers import execute

pg = pytest.mark.integration

# The schema of version 1 (before meta.application), as stores written until 2026-11 have it.
V1_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE runs (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, start_ns INTEGER NOT NULL,
    end_ns INTEGER, flow_rev TEXT, dag_json TEXT, note TEXT);
CREATE TABLE streams (id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL, tap TEXT NOT NULL,
    boot TEXT NOT NULL, UNIQUE (run_id, tap, boot));
CREATE TABLE records (id INTEGER PRIMARY KEY, stream_id INTEGER NOT NULL, run_id INTEGER NOT NULL,
    seq INTEGER NOT NULL, ts_ns INTEGER NOT NULL, kind TEXT NOT NULL, src TEXT, port INTEGER,
    dst TEXT, trace INTEGER, parent INTEGER, latency_ns INTEGER, bytes INTEGER, error TEXT,
    ptype TEXT, plen INTEGER, recorded INTEGER, dropped INTEGER, failed INTEGER, queue INTEGER,
    extra_values TEXT, v1 REAL);
CREATE UNIQUE INDEX records_stream_seq ON records (stream_id, seq);
CREATE INDEX records_run ON records (run_id);
CREATE TABLE value_columns (path TEXT PRIMARY KEY, col TEXT NOT NULL UNIQUE);
CREATE TABLE run_paths (run_id INTEGER NOT NULL, path TEXT NOT NULL,
    PRIMARY KEY (run_id, path)) WITHOUT ROWID;
CREATE TABLE rejected (id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL,
    received_ns INTEGER NOT NULL, reason TEXT NOT NULL, tap TEXT, boot TEXT, seq INTEGER,
    raw TEXT NOT NULL);
INSERT INTO meta VALUES ('schema_version', '1');
INSERT INTO runs VALUES (1, 'old', 10, 20, 'rev-0', NULL, NULL);
INSERT INTO streams VALUES (1, 1, 'tap1', 'b0');
INSERT INTO value_columns VALUES ('payload', 'v1');
INSERT INTO run_paths VALUES (1, 'payload');
INSERT INTO records (stream_id, run_id, seq, ts_ns, kind, src, port, dst, v1)
    VALUES (1, 1, 1, 1000, 'deliver', 'a1', 0, 'b2', 4.5);
"""


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- schema versions -----------------------------------------------------------------------------


def test_a_version_1_sqlite_store_is_migrated_and_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(V1_SCHEMA)
    with SqliteStore(path) as store:
        assert store.schema_version() == SCHEMA_VERSION == 6
        cols = store.record_columns("old")
        assert (cols["seq"], cols["payload"], store.run("old").flow_rev) == ([1], [4.5], "rev-0")
        assert cols["parents"] == [None]
        store.insert("old", [rec(2, values={"payload": 5.0, "payload.new": 1.0})])
        assert store.record_columns("old")["payload.new"] == [None, 1.0]
    with sqlite3.connect(path) as conn:
        indexes = {n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        meta = dict(conn.execute("SELECT key, value FROM meta"))
    assert "records_run_kind_ts" in indexes and "records_run" not in indexes
    assert meta == {"schema_version": "6", "application": "nodered-causal"}


def test_a_version_2_store_gets_the_parents_and_counts_columns(store_location: str) -> None:
    with open_store(store_location) as store:
        store.start_run("r")
        store.insert("r", [rec(1)])
    back_to_2 = (  # a store of schema 2 had neither column
        "ALTER TABLE records DROP COLUMN parents",
        "ALTER TABLE records DROP COLUMN values_cut",
        "ALTER TABLE records DROP COLUMN counts",
        "UPDATE meta SET value = '2' WHERE key = 'schema_version'",
    )
    for statement in back_to_2:
        if store_location.startswith("postgresql"):
            execute(store_location, statement)
        else:
            with sqlite3.connect(store_location) as conn:
                conn.execute(statement)
    with open_store(store_location) as store:
        assert store.schema_version() == 6
        store.insert("r", [rec(2, parents=[1])])
        assert store.record_columns("r")["parents"] == [None, [1]]


def test_a_foreign_sqlite_database_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO users VALUES (1, 'ada')")
    before = _digest(path)
    with pytest.raises(
        StoreError, match=r"app\.db is not a nodered-causal record store \(it has tables users\)"
    ):
        SqliteStore(path)
    assert _digest(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.db"]  # no -wal / -shm files


@pg
def test_a_foreign_postgres_schema_is_refused_untouched(pg_url: str) -> None:
    execute(pg_url, "CREATE TABLE orders (id int PRIMARY KEY)")
    with pytest.raises(StoreError, match=r"is not a nodered-causal record store .*tables orders"):
        PostgresStore(pg_url)
    tables = execute(pg_url, "SELECT tablename FROM pg_tables WHERE schemaname=current_schema()")
    assert tables == [("orders",)]


def test_a_store_from_a_newer_version_is_refused(store_location: str) -> None:
    with open_store(store_location) as store:
        store.start_run("r")
    if store_location.startswith("postgresql"):
        execute(store_location, "UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    else:
        with sqlite3.connect(store_location) as conn:
            conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="has schema version 99, newer than this nodered-causal"):
        open_store(store_location)


@pg
def test_create_false_needs_an_existing_store_and_credentials_stay_hidden(pg_url: str) -> None:
    with pytest.raises(StoreError, match=r"no record store at postgresql://127\.0\.0\.1:5432/"):
        PostgresStore(pg_url, create=False)
    with pytest.raises(StoreError) as info:
        open_store("postgresql://nrc:s3cret@127.0.0.1:1/nowhere")
    assert "s3cret" not in str(info.value) and "nrc:" not in str(info.value)
    assert str(info.value).startswith("cannot connect to record store postgresql://127.0.0.1:1/")
    assert redact_url("postgresql://u:p@db.example:6543/runs?sslmode=require") == (
        "postgresql://db.example:6543/runs"
    )


# -- PostgreSQL: partitions, concurrent writers --------------------------------------------------


@pg
def test_records_go_to_one_partition_per_day_and_retention_drops_whole_days(pg_url: str) -> None:
    with PostgresStore(pg_url) as store:
        store.start_run("r")
        day0 = (T0 // DAY_NS) * DAY_NS
        store.insert("r", [rec(1, ts_ns=day0 + 5), rec(2, ts_ns=day0 + DAY_NS + 5)])
        store.insert("r", [rec(3, ts_ns=day0 + 2 * DAY_NS + 7)])
        assert store.partitions() == ["records_20231114", "records_20231115", "records_20231116"]
        sliced = store.record_columns("r", since_ns=day0 + DAY_NS, until_ns=day0 + 2 * DAY_NS)
        assert sliced["seq"] == [2]
        assert store.drop_partitions_before(day0 + DAY_NS + 6) == 1  # day 1 is cut: it stays
        assert store.partitions() == ["records_20231115", "records_20231116"]
        assert store.record_columns("r")["seq"] == [2, 3]
        plan = execute(
            pg_url,
            "EXPLAIN SELECT seq FROM records WHERE run_id = 1 AND kind = 'deliver' "
            f"AND ts_ns >= {day0 + 2 * DAY_NS} AND ts_ns < {day0 + 3 * DAY_NS}",
        )
        text = "\n".join(str(row[0]) for row in plan)
        assert "records_20231116" in text and "records_20231115" not in text  # pruned


@pg
def test_concurrent_writers_store_every_record_once(pg_url: str) -> None:
    """Two collectors' stores append overlapping batches (redeliveries) into one run."""
    stores = [PostgresStore(pg_url) for _ in range(2)]
    stores[0].start_run("shared")
    stores[1].start_run("shared", resume=True)
    results: list[tuple[int, int]] = []
    lock = threading.Lock()

    def write(store: PostgresStore, offset: int) -> None:
        for start in range(1 + offset, 400, 40):  # overlapping windows of 60 seqs
            values = {"payload": 1.0, f"payload.f{start % 3}": 2.0}
            batch = [rec(s, values=values) for s in range(start, min(start + 60, 400))]
            r = store.insert("shared", batch)
            with lock:
                results.append((r.inserted, r.duplicates))

    threads = [threading.Thread(target=write, args=(s, i * 20)) for i, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    cols = stores[0].record_columns("shared")
    assert sorted(cols["seq"]) == list(range(1, 400))
    assert sum(i for i, _ in results) == 399
    assert sum(d for _, d in results) > 0  # the redeliveries went through the fallback
    (c,) = stores[1].completeness("shared")
    assert (c.received, c.gaps) == (399, 0)
    assert {"payload.f0", "payload.f1", "payload.f2"} <= set(cols)
    for s in stores:
        s.close()


# -- both backends -------------------------------------------------------------------------------


def test_nul_characters_in_text_are_kept(store: RecordStore) -> None:
    store.start_run("r")
    store.insert(
        "r",
        [rec(1, kind="error", dst=None, error="bad\x00byte")],
        [Rejected("why\x00", "raw\x00text", "tap1", "b0", 2)],
    )
    (error,) = store.record_columns("r")["error"]
    (row,) = store.rejected("r")
    assert error in ("bad\x00byte", "bad\\u0000byte")  # PostgreSQL text cannot hold NUL
    assert row.raw in ("raw\x00text", "raw\\u0000text") and row.seq == 2


def test_columns_of_every_run_and_of_some_taps(store: RecordStore) -> None:
    store.start_run("a")
    store.start_run("b")
    store.insert("a", [rec(1, tap="x"), rec(1, tap="y", values={"payload.y": 1.0})])
    store.insert("b", [rec(1, tap="z"), stats(2, tap="z")])
    everything = store.record_columns(None)
    assert list(zip(everything["tap"], everything["seq"], strict=True)) == [
        ("x", 1),
        ("y", 1),
        ("z", 1),
    ]
    assert everything["payload.y"] == [None, 1.0, None]
    only_y = store.record_columns("a", taps={"y"})
    assert (only_y["tap"], only_y["payload.y"]) == (["y"], [1.0])
    assert store.record_columns("a", taps={"nobody"})["seq"] == []


@pg
def test_both_backends_give_the_same_runs_exports_completeness_and_analysis(
    tmp_path: Path, pg_url: str
) -> None:
    import networkx as nx

    from nodered_causal.analysis import AttributionConfig, attribute_shift
    from nodered_causal.analysis.synthetic import Fault, simulate_records, to_records

    dag = nx.DiGraph([("src", "mid"), ("mid", "out"), ("src", "side")])
    base = to_records(simulate_records(dag, n_windows=60, seed=1, tap="line-1"))
    inc = to_records(
        simulate_records(dag, n_windows=60, seed=2, tap="line-1", fault=Fault("mid", "bias", 3))
    )
    del base[100:103]  # a gap: the same completeness report on both
    outputs = []
    for location in (str(tmp_path / "runs.db"), pg_url):
        with open_store(location) as store:
            for name, records in (("base", base), ("inc", inc)):
                store.start_run(name, start_ns=1, dag=nx.node_link_data(dag, edges="edges"))
                for i in range(0, len(records), 250):
                    store.insert(name, records[i : i + 250])
                store.end_run(name, end_ns=2)
            csv = tmp_path / f"{len(outputs)}.csv"
            export_run(store, "base", csv)
            result = attribute_shift(
                dag,
                store.record_columns("base"),
                store.record_columns("inc"),
                "out",
                config=AttributionConfig(seed=0, n_bootstrap=20),
            )
            outputs.append(
                (
                    [r.as_dict() for r in store.runs()],
                    [c.as_dict() for c in store.completeness("base")],
                    store.counts("inc"),
                    store.record_columns("inc", since_ns=base[50]["ts_ns"]),
                    csv.read_bytes(),
                    result.blamed,
                    [(n, round(result.scores[n], 9)) for n in result.ranking],
                )
            )
    sqlite_out, pg_out = outputs
    assert sqlite_out == pg_out
    assert sqlite_out[5] == ("mid",) and sqlite_out[1][0]["gaps"] == 3


def test_counts_records_of_a_sampling_tap_are_kept(store: RecordStore) -> None:
    from nodered_causal.tap.records import parse_batch
    from tests.collector_records import body

    store.start_run("r")
    counts = {
        "v": 1, "tap": "tap1", "boot": "b0", "seq": 2, "ts_ns": T0 + 2000, "kind": "counts",
        "src": None, "since_ns": T0, "sample": 0.1,
        "counts": [["a1", 0, "b2", 40], ["b2", None, "c3", 39]],
    }  # fmt: skip
    bad = {**counts, "seq": 3, "counts": [["a1", 0, "b2", -1]]}
    batch = parse_batch(body([rec(1), counts, bad]))
    assert [r.reason for r in batch.rejected] == [
        'counts entry ["a1", 0, "b2", -1] is not [src, port, dst, n]'
    ]
    store.insert("r", batch.records, batch.rejected)
    cols = store.record_columns("r", kinds=("counts",))
    assert (cols["seq"], cols["counts"]) == (
        [2],
        [{"since_ns": T0, "sample": 0.1, "wires": [["a1", 0, "b2", 40], ["b2", None, "c3", 39]]}],
    )
    assert "counts" not in store.record_columns("r")  # only asked for
    (c,) = store.completeness("r")
    assert (c.received, c.rejected, c.gaps) == (2, 1, 0)
    assert store.counts("r")["counts"] == 1
