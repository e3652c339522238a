"""The writer thread: takes shipped batches from the transports and stores them in few transactions.

Transports call :meth:`Writer.submit` with the raw body of one MQTT message or HTTP request and a
``done`` callback; the writer parses and validates it (:func:`~nodered_causal.tap.records.
parse_batch`), stores everything that queued up meanwhile in one :meth:`Store.insert` transaction,
and only then calls ``done`` — the MQTT transport acks the message then, the HTTP one answers 2xx.
So whatever a tap was told is received is on disk. A full queue blocks ``submit`` (back-pressure
on the broker or the HTTP client) instead of dropping anything. :meth:`shutdown` drains.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass

from nodered_causal.collector.store import InsertResult, RecordStore, Run
from nodered_causal.errors import StoreError
from nodered_causal.tap.records import parse_batch

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
        self.error: StoreError | None = None
        self._thread.start()

    def submit(self, data: bytes | bytearray, done: Done | None = None) -> None:
        """Queue one shipped batch; blocks while the queue is full."""
        if self._stopping:
            raise StoreError("the writer is shut down")
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
        batches = [parse_batch(data, known_nodes=self.known_nodes) for data, _ in items]
        records = [r for b in batches for r in b.records]
        rejected = [r for b in batches for r in b.rejected]
        result: InsertResult | None = None
        error: StoreError | None = None
        for attempt, delay in enumerate((*_RETRY_DELAYS, None), start=1):
            try:
                result = self.store.insert(self.run, records, rejected)
                break
            except StoreError as exc:
                error = exc
                if delay is None:
                    logger.error("giving up storing %d records: %s", len(records), exc)
                    self.error = exc
                else:
                    logger.warning("storing failed (attempt %d), retrying: %s", attempt, exc)
                    time.sleep(delay)
        with self._lock:
            c = self._counts
            self._counts = IngestCounts(
                batches=c.batches + len(items),
                records=c.records + (result.inserted if result else 0),
                duplicates=c.duplicates + (result.duplicates if result else 0),
                rejected=c.rejected + (result.rejected if result else 0),
                failed_batches=c.failed_batches + (0 if result else len(items)),
            )
        message = None if result else str(error)
        for (_, done), batch in zip(items, batches, strict=True):
            if done is None:
                continue
            outcome = BatchResult(
                result is not None,
                len(batch.records),
                len(batch.rejected),
                message,
                whole_body_rejected=not batch.body_ok,
            )
            try:
                done(outcome)
            except Exception:  # a transport callback must not kill the writer
                logger.exception("batch callback failed")
