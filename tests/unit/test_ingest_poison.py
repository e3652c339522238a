"""Ingest that cannot be poisoned: each defect of issue 12's ingest half, one test each.

A record the store cannot take is set aside with its reason and acknowledged; the ones behind it
(and beside it, in the same batch) are stored; the writer never dies silently; HTTP body limits
hold while reading; rejected records are never transport loss.
"""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path
from typing import Any

import pytest
import requests

from nodered_causal.collector import HttpIngest, Store, Writer
from nodered_causal.collector.completeness import completeness
from nodered_causal.collector.http import MAX_BODY
from nodered_causal.errors import StoreError
from nodered_causal.tap.records import (
    MAX_BATCH_BYTES,
    MAX_DEPTH,
    MAX_VALUES,
    parse_batch,
    validate_record,
)
from tests.collector_records import body, rec


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "runs.db")
    s.start_run("r")
    yield s
    s.close()


# -- validation: value ranges ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"seq": 10**29}, "seq must be an integer in [0, 2**63)"),
        ({"seq": 2**63}, "seq must be an integer in [0, 2**63)"),
        ({"seq": -1}, "seq must be an integer in [0, 2**63)"),
        ({"ts_ns": 2**63 + 5}, "ts_ns must be an integer in [0, 2**63)"),
        ({"trace": 2**64}, "trace must be a 64-bit integer or null"),
        ({"parent": -(2**63) - 1}, "parent must be a 64-bit integer or null"),
        ({"port": 10**20}, "port must be a 64-bit integer or null"),
        ({"bytes": 2**70}, "bytes must be a 64-bit integer or null"),
        ({"latency_ns": 2**63}, "latency_ns must be a 64-bit integer or null"),
        ({"values": {"x": float("nan")}}, "payload value 'x' is not finite (nan)"),
        ({"values": {"x": float("inf")}}, "payload value 'x' is not finite (inf)"),
        ({"values": {"x": 10**400}}, "payload value 'x' is out of range for a float"),
        ({"tap": "t\ud800"}, "tap is not valid UTF-8 text"),
        ({"src": "a\udfff"}, "src is not valid UTF-8 text"),
        ({"values": {"x\ud800": 1.0}}, "payload value path 'x\\ud800' is not valid UTF-8 text"),
        ({"tap": "t" * 300}, "tap is longer than 256 characters"),
        (
            {"extra": json.loads("[" * 40 + "]" * 40)},
            f"record nested deeper than {MAX_DEPTH} levels",
        ),
    ],
)
def test_out_of_range_values_are_rejected_with_the_reason(
    fields: dict[str, Any], reason: str
) -> None:
    record = rec(7)
    values = fields.pop("values", None)
    record.update(fields)
    if values is not None:
        record["payload"]["values"] = values
    assert validate_record(record) == reason


def test_stats_counters_and_payload_len_are_64_bit() -> None:
    assert validate_record(rec(3, kind="stats", dropped=2**64)) == (
        "stats field dropped must be an integer in [0, 2**63)"
    )
    bad_len = rec(3)
    bad_len["payload"]["len"] = 2**63
    assert validate_record(bad_len) == "payload.len must be a 64-bit integer or null"


def test_a_bad_records_seq_is_kept_only_when_it_is_a_real_seq() -> None:
    batch = parse_batch(body([rec(-4), rec(10**29), rec(5, src="")]))
    assert [(r.seq, r.tap) for r in batch.rejected] == [(None, "tap1"), (None, "tap1"), (5, "tap1")]


def test_deep_nesting_rejects_the_element_not_the_batch() -> None:
    deep = b"[" * 200_000 + b"]" * 200_000
    batch = parse_batch(b"[" + body([rec(1)])[1:-1] + b"," + deep + b"," + body([rec(2)])[1:])
    assert [r["seq"] for r in batch.records] == [1, 2]
    (bad,) = batch.rejected
    assert bad.reason == f"record nested deeper than {MAX_DEPTH} levels"
    assert batch.body_ok
    whole = parse_batch(deep)
    assert (whole.body_ok, whole.records, [r.reason for r in whole.rejected]) == (
        True,
        [],
        [f"record nested deeper than {MAX_DEPTH} levels"],
    )


def test_deep_nesting_inside_a_string_is_just_text() -> None:
    record = rec(1, error="[" * 100_000)
    batch = parse_batch(json.dumps([record, {"deep": "[" * 5 + "]"}]).encode())
    assert [r["seq"] for r in batch.records] == [1]
    assert batch.rejected[0].reason == "missing fields v, tap, boot, seq, ts_ns, kind, src"


def test_leaves_beyond_the_cap_are_cut_and_counted(store: Store) -> None:
    many = {f"leaf{i:04d}": float(i) for i in range(2500)}
    batch = parse_batch(body([rec(1, values=many), rec(2, values={"after": 1.0})]))
    first = batch.records[0]["payload"]
    assert len(first["values"]) == MAX_VALUES
    assert list(first["values"])[:2] == ["leaf0000", "leaf0001"]
    assert first["values_cut"] == 2500 - MAX_VALUES
    store.insert("r", batch.records)
    cols = store.record_columns("r")
    assert cols["after"] == [None, 1.0]  # the next record's path still got a column of its own
    assert store.counts("r")["values_cut"] == 2500 - MAX_VALUES


# -- the writer: never blocked, never silently dead --------------------------------------------


def test_a_record_the_store_cannot_take_is_set_aside_and_the_rest_stored(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever slips past validation (here: a store that cannot bind one record's value) is
    rejected with the store's reason; the records beside and behind it are stored."""
    import nodered_causal.collector.sql_store as store_module

    real = store_module._values

    def values(record: Any) -> dict[str, float]:
        if record["seq"] == 3:
            raise OverflowError("Python int too large to convert to SQLite INTEGER")
        return real(record)

    monkeypatch.setattr(store_module, "_values", values)
    writer = Writer(store, "r")
    result = writer.write(body([rec(i) for i in range(1, 6)]), timeout=10)
    after = writer.write(body([rec(6)]), timeout=10)
    assert (result.ok, result.records, result.rejected) == (True, 4, 1)
    assert (after.ok, after.records) == (True, 1)
    assert store.record_columns("r")["seq"] == [1, 2, 4, 5, 6]
    (row,) = store.rejected("r")
    assert (row.seq, row.reason) == (
        3,
        "the store cannot take this record: Python int too large to convert to SQLite INTEGER",
    )
    assert writer.error is None
    writer.shutdown()


def test_an_unexpected_writer_failure_is_reported_not_swallowed(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nodered_causal.collector.writer as writer_module

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise MemoryError("boom")

    monkeypatch.setattr(writer_module, "parse_batch", broken)
    writer = Writer(store, "r")
    result = writer.write(body([rec(1)]), timeout=10)
    assert (result.ok, result.error) == (False, "the writer stopped: MemoryError: boom")
    assert str(writer.error) == "the writer stopped: MemoryError: boom"
    with pytest.raises(StoreError, match="the writer stopped: MemoryError: boom"):
        writer.submit(body([rec(2)]))
    writer.shutdown()


def test_a_seq_of_10_29_does_not_stop_the_collector(store: Store) -> None:
    ingest = HttpIngest(Writer(store, "r"), write_timeout=10).start()
    try:
        with requests.Session() as session:
            poison = session.post(ingest.url, data=body([rec(10**29), rec(1)]), timeout=10)
            assert (poison.status_code, poison.json()) == (200, {"accepted": 1, "rejected": 1})
            good = session.post(ingest.url, data=body([rec(2), rec(3, ts_ns=2**63)]), timeout=10)
            assert (good.status_code, good.json()) == (200, {"accepted": 1, "rejected": 1})
            health = session.get(ingest.url.replace("records", "health"), timeout=10)
            assert (health.status_code, health.json()["ok"]) == (200, True)
    finally:
        ingest.shutdown()
    assert store.record_columns("r")["seq"] == [1, 2]
    assert [r.reason for r in store.rejected("r")] == [
        "seq must be an integer in [0, 2**63)",
        "ts_ns must be an integer in [0, 2**63)",
    ]


def test_health_is_not_ok_once_the_writer_stopped(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nodered_causal.collector.writer as writer_module

    monkeypatch.setattr(writer_module, "_RETRY_DELAYS", ())
    monkeypatch.setattr(
        store, "insert", lambda *a, **k: (_ for _ in ()).throw(StoreError("database is full"))
    )
    ingest = HttpIngest(Writer(store, "r"), write_timeout=10).start()
    try:
        first = requests.post(ingest.url, data=body([rec(1)]), timeout=10)
        assert (first.status_code, first.json()) == (503, {"error": "database is full"})
        health = requests.get(ingest.url.replace("records", "health"), timeout=10)
        assert (health.status_code, health.json()["ok"], health.json()["error"]) == (
            503,
            False,
            "database is full",
        )
        again = requests.post(ingest.url, data=body([rec(2)]), timeout=10)
        assert (again.status_code, again.json()) == (503, {"error": "database is full"})
    finally:
        ingest.shutdown()


# -- HTTP body limits, enforced while reading --------------------------------------------------


def _raw_request(url_port: tuple[str, int], head: bytes, body_iter: Any) -> bytes:
    """Send ``head`` then chunks from ``body_iter`` until the server answers or closes."""
    with socket.create_connection(url_port, timeout=10) as sock:
        sock.sendall(head)
        sent = 0
        sock.settimeout(0.001)
        answer = b""
        for chunk in body_iter:
            try:
                sock.sendall(chunk)
                sent += len(chunk)
            except OSError:  # the server closed on us: it answered early
                break
            try:
                answer += sock.recv(65536)
            except (TimeoutError, BlockingIOError):
                continue
            except OSError:
                break
            if answer:
                break
        sock.settimeout(10)
        try:
            while b"\r\n\r\n" not in answer:
                data = sock.recv(65536)
                if not data:
                    break
                answer += data
        except OSError:
            pass
    return answer + f"\nSENT {sent}".encode()


def _flood(total: int, piece: int = 1 << 20) -> Any:
    for _ in range(total // piece):
        yield b" " * piece


def test_a_negative_content_length_is_refused_before_reading(store: Store) -> None:
    head = b"POST /v1/records HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"
    ingest = HttpIngest(Writer(store, "r")).start()
    try:
        answer = _raw_request(ingest.address, head, _flood(200 << 20))
    finally:
        ingest.shutdown()
    status, _, rest = answer.partition(b"\r\n")
    assert status == b"HTTP/1.1 400 Bad Request", answer[:300]
    assert int(rest.rsplit(b"SENT ", 1)[1]) < 64 << 20  # answered long before 200 MB


def test_a_chunked_body_is_read_and_its_limit_enforced(store: Store) -> None:
    ingest = HttpIngest(Writer(store, "r")).start()
    try:
        ok = requests.post(ingest.url, data=iter([body([rec(1)]), b""]), timeout=10)
        assert (ok.status_code, ok.json()) == (200, {"accepted": 1, "rejected": 0})
        head = b"POST /v1/records HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        piece = 1 << 20
        chunks = (b"%x\r\n" % piece + b" " * piece + b"\r\n" for _ in range(200))
        answer = _raw_request(ingest.address, head, chunks)
    finally:
        ingest.shutdown()
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:300]
    assert int(answer.rsplit(b"SENT ", 1)[1]) < MAX_BODY + (16 << 20)
    assert store.record_columns("r")["seq"] == [1]


# -- completeness: rejected records are never loss ---------------------------------------------


def test_rejected_records_are_not_transport_loss(store: Store) -> None:
    writer = Writer(store, "r")
    writer.write(body([rec(1), rec(2), rec(-50), rec(3, src=""), rec(4), rec(10**12, dst="")]))
    writer.shutdown()
    (c,) = store.completeness("r")
    assert (c.received, c.rejected, c.gaps, c.transport_loss, c.first_seq, c.last_seq) == (
        3,
        2,
        0,
        0,
        1,
        4,
    )


def test_a_rejected_seq_fills_a_gap_but_never_widens_the_range() -> None:
    c = completeness("t", "b", [5, 6, 9], rejected_seqs=[7, 2**62])
    assert (c.gaps, c.gap_ranges, c.rejected, c.first_seq, c.last_seq) == (1, ((8, 8),), 2, 5, 9)
    only_bad = completeness("t", "b", [], rejected_seqs=[1, 7])
    assert (only_bad.gaps, only_bad.rejected, only_bad.transport_loss) == (0, 2, 0)


def test_writer_threads_do_not_leak_on_poison(store: Store) -> None:
    before = threading.active_count()
    writer = Writer(store, "r")
    for seq in (10**29, -1, 2**63):
        assert writer.write(body([rec(seq)]), timeout=10).ok
    writer.shutdown()
    assert threading.active_count() == before


def test_an_integer_over_pythons_digit_limit_rejects_its_record_not_the_batch() -> None:
    huge = "1" + "0" * 5000
    data = f"[{json.dumps(rec(1))}, {json.dumps(rec(2)).replace('8,', huge + ',', 1)}]"
    batch = parse_batch(data.encode())
    assert [r["seq"] for r in batch.records] == [1]
    assert [r.reason for r in batch.rejected] == ["bytes must be a 64-bit integer or null"]
    deep = parse_batch(f"[{json.dumps(rec(3))}, {huge}, {'[' * 5000}1{']' * 5000}]".encode())
    assert [r["seq"] for r in deep.records] == [3]
    assert [r.reason for r in deep.rejected] == [
        "record is not a JSON object (float)",
        f"record nested deeper than {MAX_DEPTH} levels",
    ]


def test_a_full_store_stops_the_writer_with_nothing_half_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite's real SQLITE_FULL (``max_page_count`` caps the file): the batch is not stored
    and not acknowledged, the writer stops and says why; with room again, the redelivered batch
    is stored whole."""
    import nodered_causal.collector.writer as writer_module

    monkeypatch.setattr(writer_module, "_RETRY_DELAYS", (0.01,))
    store = Store(tmp_path / "full.db")
    store.start_run("r")
    writer = Writer(store, "r")
    assert writer.write(body([rec(i) for i in range(1, 11)])).ok
    (pages,) = store._conn.execute("PRAGMA page_count").fetchone()
    store._conn.execute(f"PRAGMA max_page_count = {pages + 2}")
    big = body([rec(i, values={f"k{j}": float(j) for j in range(50)}) for i in range(11, 311)])
    result = writer.write(big, timeout=20)
    assert (result.ok, result.records) == (False, 0)
    assert result.error is not None and "database or disk is full" in result.error
    assert writer.stopped.is_set() and not writer.healthy
    assert store.record_columns("r")["seq"] == list(range(1, 11))  # nothing half-written
    with pytest.raises(StoreError, match="database or disk is full"):
        writer.submit(body([rec(400)]))
    writer.shutdown()
    store._conn.execute("PRAGMA max_page_count = 1073741823")
    again = Writer(store, "r")
    assert again.write(big).ok  # MQTT redelivers what was never acked
    again.shutdown()
    assert store.record_columns("r")["seq"] == list(range(1, 311))
    store.close()


def test_an_mqtt_payload_over_the_batch_limit_is_rejected_whole() -> None:
    """HTTP refuses such a body while reading; MQTT hands it over whole: it is one rejection."""
    data = body([rec(1)]) + b" " * MAX_BATCH_BYTES
    batch = parse_batch(data)
    assert (batch.body_ok, batch.records) == (False, [])
    (bad,) = batch.rejected
    assert bad.reason == f"batch of {len(data)} bytes is over the {MAX_BATCH_BYTES} byte limit"
    assert len(bad.raw) == 4096


def test_a_record_the_database_refuses_is_set_aside_on_every_backend(
    store_location: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A record that slipped past validation and breaks a constraint (kind NULL) in SQLite or
    PostgreSQL: set aside with the database's reason, the records beside it stored."""
    import nodered_causal.collector.writer as writer_module
    from nodered_causal.collector import open_store
    from nodered_causal.tap.records import Batch

    bad = rec(2)
    bad["kind"] = None
    monkeypatch.setattr(writer_module, "parse_batch", lambda *a, **k: Batch([rec(1), bad, rec(3)]))
    with open_store(store_location) as store:
        store.start_run("r")
        writer = Writer(store, "r")
        result = writer.write(b"[]", timeout=30)
        writer.shutdown()
        assert (result.ok, result.records, result.rejected) == (True, 2, 1)
        assert store.record_columns("r")["seq"] == [1, 3]
        (row,) = store.rejected("r")
        assert row.seq == 2 and row.reason.startswith("the store cannot take this record: ")
        assert "kind" in row.reason and writer.healthy


def test_a_schema_3_store_gets_the_values_cut_column(store_location: str) -> None:
    """Stores written before values were capped (schema 3) are migrated on open, data kept."""
    import sqlite3

    from nodered_causal.collector import open_store
    from tests.pg_helpers import execute

    with open_store(store_location) as store:
        store.start_run("r")
        store.insert("r", [rec(1)])
    downgrade = [
        "ALTER TABLE records DROP COLUMN values_cut",
        "ALTER TABLE records DROP COLUMN counts",  # schema 5's column: a schema 3 store had neither
        "UPDATE meta SET value = '3' WHERE key = 'schema_version'",
    ]
    for statement in downgrade:
        if store_location.startswith("postgresql://"):
            execute(store_location, statement)
        else:
            with sqlite3.connect(store_location) as conn:
                conn.execute(statement)
    cut = {f"p{i}": 1.0 for i in range(MAX_VALUES + 3)}
    with open_store(store_location) as store:
        assert store.schema_version() == 6
        store.insert("r", parse_batch(body([rec(2, values=cut)])).records)
        assert store.record_columns("r")["seq"] == [1, 2]
        assert store.counts("r")["values_cut"] == 3
