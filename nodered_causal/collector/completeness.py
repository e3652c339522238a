"""Completeness of a recording, per tap stream (tap, boot) — pure arithmetic, no I/O.

Every record a tap creates gets the next ``seq`` of its stream, even one the tap later drops, so
between the first and the last seq the collector saw, every missing seq is a lost record:

- ``gaps``: seqs missing between the first and last seq stored that no rejected record carried
  either (a rejected record's seq fills a gap but never widens the range: a bad record may carry
  any seq, so it is never counted as loss);
- ``dropped``: what the tap itself says it dropped during the run (its cumulative ``stats``
  counter, last minus first seen in the run; from zero when the run saw the stream's first seq);
- ``transport_loss = gaps - dropped``: lost between the tap and the store (broker, network,
  collector).

Loss after the last seq received is invisible here; the tap's next ``stats`` record (every second)
reveals it, which is why a recording should end a little after the traffic it wants.

>>> c = completeness("t", "b", [3, 4, 7], stats=[(4, {"dropped": 0}), (7, {"dropped": 1})])
>>> (c.received, c.gaps, c.dropped, c.transport_loss, c.gap_ranges)
(3, 2, 1, 1, ((5, 6),))
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["FIRST_SEQ", "Completeness", "completeness", "completeness_of_records"]

#: The seq a tap gives the first record after it starts (a new ``boot``; plugin/lib/recorder.js).
FIRST_SEQ = 1
#: At most this many missing seq ranges are listed (the counts are always exact).
MAX_GAP_RANGES = 20

StatsPoint = tuple[int, Mapping[str, Any]]  # (seq of the stats record, its counters)


@dataclass(frozen=True)
class Completeness:
    """What arrived of one tap stream (tap, boot) in a run, and what was lost where."""

    tap: str
    boot: str
    received: int
    rejected: int
    first_seq: int | None
    last_seq: int | None
    gaps: int
    gap_ranges: tuple[tuple[int, int], ...]
    dropped: int
    failed: int
    stats_records: int

    @property
    def transport_loss(self) -> int:
        """Records lost between the tap and the store (gaps the tap did not report as dropped)."""
        return max(0, self.gaps - self.dropped)

    @property
    def lost(self) -> int:
        """Records that never reached the store: the larger of gaps and tap-reported drops."""
        return max(self.gaps, self.dropped)

    @property
    def ok(self) -> bool:
        """Nothing lost and no tap failures."""
        return self.lost == 0 and self.failed == 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "tap": self.tap,
            "boot": self.boot,
            "received": self.received,
            "rejected": self.rejected,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "gaps": self.gaps,
            "gap_ranges": [list(r) for r in self.gap_ranges],
            "dropped": self.dropped,
            "failed": self.failed,
            "transport_loss": self.transport_loss,
            "stats_records": self.stats_records,
            "ok": self.ok,
        }


def completeness(
    tap: str,
    boot: str,
    seqs: Iterable[int],
    *,
    rejected_seqs: Iterable[int] = (),
    stats: Sequence[StatsPoint] = (),
) -> Completeness:
    """Completeness of one stream from the seqs stored, the seqs rejected and its stats records.

    ``seqs`` are distinct (the store ignores duplicates); any order. ``stats`` are
    ``(seq, counters)`` pairs of the stream's stats records in the run, any order.
    """
    stored = set(seqs)
    bad = set(rejected_seqs) - stored
    low, high = (min(stored), max(stored)) if stored else (0, -1)
    arrived = stored | {s for s in bad if low < s < high}
    ranges: list[tuple[int, int]] = []
    gaps = 0
    previous: int | None = None
    for seq in sorted(arrived):
        if previous is not None and seq > previous + 1:
            gaps += seq - previous - 1
            if len(ranges) < MAX_GAP_RANGES:
                ranges.append((previous + 1, seq - 1))
        previous = seq
    ordered = sorted(stats, key=lambda point: point[0])
    saw_start = FIRST_SEQ in stored or FIRST_SEQ in bad
    return Completeness(
        tap=tap,
        boot=boot,
        received=len(stored),
        rejected=len(bad),
        first_seq=low if stored else None,
        last_seq=previous,
        gaps=gaps,
        gap_ranges=tuple(ranges),
        dropped=_delta(ordered, "dropped", from_zero=saw_start),
        failed=_delta(ordered, "failed", from_zero=saw_start),
        stats_records=len(ordered),
    )


def completeness_of_records(
    records: Iterable[Mapping[str, Any]], *, rejected: Iterable[tuple[str, str, int]] = ()
) -> list[Completeness]:
    """Completeness per stream of a list of record dicts (e.g. fabricated ones in a test).

    ``rejected``: (tap, boot, seq) of records that arrived but were rejected.
    """
    seqs: dict[tuple[str, str], list[int]] = defaultdict(list)
    stats: dict[tuple[str, str], list[StatsPoint]] = defaultdict(list)
    bad: dict[tuple[str, str], list[int]] = defaultdict(list)
    for rec in records:
        key = (rec["tap"], rec["boot"])
        seqs[key].append(rec["seq"])
        if rec["kind"] == "stats":
            stats[key].append((rec["seq"], rec))
    for tap, boot, seq in rejected:
        bad[(tap, boot)].append(seq)
    return [
        completeness(key[0], key[1], seqs[key], rejected_seqs=bad[key], stats=stats[key])
        for key in sorted(set(seqs) | set(bad))
    ]


def _delta(stats: Sequence[StatsPoint], name: str, *, from_zero: bool) -> int:
    values = [int(c[name]) for _, c in stats if c.get(name) is not None]
    if not values:
        return 0
    return max(0, values[-1] - (0 if from_zero else values[0]))
