"""The embedded record store: one SQLite file in WAL mode (stdlib ``sqlite3``).

Why SQLite and not DuckDB (``benchmarks/bench_store.py``, numbers in benchmarks/RESULTS.md; on
this 2-core machine: SQLite ~100k records/s inserted in batches of 200, ``record_columns`` of 1M
records ~3 s quiet / 6 s under load; DuckDB 14k/s with Arrow batches, 570/s row-wise, 3.6 s):

- **Readable while recording, by other processes.** In WAL mode a reader never blocks the writer
  and sees every committed batch, so ``nodered-causal runs show`` (or an analysis) can read a run
  that ``collect`` is still writing. DuckDB lets only one process open a file for writing and no
  other process open it at all meanwhile, which breaks that workflow.
- **Small transactions are cheap.** A collector commits many small batches (one per MQTT message
  or HTTP request, tens to hundreds of records). SQLite with ``synchronous=NORMAL`` commits such a
  batch in well under a millisecond; DuckDB's per-transaction cost is much higher and its
  row-wise ``executemany`` is slow (it wants Arrow/pandas bulk appends).
- **Fast enough to read.** ``record_columns`` of 1M records takes a few seconds.
- **No new dependency.** For a fleet, the same tables live in PostgreSQL (``postgres_store.py``).

Durability: every batch is one transaction; with ``synchronous=NORMAL`` a committed batch
survives a crash of the process (what the collector acks on), ``synchronous="FULL"`` also a power
loss. Schema versions: 1 (before ``meta.application``), 2 (+ the (run, kind, time) index), 3 (+
``records.parents``), 4 (+ ``records.values_cut``), 5 (+ ``records.counts``: a sampling tap's
per-wire counts), 6 (+ ``incidents``, ``watch_state``, ``deploys``: what ``watch`` keeps).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from nodered_causal.collector.sql_store import RECORD_FIELDS, Rows, Sql, SqlStore
from nodered_causal.errors import StoreError

__all__ = ["SqliteStore"]

logger = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE runs (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, start_ns INTEGER NOT NULL,
    end_ns INTEGER, flow_rev TEXT, dag_json TEXT, note TEXT);
CREATE TABLE streams (
    id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL, tap TEXT NOT NULL, boot TEXT NOT NULL,
    UNIQUE (run_id, tap, boot));
CREATE TABLE records (
    id INTEGER PRIMARY KEY, stream_id INTEGER NOT NULL, run_id INTEGER NOT NULL,
    seq INTEGER NOT NULL, ts_ns INTEGER NOT NULL, kind TEXT NOT NULL, src TEXT, port INTEGER,
    dst TEXT, trace INTEGER, parent INTEGER, latency_ns INTEGER, bytes INTEGER, error TEXT,
    ptype TEXT, plen INTEGER, recorded INTEGER, dropped INTEGER, failed INTEGER, queue INTEGER,
    extra_values TEXT, parents TEXT, values_cut INTEGER, counts TEXT);
CREATE UNIQUE INDEX records_stream_seq ON records (stream_id, seq);
CREATE INDEX records_run_kind_ts ON records (run_id, kind, ts_ns);
CREATE TABLE value_columns (path TEXT PRIMARY KEY, col TEXT NOT NULL UNIQUE);
CREATE TABLE run_paths (
    run_id INTEGER NOT NULL, path TEXT NOT NULL, PRIMARY KEY (run_id, path)) WITHOUT ROWID;
CREATE TABLE rejected (
    id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL, received_ns INTEGER NOT NULL,
    reason TEXT NOT NULL, tap TEXT, boot TEXT, seq INTEGER, raw TEXT NOT NULL);
CREATE INDEX rejected_run ON rejected (run_id);
CREATE TABLE incidents (
    id TEXT PRIMARY KEY, target TEXT NOT NULL, signal TEXT NOT NULL, state TEXT NOT NULL,
    changed_ns INTEGER NOT NULL, detected_ns INTEGER NOT NULL, updated_ns INTEGER NOT NULL,
    closed_ns INTEGER, doc TEXT NOT NULL);
CREATE INDEX incidents_state ON incidents (state, detected_ns);
CREATE TABLE watch_state (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_ns INTEGER NOT NULL);
CREATE TABLE deploys (
    id INTEGER PRIMARY KEY, ts_ns INTEGER NOT NULL, rev TEXT, previous_rev TEXT,
    changed TEXT NOT NULL);
"""

#: Statements that bring schema version N to N + 1.
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        "CREATE INDEX IF NOT EXISTS records_run_kind_ts ON records (run_id, kind, ts_ns)",
        "DROP INDEX IF EXISTS records_run",
    ),
    2: ("ALTER TABLE records ADD COLUMN parents TEXT",),
    3: ("ALTER TABLE records ADD COLUMN values_cut INTEGER",),
    4: ("ALTER TABLE records ADD COLUMN counts TEXT",),
    5: (
        """CREATE TABLE IF NOT EXISTS incidents (
    id TEXT PRIMARY KEY, target TEXT NOT NULL, signal TEXT NOT NULL, state TEXT NOT NULL,
    changed_ns INTEGER NOT NULL, detected_ns INTEGER NOT NULL, updated_ns INTEGER NOT NULL,
    closed_ns INTEGER, doc TEXT NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS incidents_state ON incidents (state, detected_ns)",
        "CREATE TABLE IF NOT EXISTS watch_state (key TEXT PRIMARY KEY, value TEXT NOT NULL, "
        "updated_ns INTEGER NOT NULL)",
        "CREATE TABLE IF NOT EXISTS deploys (id INTEGER PRIMARY KEY, ts_ns INTEGER NOT NULL, "
        "rev TEXT, previous_rev TEXT, changed TEXT NOT NULL)",
    ),
}


class _Sql:
    """``?`` statements on the connection, sqlite3 errors as :class:`StoreError`."""

    def __init__(self, conn: sqlite3.Connection, where: str) -> None:
        self._conn = conn
        self._where = where

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        try:
            return self._conn.execute(sql, params)
        except sqlite3.Error as exc:
            raise StoreError(f"{self._where}: {exc}") from exc

    def executemany(self, sql: str, params: Iterable[Sequence[Any]]) -> Rows:
        try:
            return self._conn.executemany(sql, params)
        except sqlite3.Error as exc:
            raise StoreError(f"{self._where}: {exc}") from exc


class SqliteStore(SqlStore):
    """A record store in one SQLite file; thread-safe (one connection behind a lock).

    ``SqliteStore(path)`` creates the file if needed; ``create=False`` raises
    :class:`StoreError` when there is no store there. A database that is not a nodered-causal
    store is refused and left as it is. Use one instance per process; any number of processes
    may read while one records.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        create: bool = True,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        timeout: float = 30.0,
    ) -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous must be 'NORMAL' or 'FULL', not {synchronous!r}")
        self.path = Path(path)
        super().__init__(str(self.path))
        if not create and not self.path.exists():
            raise StoreError(f"no record store at {self.path}")
        try:
            self._conn = sqlite3.connect(
                str(self.path), timeout=timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open record store {self.path}: {exc}") from exc
        try:
            self._open_schema(create=create)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(f"PRAGMA synchronous={synchronous}")
        except sqlite3.Error as exc:
            self._conn.close()
            raise StoreError(f"cannot open record store {self.path}: {exc}") from exc
        except StoreError as exc:
            self._conn.close()
            unreadable = f"cannot read {self.path}: "
            if str(exc).startswith(unreadable):
                message = str(exc).removeprefix(unreadable)
                raise StoreError(f"cannot open record store {self.path}: {message}") from exc
            raise

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- the dialect -----------------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[_Sql]:
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreError(f"cannot write to {self.path}: {exc}") from exc
            try:
                yield _Sql(self._conn, f"cannot write to {self.path}")
            except BaseException:
                self._rollback()
                raise
            try:
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise StoreError(f"cannot commit to {self.path}: {exc}") from exc

    def _rollback(self) -> None:
        """Roll back what is left of a failed transaction: SQLite already rolled back some (after
        SQLITE_FULL, say), and a failing ROLLBACK must not hide the error that caused it."""
        self._forget_caches()
        if self._conn.in_transaction:
            try:
                self._conn.execute("ROLLBACK")
            except sqlite3.Error as exc:
                logger.warning("rollback of %s failed: %s", self.path, exc)

    def _is_record_fault(self, exc: BaseException) -> bool:
        record = (sqlite3.IntegrityError, sqlite3.DataError, sqlite3.InterfaceError)
        return isinstance(exc, record) or super()._is_record_fault(exc)

    @contextmanager
    def _read(self) -> Iterator[_Sql]:
        with self._lock:
            try:
                self._conn.execute("BEGIN")
            except sqlite3.Error as exc:
                raise StoreError(f"cannot read {self.path}: {exc}") from exc
            try:
                yield _Sql(self._conn, f"cannot read {self.path}")
            finally:
                self._conn.execute("COMMIT")

    def _tables(self, sql: Sql) -> set[str]:
        rows = sql.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        return {name for (name,) in rows}

    def _create_schema(self, sql: Sql) -> None:
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                sql.execute(statement)

    def _migrate(self, sql: Sql, from_version: int) -> None:
        for statement in _MIGRATIONS[from_version]:
            sql.execute(statement)

    def _add_value_column(self, sql: Sql, col: str) -> None:
        sql.execute(f"ALTER TABLE records ADD COLUMN {col} REAL")

    def _insert_records(self, sql: Sql, columns: list[str], rows: list[tuple[Any, ...]]) -> int:
        names = ", ".join([*RECORD_FIELDS, *columns])
        marks = ", ".join("?" * (len(RECORD_FIELDS) + len(columns)))
        statement = f"INSERT INTO records ({names}) VALUES ({marks}) ON CONFLICT DO NOTHING"
        return sql.executemany(statement, rows).rowcount
