from __future__ import annotations

from nodered_causal.collector.completeness import (
    MAX_GAP_RANGES,
    completeness,
    completeness_of_records,
)
from tests.collector_records import rec, stats


def test_no_gaps_no_loss() -> None:
    c = completeness("t", "b", range(10, 20))
    assert (c.received, c.gaps, c.first_seq, c.last_seq, c.lost, c.ok) == (10, 0, 10, 19, 0, True)


def test_gaps_split_into_tap_drops_and_transport_loss() -> None:
    # seqs 5..7 and 12 missing; the tap reports 2 drops during the run (3 -> 5)
    seqs = [2, 3, 4, 8, 9, 10, 11, 13]
    points = [(2, {"dropped": 3, "failed": 0}), (13, {"dropped": 5, "failed": 1})]
    c = completeness("t", "b", seqs, stats=points)
    assert (c.gaps, c.gap_ranges, c.dropped, c.failed) == (4, ((5, 7), (12, 12)), 2, 1)
    assert (c.transport_loss, c.lost, c.ok) == (2, 4, False)


def test_counters_count_from_zero_when_the_run_saw_the_boot_start() -> None:
    c = completeness("t", "b", [1, 2, 4], stats=[(4, {"dropped": 1})])
    assert (c.gaps, c.dropped, c.transport_loss) == (1, 1, 0)
    later = completeness("t", "b", [5, 6, 8], stats=[(8, {"dropped": 1})])
    assert (later.gaps, later.dropped, later.transport_loss) == (1, 0, 1)


def test_rejected_records_arrived_so_they_are_no_gap() -> None:
    c = completeness("t", "b", [1, 2, 4], rejected_seqs=[3, 5])
    assert (c.received, c.rejected, c.gaps, c.last_seq) == (3, 2, 0, 4)  # 5 does not widen


def test_gap_ranges_are_bounded_but_counts_exact() -> None:
    c = completeness("t", "b", range(0, 200, 2))
    assert c.gaps == 99
    assert len(c.gap_ranges) == MAX_GAP_RANGES
    assert c.gap_ranges[0] == (1, 1)


def test_empty_stream() -> None:
    c = completeness("t", "b", [], rejected_seqs=[])
    assert (c.received, c.first_seq, c.last_seq, c.gaps) == (0, None, None, 0)


def test_per_stream_from_fabricated_records() -> None:
    records = [rec(1), rec(2), rec(4), stats(5, dropped=1), rec(1, boot="b1"), rec(3, boot="b1")]
    report = completeness_of_records(records, rejected=[("tap1", "b1", 2)])
    assert [
        (c.boot, c.received, c.rejected, c.gaps, c.dropped, c.transport_loss) for c in report
    ] == [
        ("b0", 4, 0, 1, 1, 0),
        ("b1", 2, 1, 0, 0, 0),
    ]
    assert report[0].as_dict()["transport_loss"] == 0
