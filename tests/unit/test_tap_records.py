from __future__ import annotations

import json

import pytest

from nodered_causal.tap.records import parse_batch, validate_record
from tests.collector_records import body, rec, stats


def test_valid_records_pass_in_order() -> None:
    records = [rec(1), rec(2, kind="error", dst=None, error="boom"), stats(3)]
    batch = parse_batch(body(records))
    assert batch.body_ok
    assert batch.rejected == []
    assert [r["seq"] for r in batch.records] == [1, 2, 3]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"v": 2}, "unsupported schema version 2 (expected 1)"),
        ({"v": True}, "unsupported schema version True (expected 1)"),
        ({"seq": -1}, "seq must be an integer in [0, 2**63)"),
        ({"seq": 1.5}, "seq must be an integer in [0, 2**63)"),
        (
            {"kind": "send"},
            "unknown kind 'send' (expected one of deliver, error, complete, stats, counts)",
        ),
        ({"dst": None}, "a deliver record needs dst"),
        ({"port": "0"}, "port must be a 64-bit integer or null"),
        ({"tap": ""}, "tap must be a non-empty string"),
        ({"error": 3}, "error must be a string or null"),
        (
            {"payload": {"values": {"payload": "hot"}}},
            "payload value 'payload' is not a number (str)",
        ),
        ({"payload": {"type": "date"}}, "unknown payload type 'date'"),
        ({"payload": []}, "payload must be an object or null"),
    ],
)
def test_invalid_fields_are_named(change: dict[str, object], reason: str) -> None:
    record = rec(5)
    record.update(change)
    assert validate_record(record) == reason


def test_missing_fields_are_listed() -> None:
    record = rec(1)
    del record["seq"], record["src"]
    assert validate_record(record) == "missing fields seq, src"


def test_bad_elements_are_kept_aside_with_their_identity() -> None:
    batch = parse_batch(body([rec(1), rec(2, v=9), 7, rec(3)]))
    assert [r["seq"] for r in batch.records] == [1, 3]
    assert [(r.reason, r.tap, r.boot, r.seq) for r in batch.rejected] == [
        ("unsupported schema version 9 (expected 1)", "tap1", "b0", 2),
        ("record is not a JSON object (int)", None, None, None),
    ]
    assert json.loads(batch.rejected[0].raw)["seq"] == 2


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"not json", "batch is not JSON: Expecting value: line 1 column 1 (char 0)"),
        (
            b"\xff\xff",
            "batch is not JSON: 'utf-8' codec can't decode byte 0xff in position 0: "
            "invalid start byte",
        ),
        (b'"text"', "batch is not a JSON array (str)"),
    ],
)
def test_a_bad_body_is_one_rejection(data: bytes, reason: str) -> None:
    batch = parse_batch(data)
    assert not batch.body_ok
    assert batch.records == []
    assert [r.reason for r in batch.rejected] == [reason]


def test_a_single_object_is_a_batch_of_one() -> None:
    assert [r["seq"] for r in parse_batch(json.dumps(rec(4))).records] == [4]


def test_unknown_node_ids_are_rejected_when_the_dag_is_known() -> None:
    batch = parse_batch(body([rec(1), rec(2, dst="zz")]), known_nodes={"a1", "b2"})
    assert [r["seq"] for r in batch.records] == [1]
    assert batch.rejected[0].reason == "unknown node id 'zz' (dst) for this run's flow"
    assert parse_batch(body([rec(2, dst="zz")])).rejected == []  # no DAG: any id


def test_raw_text_of_rejections_is_bounded() -> None:
    batch = parse_batch(b"x" * 100_000)
    assert len(batch.rejected[0].raw) == 4096


@pytest.mark.parametrize(
    ("parents", "reason"),
    [
        ([3, 4, 2**63 - 1], None),
        (None, None),
        ([], "parents must be a list of 1 to 4096 seqs or null"),
        (list(range(4097)), "parents must be a list of 1 to 4096 seqs or null"),
        ("3,4", "parents must be a list of 1 to 4096 seqs or null"),
        ([3, 2**63], "parents must hold integers in [0, 2**63)"),
        ([3, -1], "parents must hold integers in [0, 2**63)"),
        ([3, 4.0], "parents must hold integers in [0, 2**63)"),
        ([True], "parents must hold integers in [0, 2**63)"),
    ],
)
def test_parents_are_bounded_seqs(parents: object, reason: str | None) -> None:
    assert validate_record(rec(5, parents=parents)) == reason
