"""The record store: one SQLite file in WAL mode (the only module that touches the database).

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
- **Fast enough to read.** DuckDB reads columns far faster, but ``record_columns`` of 1M records
  from SQLite takes a few seconds, which is within budget for the analysis.
- **No new dependency** (stdlib ``sqlite3``), and the same SQL maps onto PostgreSQL later.

Layout: ``runs`` (name, start/end ns, flow rev, DAG as node-link JSON), ``streams`` (one per run
and tap ``boot``), ``records`` (one row per record, the schema fields as typed columns and every
payload value path in its own REAL column ``v1, v2, ...`` added on first sight, mapped in
``value_columns``; ``run_paths`` says which a run uses), ``rejected`` (bad records with the
reason). ``(stream_id, seq)`` is unique, so a redelivered batch (MQTT QoS 1 is at least once) is
stored once. Durability: every batch is one transaction; with ``synchronous=NORMAL`` a committed
batch survives a crash of the process (what the collector acks on), ``synchronous="FULL"`` also a
power loss.

PostgreSQL later: keep this class's public methods as the contract (a ``Store`` protocol) and add a
``PgStore`` with the same tables (``ALTER TABLE ... ADD COLUMN`` for value paths works there too,
or a ``jsonb`` column); nothing outside this module writes SQL.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from nodered_causal.collector.completeness import Completeness, completeness
from nodered_causal.errors import StoreError, UnstorableRecordError
from nodered_causal.tap.records import KINDS, STATS_FIELDS, Rejected

__all__ = [
    "RECORD_KEYS",
    "InsertResult",
    "RecordStore",
    "RejectedRow",
    "Run",
    "Store",
    "open_store",
]

logger = logging.getLogger(__name__)

#: The fixed keys of :meth:`Store.record_columns` (payload value paths follow).
RECORD_KEYS: tuple[str, ...] = (
    "tap",
    "boot",
    "seq",
    "ts_ns",
    "kind",
    "src",
    "port",
    "dst",
    "trace",
    "parent",
    "latency_ns",
    "bytes",
    "error",
)
SCHEMA_VERSION = 1
#: Payload value paths beyond this many columns go to the ``extra_values`` JSON column.
MAX_VALUE_COLUMNS = 1500
_FIELDS = (
    "seq",
    "ts_ns",
    "kind",
    "src",
    "port",
    "dst",
    "trace",
    "parent",
    "latency_ns",
    "bytes",
    "error",
)
_RECORD_INSERT = (
    "stream_id, run_id, seq, ts_ns, kind, src, port, dst, trace, parent, latency_ns, bytes, error, "
    "ptype, plen, recorded, dropped, failed, queue, extra_values, values_cut"
)
#: What a record can make the store raise while binding it (a value out of SQLite's range, text
#: that is not UTF-8): that record is unstorable, the store itself is fine.
_RECORD_FAULTS = (
    OverflowError,
    UnicodeError,
    ValueError,
    TypeError,
    sqlite3.IntegrityError,
    sqlite3.DataError,
    sqlite3.InterfaceError,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, start_ns INTEGER NOT NULL,
    end_ns INTEGER, flow_rev TEXT, dag_json TEXT, note TEXT);
CREATE TABLE IF NOT EXISTS streams (
    id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL, tap TEXT NOT NULL, boot TEXT NOT NULL,
    UNIQUE (run_id, tap, boot));
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY, stream_id INTEGER NOT NULL, run_id INTEGER NOT NULL,
    seq INTEGER NOT NULL, ts_ns INTEGER NOT NULL, kind TEXT NOT NULL, src TEXT, port INTEGER,
    dst TEXT, trace INTEGER, parent INTEGER, latency_ns INTEGER, bytes INTEGER, error TEXT,
    ptype TEXT, plen INTEGER, recorded INTEGER, dropped INTEGER, failed INTEGER, queue INTEGER,
    extra_values TEXT, values_cut INTEGER);
CREATE UNIQUE INDEX IF NOT EXISTS records_stream_seq ON records (stream_id, seq);
CREATE INDEX IF NOT EXISTS records_run ON records (run_id);
CREATE TABLE IF NOT EXISTS value_columns (path TEXT PRIMARY KEY, col TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS run_paths (
    run_id INTEGER NOT NULL, path TEXT NOT NULL, PRIMARY KEY (run_id, path)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rejected (
    id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL, received_ns INTEGER NOT NULL,
    reason TEXT NOT NULL, tap TEXT, boot TEXT, seq INTEGER, raw TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS rejected_run ON rejected (run_id);
"""


@dataclass(frozen=True)
class Run:
    """A named recording: when, against which flow revision and DAG, from which taps."""

    id: int
    name: str
    start_ns: int
    end_ns: int | None
    flow_rev: str | None
    dag: dict[str, Any] | None
    taps: tuple[str, ...]
    note: str | None = None

    @property
    def open(self) -> bool:
        return self.end_ns is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "start_ns": self.start_ns,
            "end_ns": self.end_ns,
            "flow_rev": self.flow_rev,
            "taps": list(self.taps),
            "nodes": len(self.dag.get("nodes", [])) if self.dag else None,
            "note": self.note,
        }


@dataclass(frozen=True)
class InsertResult:
    """What one :meth:`Store.insert` did."""

    inserted: int
    duplicates: int
    rejected: int


@dataclass(frozen=True)
class RejectedRow:
    """A rejected record as stored."""

    received_ns: int
    reason: str
    raw: str
    tap: str | None
    boot: str | None
    seq: int | None


class RecordStore(Protocol):
    """What the collector, the CLI and the analysis need from a store (:class:`Store` is the
    SQLite one; a PostgreSQL one would implement the same)."""

    def start_run(
        self,
        name: str,
        *,
        flow_rev: str | None = None,
        dag: Mapping[str, Any] | None = None,
        start_ns: int | None = None,
        note: str | None = None,
        resume: bool = False,
    ) -> Run: ...

    def end_run(self, run: str | Run, *, end_ns: int | None = None) -> Run: ...

    def run(self, run: str | int | Run) -> Run: ...

    def runs(self) -> list[Run]: ...

    def insert(
        self,
        run: str | Run,
        records: Sequence[Mapping[str, Any]],
        rejected: Sequence[Rejected] = (),
        *,
        received_ns: int | None = None,
    ) -> InsertResult: ...

    def record_columns(
        self,
        run: str | Run,
        kinds: Iterable[str] = ("deliver", "error"),
        *,
        since_ns: int | None = None,
        until_ns: int | None = None,
    ) -> dict[str, list[Any]]: ...

    def rejected(self, run: str | Run, *, limit: int | None = None) -> list[RejectedRow]: ...

    def counts(self, run: str | Run) -> dict[str, int]: ...

    def completeness(self, run: str | Run) -> list[Completeness]: ...

    def close(self) -> None: ...


def open_store(location: str | Path, *, create: bool = True) -> Store:
    """The store at ``location``: a file path (SQLite). ``postgresql://`` URLs are reserved."""
    text = str(location)
    if text.startswith(("postgres://", "postgresql://")):
        raise StoreError(f"PostgreSQL stores are not built yet ({text.split('@')[-1]}); use a file")
    return Store(location, create=create)


class Store:
    """A record store in one SQLite file; thread-safe (one connection behind a lock).

    ``Store(path)`` creates the file if needed; ``create=False`` raises :class:`StoreError` when
    it does not exist. Use one ``Store`` per process; any number of processes may read while one
    records.
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
        if not create and not self.path.exists():
            raise StoreError(f"no record store at {self.path}")
        self._lock = threading.RLock()
        try:
            self._conn = sqlite3.connect(
                str(self.path), timeout=timeout, isolation_level=None, check_same_thread=False
            )
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(f"PRAGMA synchronous={synchronous}")
            with self._write():
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        self._conn.execute(statement)
                self._conn.execute(
                    "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
                columns = {row[1] for row in self._conn.execute("PRAGMA table_info(records)")}
                if "values_cut" not in columns:  # a store written before values were capped
                    self._conn.execute("ALTER TABLE records ADD COLUMN values_cut INTEGER")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open record store {self.path}: {exc}") from exc
        self._columns: dict[str, str] = {}
        self._streams: dict[tuple[int, str, str], int] = {}

    # -- lifecycle -------------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- runs ------------------------------------------------------------------------------------

    def start_run(
        self,
        name: str,
        *,
        flow_rev: str | None = None,
        dag: Mapping[str, Any] | None = None,
        start_ns: int | None = None,
        note: str | None = None,
        resume: bool = False,
    ) -> Run:
        """Create run ``name``.

        With ``resume``, an existing run of that name is continued instead (reopened if it had
        ended; ``flow_rev``/``dag`` are set where given): a restarted collector appends.
        """
        if not name or not name.strip():
            raise StoreError("a run needs a non-empty name")
        with self._write():
            row = self._conn.execute("SELECT end_ns FROM runs WHERE name = ?", (name,)).fetchone()
            if row is not None and not resume:
                state = "still open" if row[0] is None else "ended"
                raise StoreError(f"run {name!r} already exists in {self.path} ({state})")
            if row is not None:
                self._conn.execute(
                    "UPDATE runs SET end_ns = NULL, flow_rev = coalesce(?, flow_rev), "
                    "dag_json = coalesce(?, dag_json) WHERE name = ?",
                    (flow_rev, _dump(dag), name),
                )
            else:
                self._conn.execute(
                    "INSERT INTO runs (name, start_ns, flow_rev, dag_json, note) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (
                        name,
                        time.time_ns() if start_ns is None else start_ns,
                        flow_rev,
                        _dump(dag),
                        note,
                    ),
                )
        return self.run(name)

    def end_run(self, run: str | Run, *, end_ns: int | None = None) -> Run:
        """Mark a run ended (now, or at ``end_ns``)."""
        run_id = self.run(run).id
        with self._write():
            self._conn.execute(
                "UPDATE runs SET end_ns = ? WHERE id = ?",
                (time.time_ns() if end_ns is None else end_ns, run_id),
            )
        return self.run(run_id)

    def run(self, run: str | int | Run) -> Run:
        """The run named ``run`` (or with that id); :class:`StoreError` if there is none."""
        key = run.id if isinstance(run, Run) else run
        column = "name" if isinstance(key, str) else "id"
        with self._read() as conn:
            row = conn.execute(
                "SELECT id, name, start_ns, end_ns, flow_rev, dag_json, note FROM runs "
                f"WHERE {column} = ?",
                (key,),
            ).fetchone()
            if row is None:
                names = [r[0] for r in conn.execute("SELECT name FROM runs ORDER BY id")]
                known = ", ".join(repr(n) for n in names[-10:]) or "none"
                raise StoreError(f"no run {key!r} in {self.path} (runs: {known})")
            return self._run_from_row(conn, row)

    def runs(self) -> list[Run]:
        """All runs, oldest first."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT id, name, start_ns, end_ns, flow_rev, dag_json, note FROM runs ORDER BY id"
            ).fetchall()
            return [self._run_from_row(conn, row) for row in rows]

    def delete_run(self, run: str | Run) -> None:
        """Delete a run with its records and rejected records."""
        run_id = self.run(run).id
        with self._write():
            for table in ("records", "rejected", "streams", "run_paths"):
                self._conn.execute(f"DELETE FROM {table} WHERE run_id = ?", (run_id,))
            self._conn.execute("DELETE FROM runs WHERE id = ?", (run_id,))
        self._streams = {k: v for k, v in self._streams.items() if k[0] != run_id}

    # -- writing ---------------------------------------------------------------------------------

    def insert(
        self,
        run: str | Run,
        records: Sequence[Mapping[str, Any]],
        rejected: Sequence[Rejected] = (),
        *,
        received_ns: int | None = None,
    ) -> InsertResult:
        """Store valid records (see :func:`~nodered_causal.tap.records.parse_batch`) and rejected
        ones of ``run`` in one transaction. Records already stored (same tap, boot, seq) are
        skipped and counted as duplicates.

        Raises :class:`UnstorableRecordError` (nothing stored) when a record holds a value the
        store cannot take, :class:`StoreError` when the store fails (locked, full, I/O).
        """
        run_id = run.id if isinstance(run, Run) else self.run(run).id
        now = time.time_ns() if received_ns is None else received_ns
        try:
            return self._insert(run_id, records, rejected, now)
        except _RECORD_FAULTS as exc:
            raise UnstorableRecordError(str(exc)) from exc
        except StoreError as exc:
            if isinstance(exc.__cause__, _RECORD_FAULTS):
                raise UnstorableRecordError(str(exc.__cause__)) from exc.__cause__
            raise

    def _insert(
        self,
        run_id: int,
        records: Sequence[Mapping[str, Any]],
        rejected: Sequence[Rejected],
        now: int,
    ) -> InsertResult:
        all_values = [_values(rec) for rec in records]
        paths = list(dict.fromkeys(p for values in all_values for p in values))
        with self._write():
            self._ensure_columns(run_id, paths)
            columns = [p for p in paths if p in self._columns]
            rows = [
                self._row(run_id, rec, values, columns)
                for rec, values in zip(records, all_values, strict=True)
            ]
            inserted = self._insert_rows(columns, rows) if rows else 0
            if rejected:
                self._conn.executemany(
                    "INSERT INTO rejected (run_id, received_ns, reason, tap, boot, seq, raw) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(run_id, now, r.reason, r.tap, r.boot, r.seq, r.raw) for r in rejected],
                )
        return InsertResult(inserted, len(records) - inserted, len(rejected))

    def _row(
        self, run_id: int, rec: Mapping[str, Any], values: dict[str, float], columns: list[str]
    ) -> tuple[Any, ...]:
        """The row of ``rec``: its fields, then its value of each of ``columns`` (value paths
        without a column of their own go into the ``extra_values`` JSON)."""
        stream = self._stream_id(run_id, rec["tap"], rec["boot"])
        payload = rec.get("payload") or {}
        stats = [rec.get(n) for n in STATS_FIELDS] if rec["kind"] == "stats" else [None] * 4
        extra = {p: v for p, v in values.items() if p not in self._columns}
        return (
            stream,
            run_id,
            *(rec.get(f) for f in _FIELDS),
            payload.get("type"),
            payload.get("len"),
            *stats,
            json.dumps(extra) if extra else None,
            payload.get("values_cut"),
            *(values.get(p) for p in columns),
        )

    def _insert_rows(self, paths: list[str], rows: list[tuple[Any, ...]]) -> int:
        cols = [self._columns[p] for p in paths]
        names = ", ".join([_RECORD_INSERT, *cols])
        marks = ", ".join("?" * (21 + len(cols)))
        sql = f"INSERT INTO records ({names}) VALUES ({marks}) ON CONFLICT DO NOTHING"
        return self._conn.executemany(sql, rows).rowcount

    def _stream_id(self, run_id: int, tap: str, boot: str) -> int:
        key = (run_id, tap, boot)
        stream = self._streams.get(key)
        if stream is None:
            self._conn.execute(
                "INSERT OR IGNORE INTO streams (run_id, tap, boot) VALUES (?, ?, ?)", key
            )
            (stream,) = self._conn.execute(
                "SELECT id FROM streams WHERE run_id = ? AND tap = ? AND boot = ?", key
            ).fetchone()
            self._streams[key] = stream
        return stream

    def _ensure_columns(self, run_id: int, paths: list[str]) -> None:
        missing = set(paths) - self._columns.keys()
        if missing:
            self._columns = dict(self._conn.execute("SELECT path, col FROM value_columns"))
            for path in sorted(missing - self._columns.keys()):
                if len(self._columns) >= MAX_VALUE_COLUMNS:
                    logger.warning("over %d value paths: %r kept as JSON", MAX_VALUE_COLUMNS, path)
                    continue
                col = f"v{len(self._columns) + 1}"
                self._conn.execute(f"ALTER TABLE records ADD COLUMN {col} REAL")
                self._conn.execute("INSERT INTO value_columns VALUES (?, ?)", (path, col))
                self._columns[path] = col
        if paths:
            self._conn.executemany(
                "INSERT OR IGNORE INTO run_paths VALUES (?, ?)", [(run_id, p) for p in paths]
            )

    # -- reading ---------------------------------------------------------------------------------

    def record_columns(
        self,
        run: str | Run,
        kinds: Iterable[str] = ("deliver", "error"),
        *,
        since_ns: int | None = None,
        until_ns: int | None = None,
    ) -> dict[str, list[Any]]:
        """The run's records of ``kinds`` as columns, in arrival order.

        ``since_ns``/``until_ns`` keep only records the tap stamped in ``[since_ns, until_ns)``
        (a time slice of a long recording).

        Keys: :data:`RECORD_KEYS`, then one per payload value path the run has (None where a
        record has no such value); with ``"stats"`` in ``kinds`` also ``recorded, dropped,
        failed, queue``.
        """
        kinds = tuple(kinds)
        unknown = [k for k in kinds if k not in KINDS]
        if unknown:
            raise StoreError(f"unknown record kind(s) {unknown} (known: {', '.join(KINDS)})")
        run_id = self.run(run).id
        with self._read() as conn:
            streams = {
                sid: (tap, boot)
                for sid, tap, boot in conn.execute(
                    "SELECT id, tap, boot FROM streams WHERE run_id = ?", (run_id,)
                )
            }
            mapping = dict(conn.execute("SELECT path, col FROM value_columns"))
            paths = sorted(
                p for (p,) in conn.execute("SELECT path FROM run_paths WHERE run_id = ?", (run_id,))
            )
            stored = [p for p in paths if p in mapping]
            stats = list(STATS_FIELDS) if "stats" in kinds else []
            select = ["stream_id", *_FIELDS, *stats, *(mapping[p] for p in stored), "extra_values"]
            marks = ", ".join("?" * len(kinds))
            rows = conn.execute(
                f"SELECT {', '.join(select)} FROM records "
                f"WHERE run_id = ? AND kind IN ({marks}) AND ts_ns >= ? AND ts_ns < ? ORDER BY id",
                (run_id, *kinds, since_ns or 0, until_ns if until_ns is not None else 2**63 - 1),
            ).fetchall()
        columns = [list(c) for c in zip(*rows, strict=True)] if rows else [[] for _ in select]
        stream_col = columns[0]
        out: dict[str, list[Any]] = {
            "tap": [streams[s][0] for s in stream_col],
            "boot": [streams[s][1] for s in stream_col],
        }
        by_name = dict(zip(select, columns, strict=True))
        for key in RECORD_KEYS[2:]:
            out[key] = by_name[key]
        for name in stats:
            out[name] = by_name[name]
        for path in stored:
            out[path] = by_name[mapping[path]]
        _merge_extra(out, by_name["extra_values"], [p for p in paths if p not in mapping])
        return out

    def rejected(self, run: str | Run, *, limit: int | None = None) -> list[RejectedRow]:
        """The run's rejected records, oldest first."""
        run_id = self.run(run).id
        with self._read() as conn:
            rows = conn.execute(
                "SELECT received_ns, reason, raw, tap, boot, seq FROM rejected WHERE run_id = ? "
                "ORDER BY id LIMIT ?",
                (run_id, -1 if limit is None else limit),
            ).fetchall()
        return [RejectedRow(*row) for row in rows]

    def counts(self, run: str | Run) -> dict[str, int]:
        """Number of stored records per kind, plus ``rejected`` and ``values_cut`` (payload values
        beyond :data:`~nodered_causal.tap.records.MAX_VALUES` per record, not kept)."""
        run_id = self.run(run).id
        with self._read() as conn:
            counts = dict.fromkeys(KINDS, 0)
            counts.update(
                conn.execute(
                    "SELECT kind, count(*) FROM records WHERE run_id = ? GROUP BY kind", (run_id,)
                ).fetchall()
            )
            (counts["rejected"],) = conn.execute(
                "SELECT count(*) FROM rejected WHERE run_id = ?", (run_id,)
            ).fetchone()
            (counts["values_cut"],) = conn.execute(
                "SELECT coalesce(sum(values_cut), 0) FROM records WHERE run_id = ?", (run_id,)
            ).fetchone()
        return counts

    def completeness(self, run: str | Run) -> list[Completeness]:
        """Per tap stream of the run: records received, seq gaps, tap drops, transport loss."""
        run_id = self.run(run).id
        seqs: dict[tuple[str, str], list[int]] = defaultdict(list)
        stats: dict[tuple[str, str], list[tuple[int, dict[str, Any]]]] = defaultdict(list)
        bad: dict[tuple[str, str], list[int]] = defaultdict(list)
        with self._read() as conn:
            for sid, tap, boot in conn.execute(
                "SELECT id, tap, boot FROM streams WHERE run_id = ? ORDER BY id", (run_id,)
            ).fetchall():
                seqs[(tap, boot)] = [
                    s
                    for (s,) in conn.execute("SELECT seq FROM records WHERE stream_id = ?", (sid,))
                ]
                stats[(tap, boot)] = [
                    (row[0], dict(zip(STATS_FIELDS, row[1:], strict=True)))
                    for row in conn.execute(
                        "SELECT seq, recorded, dropped, failed, queue FROM records "
                        "WHERE stream_id = ? AND kind = 'stats'",
                        (sid,),
                    )
                ]
            for tap, boot, seq in conn.execute(
                "SELECT tap, boot, seq FROM rejected WHERE run_id = ? AND tap IS NOT NULL "
                "AND boot IS NOT NULL AND seq IS NOT NULL",
                (run_id,),
            ):
                bad[(tap, boot)].append(seq)
        return [
            completeness(k[0], k[1], seqs[k], rejected_seqs=bad[k], stats=stats[k])
            for k in sorted(set(seqs) | set(bad))
        ]

    # -- internals -------------------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[None]:
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreError(f"cannot write to {self.path}: {exc}") from exc
            try:
                yield
            except BaseException as exc:
                self._rollback()
                if isinstance(exc, sqlite3.Error):
                    raise StoreError(f"cannot write to {self.path}: {exc}") from exc
                raise
            try:
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise StoreError(f"cannot commit to {self.path}: {exc}") from exc

    def _rollback(self) -> None:
        """Roll back what is left of a failed transaction (SQLite already rolled back some, e.g.
        after SQLITE_FULL); the caches may name columns or streams that were rolled back."""
        self._columns, self._streams = {}, {}
        if self._conn.in_transaction:
            try:
                self._conn.execute("ROLLBACK")
            except sqlite3.Error as exc:  # the original error is the one to report
                logger.warning("rollback of %s failed: %s", self.path, exc)

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._conn.execute("BEGIN")
                try:
                    yield self._conn
                finally:
                    self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StoreError(f"cannot read {self.path}: {exc}") from exc

    @staticmethod
    def _run_from_row(conn: sqlite3.Connection, row: tuple[Any, ...]) -> Run:
        run_id, name, start_ns, end_ns, flow_rev, dag_json, note = row
        taps = tuple(
            t
            for (t,) in conn.execute(
                "SELECT DISTINCT tap FROM streams WHERE run_id = ? ORDER BY tap", (run_id,)
            )
        )
        dag = json.loads(dag_json) if dag_json else None
        return Run(run_id, name, start_ns, end_ns, flow_rev, dag, taps, note)


def _dump(obj: Mapping[str, Any] | None) -> str | None:
    return json.dumps(obj, separators=(",", ":")) if obj is not None else None


def _values(rec: Mapping[str, Any]) -> dict[str, float]:
    payload = rec.get("payload")
    if not payload:
        return {}
    values = payload.get("values")
    if not values:
        return {}
    return {p: float(v) for p, v in values.items() if v is not None}


def _merge_extra(out: dict[str, list[Any]], extra_col: list[Any], paths: list[str]) -> None:
    """Add the value paths kept as JSON (beyond MAX_VALUE_COLUMNS) to ``out``."""
    if not paths:
        return
    parsed = [json.loads(e) if e else {} for e in extra_col]
    for path in paths:
        out[path] = [d.get(path) for d in parsed]
