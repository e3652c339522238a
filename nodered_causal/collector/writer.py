"""The writer thread: takes shipped batches from the transports and stores them in few transactions.

Transports call :meth:`Writer.submit` with the raw body of one MQTT message or HTTP request and a
``done`` callback; the writer parses and validates it (:func:`~nodered_causal.tap.records.
parse_batch`), stores everything that queued up meanwhile in one :meth:`Store.insert` transaction,
and only then calls ``done`` — the MQTT transport acks the message then, the HTTP one answers 2xx.
So whatever a tap was told is received is on disk. A full queue blocks ``submit`` (back-pressure
on the broker or the HTTP client) instead of dropping anything. :meth:`shutdown` drains.

One bad record never blocks the others: a record the store cannot take (what validation missed)
is found by storing the transaction's records in halves, set aside as rejected with the store's
reason, and acknowledged with the rest. When the store itself fails (disk full, I/O error, locked
past the retries) or the writer hits a bug, it stops for good: nothing more is stored or
acknowledged (MQTT redelivers it later, HTTP answers 503), :attr:`Writer.error` says why, and
:attr:`Writer.stopped` is set so the collector can exit non-zero.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from nodered_causal.collector.store import InsertResult, RecordStore, Run
from nodered_causal.errors import StoreError, StoreWriteError, UnstorableRecordError
from nodered_causal.tap.records import Batch, Rejected, parse_batch, reject

__all__ = ["BatchResult", "IngestCounts", "Writer"]

logger = logging.getLogger(__name__)

_RETRY_DELAYS = (0.1, 0.5, 2.0)  # a locked or busy store is retried, then the batch fails


@dataclass(frozen=True)
class BatchResult:
    """What became of one submitted batch (``ok`` False: it was not stored)."""

    ok: bool
    records: int
    rejected: int
    error: str | None = None
    whole_body_rejected: bool = False


@dataclass(frozen=True)
class IngestCounts:
    """Totals since the writer started."""

    batches: int = 0
    records: int = 0
    duplicates: int = 0
    rejected: int = 0
    failed_batches: int = 0
    pending: int = 0


Done = Callable[[BatchResult], None]


class Writer:
    """Parse, validate and store submitted batches of ``run`` on a background thread."""

    def __init__(
        self,
        store: RecordStore,
        run: str | Run,
        *,
        known_nodes: Collection[str] | None = None,
        max_pending: int = 1000,
        max_bytes_per_transaction: int = 8_000_000,
    ) -> None:
        if max_pending < 1:
            raise ValueError(f"max_pending must be at least 1, not {max_pending}")
        self.store = store
        self.run = store.run(run)
        self.known_nodes = frozenset(known_nodes) if known_nodes is not None else None
        self._max_bytes = max_bytes_per_transaction
        self._queue: queue.Queue[tuple[bytes | bytearray, Done | None] | None] = queue.Queue(
            max_pending
        )
        self._lock = threading.Lock()
        self._counts = IngestCounts()
        self._thread = threading.Thread(
            target=self._loop, name="nodered-causal-writer", daemon=True
        )
        self._stopping = False
        #: Why the writer stopped storing (None while it stores).
        self.error: StoreWriteError | None = None
        #: Set when the writer stopped storing for good (see :attr:`error`).
        self.stopped = threading.Event()
        self._thread.start()

    @property
    def healthy(self) -> bool:
        """Storing: no error, and the thread alive unless it was shut down."""
        return self.error is None and (self._stopping or self._thread.is_alive())

    def submit(self, data: bytes | bytearray, done: Done | None = None) -> None:
        """Queue one shipped batch; blocks while the queue is full."""
        if self._stopping:
            raise StoreError("the writer is shut down")
        if self.error is not None:
            raise self.error
        self._queue.put((data, done))

    def write(self, data: bytes, *, timeout: float = 30.0) -> BatchResult:
        """Submit one batch and wait until it is stored (or failed)."""
        finished = threading.Event()
        results: list[BatchResult] = []

        def done(result: BatchResult) -> None:
            results.append(result)
            finished.set()

        self.submit(data, done)
        if not finished.wait(timeout):
            return BatchResult(False, 0, 0, f"not stored within {timeout:g} s")
        return results[0]

    def counts(self) -> IngestCounts:
        with self._lock:
            return IngestCounts(**{**self._counts.__dict__, "pending": self._queue.qsize()})

    def shutdown(self, timeout: float = 10.0) -> bool:
        """Store everything submitted so far and stop; False if that took longer than timeout."""
        if not self._stopping:
            self._stopping = True
            self._queue.put(None)
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # -- the thread ------------------------------------------------------------------------------

    def _loop(self) -> None:
        try:
            self._take_batches()
        except BaseException as exc:  # never die silently
            logger.exception("the writer stopped")
            self._stop(StoreWriteError(f"the writer stopped: {type(exc).__name__}: {exc}"))
            raise

    def _take_batches(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            items = [item]
            size = len(item[0])
            stop = False
            while size < self._max_bytes:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                items.append(more)
                size += len(more[0])
            self._store(items)
            if stop:
                return

    def _store(self, items: list[tuple[bytes | bytearray, Done | None]]) -> None:
        if self.error is not None:
            self._answer(items, None, [], set())
            return
        try:
            batches = [parse_batch(data, known_nodes=self.known_nodes) for data, _ in items]
            records = [r for b in batches for r in b.records]
            rejected = [r for b in batches for r in b.rejected]
            result, aside = self._insert(records, rejected)
        except StoreError as exc:
            logger.error("giving up storing %d batches: %s", len(items), exc)
            self._stop(StoreWriteError(str(exc)))
            self._answer(items, None, [], set())
            return
        except Exception as exc:  # a bug: say so, never die silently
            logger.exception("the writer stopped")
            self._stop(StoreWriteError(f"the writer stopped: {type(exc).__name__}: {exc}"))
            self._answer(items, None, [], set())
            return
        self._answer(items, result, batches, aside)

    def _insert(
        self, records: list[dict[str, Any]], rejected: list[Rejected]
    ) -> tuple[InsertResult, set[int]]:
        """Store records and rejected ones, retrying a failing store; returns the result and the
        ids of records set aside because the store cannot take them."""
        for attempt, delay in enumerate((*_RETRY_DELAYS, None), start=1):
            try:
                return self._insert_isolating(records, rejected)
            except StoreError as exc:
                if delay is None:
                    raise
                logger.warning("storing failed (attempt %d), retrying: %s", attempt, exc)
                time.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _insert_isolating(
        self, records: list[dict[str, Any]], rejected: list[Rejected]
    ) -> tuple[InsertResult, set[int]]:
        try:
            return self.store.insert(self.run, records, rejected), set()
        except UnstorableRecordError:
            if not records:
                raise
        inserted, duplicates, aside = self._store_halves(records)
        result = self.store.insert(self.run, [], [*rejected, *aside.values()])
        return InsertResult(inserted, duplicates, result.rejected), set(aside)

    def _store_halves(self, records: list[dict[str, Any]]) -> tuple[int, int, dict[int, Rejected]]:
        """Store what the store takes of ``records``, half by half; the record it cannot take
        is returned as rejected (keyed by ``id(record)``)."""
        try:
            result = self.store.insert(self.run, records)
        except UnstorableRecordError as exc:
            if len(records) == 1:
                (record,) = records
                logger.warning("record set aside: the store cannot take it: %s", exc)
                why = f"the store cannot take this record: {exc}"
                return 0, 0, {id(record): reject(record, why)}
            mid = len(records) // 2
            first, second = self._store_halves(records[:mid]), self._store_halves(records[mid:])
            return first[0] + second[0], first[1] + second[1], {**first[2], **second[2]}
        return result.inserted, result.duplicates, {}

    def _stop(self, error: StoreWriteError) -> None:
        self.error = error
        self.stopped.set()

    def _answer(
        self,
        items: list[tuple[bytes | bytearray, Done | None]],
        result: InsertResult | None,
        batches: list[Batch],
        aside: set[int],
    ) -> None:
        """Count what became of ``items`` and call their ``done`` callbacks."""
        with self._lock:
            c = self._counts
            self._counts = IngestCounts(
                batches=c.batches + len(items),
                records=c.records + (result.inserted if result else 0),
                duplicates=c.duplicates + (result.duplicates if result else 0),
                rejected=c.rejected + (result.rejected if result else 0),
                failed_batches=c.failed_batches + (0 if result else len(items)),
            )
        for index, (_, done) in enumerate(items):
            if done is None:
                continue
            if result is None:
                outcome = BatchResult(False, 0, 0, str(self.error))
            else:
                batch = batches[index]
                cut = sum(1 for r in batch.records if id(r) in aside)
                outcome = BatchResult(
                    True,
                    len(batch.records) - cut,
                    len(batch.rejected) + cut,
                    whole_body_rejected=not batch.body_ok,
                )
            try:
                done(outcome)
            except Exception:  # a transport callback must not kill the writer
                logger.exception("batch callback failed")
