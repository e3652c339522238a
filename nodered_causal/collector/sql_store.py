"""What both SQL backends share: the tables' logic above the dialect (runs, rows, columns, checks).

Both backends keep the same layout, so everything here is written once:

- ``meta`` (``application``, ``schema_version``), ``runs`` (name, start/end ns, flow rev, DAG as
  node-link JSON), ``streams`` (one per run and tap ``boot``, unique (run, tap, boot));
- ``records``: one row per record, the schema fields as typed columns and every payload value
  path in a REAL column of its own (``v1, v2, ...``, added on first sight, mapped in
  ``value_columns``; ``run_paths`` says which a run uses; paths beyond :data:`MAX_VALUE_COLUMNS`
  go to the ``extra_values`` JSON text; ``parents``, the seqs a join or batch combined, as text
  ``"12,13,14"``). ``(stream, seq)`` is unique: a redelivered record is stored once;
- ``rejected``: records that failed validation, with the reason and the raw text;
- ``records.values_cut`` (schema 4): payload values beyond
  :data:`~nodered_causal.tap.records.MAX_VALUES` that validation cut from the record.

A backend supplies the dialect (:class:`SqlStore`'s abstract methods): transactions, the DDL of
a new store and of each migration, adding a value column, and the bulk insert itself.
"""

from __future__ import annotations

import abc
import json
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, Self

from nodered_causal.collector.completeness import Completeness, completeness
from nodered_causal.collector.store_api import (
    APPLICATION,
    RECORD_KEYS,
    SCHEMA_VERSION,
    InsertResult,
    RejectedRow,
    Run,
)
from nodered_causal.errors import StoreError, UnstorableRecordError
from nodered_causal.tap.records import KINDS, STATS_FIELDS, Rejected

__all__ = ["MAX_VALUE_COLUMNS", "RECORD_FIELDS", "Rows", "Sql", "SqlStore"]

logger = logging.getLogger(__name__)

#: Payload value paths beyond this many columns go to the ``extra_values`` JSON column.
MAX_VALUE_COLUMNS = 1500
_FIELDS = RECORD_KEYS[2:]  # the record fields stored as they are (tap/boot via the stream)
#: The columns of ``records`` a bulk insert writes, in row order (value columns follow).
RECORD_FIELDS: tuple[str, ...] = (
    "stream_id",
    "run_id",
    *_FIELDS,
    "ptype",
    "plen",
    *STATS_FIELDS,
    "extra_values",
    "values_cut",
    "counts",
)
#: What a record can make a driver raise while binding it (a value out of the database's range,
#: text that is not UTF-8): that record is unstorable, the store itself is fine.
_RECORD_FAULTS: tuple[type[BaseException], ...] = (
    OverflowError,
    UnicodeError,
    ValueError,
    TypeError,
)
_MAX_TS = 2**63 - 1
#: Tables that mark a schema-version-1 store (written before ``meta.application`` existed).
_V1_TABLES = frozenset({"meta", "runs", "streams", "records", "value_columns", "rejected"})


class Rows(Protocol):
    """The result of one statement (a DB-API cursor)."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Sql(Protocol):
    """Statements inside one transaction; SQL uses ``?`` placeholders in both backends."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Rows: ...

    def executemany(self, sql: str, params: Iterable[Sequence[Any]]) -> Rows: ...


class SqlStore(abc.ABC):
    """A record store on a SQL database; thread-safe (one connection behind a lock)."""

    location: str

    def __init__(self, location: str) -> None:
        self.location = location
        self._lock = threading.RLock()
        self._columns: dict[str, str] = {}
        self._overflow: set[str] = set()  # value paths known to live in extra_values
        self._streams: dict[tuple[int, str, str], int] = {}

    # -- the dialect -----------------------------------------------------------------------------

    @abc.abstractmethod
    def _write(self) -> AbstractContextManager[Sql]:
        """A write transaction (committed on exit, rolled back on an exception)."""

    @abc.abstractmethod
    def _read(self) -> AbstractContextManager[Sql]:
        """A read transaction that sees one snapshot."""

    @abc.abstractmethod
    def _tables(self, sql: Sql) -> set[str]:
        """The names of the tables in the store's database (schema)."""

    @abc.abstractmethod
    def _create_schema(self, sql: Sql) -> None:
        """Create the tables of :data:`SCHEMA_VERSION` in an empty database."""

    @abc.abstractmethod
    def _migrate(self, sql: Sql, from_version: int) -> None:
        """Bring the schema from ``from_version`` to ``from_version + 1``."""

    @abc.abstractmethod
    def _add_value_column(self, sql: Sql, col: str) -> None:
        """``ALTER TABLE records ADD COLUMN col`` (a nullable float)."""

    @abc.abstractmethod
    def _insert_records(self, sql: Sql, columns: list[str], rows: list[tuple[Any, ...]]) -> int:
        """Insert ``rows`` (:data:`RECORD_FIELDS` then ``columns``), skipping rows whose (stream,
        seq) is stored; returns how many were inserted."""

    def _serialize(self, sql: Sql) -> None:  # noqa: B027 (a hook, empty for SQLite)
        """Serialize schema changes between processes (SQLite's write lock already does)."""

    def _is_record_fault(self, exc: BaseException) -> bool:
        """Whether a driver error is about a record's values (its integrity or data errors),
        not about the store (locked, full, I/O, gone)."""
        return isinstance(exc, _RECORD_FAULTS)

    def _prepare_batch(self, records: Sequence[Mapping[str, Any]]) -> None:  # noqa: B027
        """Anything a batch needs before its transaction (PostgreSQL: its time partitions)."""

    @abc.abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- schema ----------------------------------------------------------------------------------

    def _open_schema(self, *, create: bool) -> None:
        """Check what the database holds; create, migrate, or refuse it untouched."""
        with self._read() as sql:
            tables = self._tables(sql)
            version = self._version(sql, tables) if tables else None
        if version == SCHEMA_VERSION:
            return
        if version is None and not create:
            raise StoreError(f"no record store at {self.location} (the database is empty)")
        with self._write() as sql:
            self._serialize(sql)
            tables = self._tables(sql)  # again: another process may have done it meanwhile
            version = self._version(sql, tables) if tables else None
            if version is None:
                self._create_schema(sql)
                sql.executemany(
                    "INSERT INTO meta (key, value) VALUES (?, ?)",
                    [("application", APPLICATION), ("schema_version", str(SCHEMA_VERSION))],
                )
                logger.info("created record store %s (schema %d)", self.location, SCHEMA_VERSION)
                return
            for step in range(version, SCHEMA_VERSION):
                self._migrate(sql, step)
                logger.info("migrated %s from schema %d to %d", self.location, step, step + 1)
            sql.execute(
                "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),)
            )
            sql.execute(
                "INSERT INTO meta (key, value) VALUES ('application', ?) ON CONFLICT DO NOTHING",
                (APPLICATION,),
            )

    def _version(self, sql: Sql, tables: set[str]) -> int:
        """The schema version of a non-empty database; StoreError if it is not ours or newer."""
        listed = ", ".join(sorted(tables)[:8]) + (", ..." if len(tables) > 8 else "")
        foreign = StoreError(
            f"{self.location} is not a nodered-causal record store (it has tables {listed}); "
            "left untouched"
        )
        if "meta" not in tables:
            raise foreign
        try:
            meta = dict(sql.execute("SELECT key, value FROM meta").fetchall())
            version = int(meta.get("schema_version", ""))
        except (ValueError, TypeError, StoreError):
            raise foreign from None
        app = meta.get("application")
        if app is None and not (version == 1 and tables >= _V1_TABLES):
            raise foreign
        if app not in (None, APPLICATION):
            raise foreign
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.location} has schema version {version}, newer than this nodered-causal "
                f"understands ({SCHEMA_VERSION}): upgrade nodered-causal; left untouched"
            )
        return version

    def schema_version(self) -> int:
        with self._read() as sql:
            (value,) = sql.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return int(value)

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
        ended; ``flow_rev``/``dag`` are set where given): a restarted collector appends, and
        collectors sharing a subscription all write into the one run.
        """
        if not name or not name.strip():
            raise StoreError("a run needs a non-empty name")
        with self._write() as sql:
            created = sql.execute(
                "INSERT INTO runs (name, start_ns, flow_rev, dag_json, note) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
                (
                    name,
                    time.time_ns() if start_ns is None else start_ns,
                    flow_rev,
                    _dump(dag),
                    note,
                ),
            ).rowcount
            if not created:
                if not resume:
                    (end,) = sql.execute(
                        "SELECT end_ns FROM runs WHERE name = ?", (name,)
                    ).fetchone()
                    state = "still open" if end is None else "ended"
                    raise StoreError(f"run {name!r} already exists in {self.location} ({state})")
                sql.execute(
                    "UPDATE runs SET end_ns = NULL, flow_rev = coalesce(?, flow_rev), "
                    "dag_json = coalesce(?, dag_json) WHERE name = ?",
                    (flow_rev, _dump(dag), name),
                )
        return self.run(name)

    def end_run(self, run: str | Run, *, end_ns: int | None = None) -> Run:
        """Mark a run ended (now, or at ``end_ns``)."""
        run_id = self.run(run).id
        with self._write() as sql:
            sql.execute(
                "UPDATE runs SET end_ns = ? WHERE id = ?",
                (time.time_ns() if end_ns is None else end_ns, run_id),
            )
        return self.run(run_id)

    def run(self, run: str | int | Run) -> Run:
        """The run named ``run`` (or with that id); :class:`StoreError` if there is none."""
        key = run.id if isinstance(run, Run) else run
        column = "name" if isinstance(key, str) else "id"
        with self._read() as sql:
            row = sql.execute(
                "SELECT id, name, start_ns, end_ns, flow_rev, dag_json, note FROM runs "
                f"WHERE {column} = ?",
                (key,),
            ).fetchone()
            if row is None:
                names = [r[0] for r in sql.execute("SELECT name FROM runs ORDER BY id")]
                known = ", ".join(repr(n) for n in names[-10:]) or "none"
                raise StoreError(f"no run {key!r} in {self.location} (runs: {known})")
            return _run_from_row(sql, row)

    def runs(self) -> list[Run]:
        """All runs, oldest first."""
        with self._read() as sql:
            rows = sql.execute(
                "SELECT id, name, start_ns, end_ns, flow_rev, dag_json, note FROM runs ORDER BY id"
            ).fetchall()
            return [_run_from_row(sql, row) for row in rows]

    def delete_run(self, run: str | Run) -> None:
        """Delete a run with its records and rejected records."""
        run_id = self.run(run).id
        with self._write() as sql:
            for table in ("records", "rejected", "streams", "run_paths"):
                sql.execute(f"DELETE FROM {table} WHERE run_id = ?", (run_id,))
            sql.execute("DELETE FROM runs WHERE id = ?", (run_id,))
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
        database cannot take, :class:`StoreError` when the store fails (locked, full, I/O).
        """
        run_id = run.id if isinstance(run, Run) else self.run(run).id
        now = time.time_ns() if received_ns is None else received_ns
        try:
            return self._insert(run_id, records, rejected, now)
        except StoreError as exc:
            if exc.__cause__ is not None and self._is_record_fault(exc.__cause__):
                raise UnstorableRecordError(str(exc)) from exc.__cause__
            raise
        except _RECORD_FAULTS as exc:
            raise UnstorableRecordError(str(exc)) from exc

    def _insert(
        self,
        run_id: int,
        records: Sequence[Mapping[str, Any]],
        rejected: Sequence[Rejected],
        now: int,
    ) -> InsertResult:
        all_values = [_values(rec) for rec in records]
        paths = list(dict.fromkeys(p for values in all_values for p in values))
        if any(p not in self._columns and p not in self._overflow for p in paths):
            self._add_value_columns(paths)
        if records:
            self._prepare_batch(records)
        with self._write() as sql:
            columns = [p for p in paths if p in self._columns]
            rows = [
                self._row(sql, run_id, rec, values, columns)
                for rec, values in zip(records, all_values, strict=True)
            ]
            cols = [self._columns[p] for p in columns]
            inserted = self._insert_records(sql, cols, rows) if rows else 0
            if paths:
                sql.executemany(
                    "INSERT INTO run_paths (run_id, path) VALUES (?, ?) ON CONFLICT DO NOTHING",
                    [(run_id, p) for p in paths],
                )
            if rejected:
                sql.executemany(
                    "INSERT INTO rejected (run_id, received_ns, reason, tap, boot, seq, raw) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(run_id, now, r.reason, r.tap, r.boot, r.seq, r.raw) for r in rejected],
                )
        return InsertResult(inserted, len(records) - inserted, len(rejected))

    def _row(
        self,
        sql: Sql,
        run_id: int,
        rec: Mapping[str, Any],
        values: dict[str, float],
        columns: list[str],
    ) -> tuple[Any, ...]:
        """The row of ``rec``: :data:`RECORD_FIELDS`, then its value of each of ``columns``
        (value paths without a column of their own go into the ``extra_values`` JSON)."""
        stream = self._stream_id(sql, run_id, rec["tap"], rec["boot"])
        payload = rec.get("payload") or {}
        stats = [rec.get(n) for n in STATS_FIELDS] if rec["kind"] == "stats" else [None] * 4
        extra = {p: v for p, v in values.items() if p not in self._columns}
        return (
            stream,
            run_id,
            *(_parents_text(rec.get(f)) if f == "parents" else rec.get(f) for f in _FIELDS),
            payload.get("type"),
            payload.get("len"),
            *stats,
            json.dumps(extra) if extra else None,
            payload.get("values_cut"),
            _counts_json(rec) if rec["kind"] == "counts" else None,
            *(values.get(p) for p in columns),
        )

    def _stream_id(self, sql: Sql, run_id: int, tap: str, boot: str) -> int:
        key = (run_id, tap, boot)
        stream = self._streams.get(key)
        if stream is None:
            sql.execute(
                "INSERT INTO streams (run_id, tap, boot) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                key,
            )
            (stream,) = sql.execute(
                "SELECT id FROM streams WHERE run_id = ? AND tap = ? AND boot = ?", key
            ).fetchone()
            self._streams[key] = stream
        return stream

    def _add_value_columns(self, paths: list[str]) -> None:
        """Give new value paths a column each (their own transaction: DDL before the batch)."""
        with self._write() as sql:
            self._serialize(sql)
            self._columns = dict(sql.execute("SELECT path, col FROM value_columns").fetchall())
            for path in sorted(set(paths) - self._columns.keys() - self._overflow):
                if len(self._columns) >= MAX_VALUE_COLUMNS:
                    logger.warning("over %d value paths: %r kept as JSON", MAX_VALUE_COLUMNS, path)
                    self._overflow.add(path)
                    continue
                col = f"v{len(self._columns) + 1}"
                self._add_value_column(sql, col)
                sql.execute("INSERT INTO value_columns (path, col) VALUES (?, ?)", (path, col))
                self._columns[path] = col

    def _forget_caches(self) -> None:
        """After a rollback: what the transaction added to the caches may not exist."""
        self._columns, self._streams, self._overflow = {}, {}, set()

    # -- reading ---------------------------------------------------------------------------------

    def record_columns(
        self,
        run: str | Run | None,
        kinds: Iterable[str] = ("deliver", "error"),
        *,
        since_ns: int | None = None,
        until_ns: int | None = None,
        taps: Collection[str] | None = None,
    ) -> dict[str, list[Any]]:
        """Records of ``kinds`` as columns, in arrival order.

        ``run`` None reads every run. ``since_ns``/``until_ns`` keep only records the tap stamped
        in ``[since_ns, until_ns)`` (a time slice of a long recording); ``taps`` only those of
        these tap instances.

        Keys: :data:`RECORD_KEYS`, then one per payload value path the run has (None where a
        record has no such value); with ``"stats"`` in ``kinds`` also ``recorded, dropped,
        failed, queue``; with ``"counts"`` also ``counts`` (``{"since_ns", "sample", "wires":
        [[src, port, dst, n], ...]}`` of a sampling tap's counts records, else None).
        """
        kinds = tuple(kinds)
        unknown = [k for k in kinds if k not in KINDS]
        if unknown:
            raise StoreError(f"unknown record kind(s) {unknown} (known: {', '.join(KINDS)})")
        run_id = None if run is None else self.run(run).id
        by_run, run_args = ("WHERE run_id = ?", (run_id,)) if run_id is not None else ("", ())
        with self._read() as sql:
            streams = {
                sid: (tap, boot)
                for sid, tap, boot in sql.execute(
                    f"SELECT id, tap, boot FROM streams {by_run}", run_args
                )
                if taps is None or tap in taps
            }
            mapping = dict(sql.execute("SELECT path, col FROM value_columns").fetchall())
            paths = sorted(
                {p for (p,) in sql.execute(f"SELECT path FROM run_paths {by_run}", run_args)}
            )
            stored = [p for p in paths if p in mapping]
            stats = list(STATS_FIELDS) if "stats" in kinds else []
            stats += ["counts"] if "counts" in kinds else []
            select = ["stream_id", *_FIELDS, *stats, *(mapping[p] for p in stored), "extra_values"]
            where = [f"kind IN ({', '.join('?' * len(kinds))})", "ts_ns >= ?", "ts_ns < ?"]
            params: list[Any] = [*kinds, since_ns or 0, _MAX_TS if until_ns is None else until_ns]
            if run_id is not None:
                where.append("run_id = ?")
                params.append(run_id)
            if taps is not None:
                where.append(f"stream_id IN ({', '.join('?' * len(streams)) or 'NULL'})")
                params += list(streams)
            rows = sql.execute(
                f"SELECT {', '.join(select)} FROM records WHERE {' AND '.join(where)} ORDER BY id",
                params,
            ).fetchall()
        columns = [list(c) for c in zip(*rows, strict=True)] if rows else [[] for _ in select]
        stream_col = columns[0]
        out: dict[str, list[Any]] = {
            "tap": [streams[s][0] for s in stream_col],
            "boot": [streams[s][1] for s in stream_col],
        }
        by_name = dict(zip(select, columns, strict=True))
        for key in _FIELDS:
            out[key] = by_name[key]
        out["parents"] = [_parents_list(text) for text in out["parents"]]
        for name in stats:
            out[name] = by_name[name]
        if "counts" in out:
            out["counts"] = [json.loads(c) if c else None for c in out["counts"]]
        for path in stored:
            out[path] = by_name[mapping[path]]
        _merge_extra(out, by_name["extra_values"], [p for p in paths if p not in mapping])
        return out

    def rejected(self, run: str | Run, *, limit: int | None = None) -> list[RejectedRow]:
        """The run's rejected records, oldest first."""
        run_id = self.run(run).id
        with self._read() as sql:
            rows = sql.execute(
                "SELECT received_ns, reason, raw, tap, boot, seq FROM rejected WHERE run_id = ? "
                "ORDER BY id" + ("" if limit is None else f" LIMIT {int(limit)}"),
                (run_id,),
            ).fetchall()
        return [RejectedRow(*row) for row in rows]

    def counts(self, run: str | Run) -> dict[str, int]:
        """Number of stored records per kind, plus ``rejected`` and ``values_cut`` (payload values
        beyond :data:`~nodered_causal.tap.records.MAX_VALUES` per record, not kept)."""
        run_id = self.run(run).id
        with self._read() as sql:
            counts = dict.fromkeys(KINDS, 0)
            counts.update(
                sql.execute(
                    "SELECT kind, count(*) FROM records WHERE run_id = ? GROUP BY kind", (run_id,)
                ).fetchall()
            )
            (rejected,) = sql.execute(
                "SELECT count(*) FROM rejected WHERE run_id = ?", (run_id,)
            ).fetchone()
            (cut,) = sql.execute(
                "SELECT coalesce(sum(values_cut), 0) FROM records WHERE run_id = ?", (run_id,)
            ).fetchone()
        counts["rejected"] = int(rejected)
        counts["values_cut"] = int(cut)
        return {k: int(v) for k, v in counts.items()}

    def completeness(self, run: str | Run) -> list[Completeness]:
        """Per tap stream of the run: records received, seq gaps, tap drops, transport loss."""
        run_id = self.run(run).id
        seqs: dict[tuple[str, str], list[int]] = defaultdict(list)
        stats: dict[tuple[str, str], list[tuple[int, dict[str, Any]]]] = defaultdict(list)
        bad: dict[tuple[str, str], list[int]] = defaultdict(list)
        with self._read() as sql:
            for sid, tap, boot in sql.execute(
                "SELECT id, tap, boot FROM streams WHERE run_id = ? ORDER BY id", (run_id,)
            ).fetchall():
                seqs[(tap, boot)] = [
                    s for (s,) in sql.execute("SELECT seq FROM records WHERE stream_id = ?", (sid,))
                ]
                stats[(tap, boot)] = [
                    (row[0], dict(zip(STATS_FIELDS, row[1:], strict=True)))
                    for row in sql.execute(
                        "SELECT seq, recorded, dropped, failed, queue FROM records "
                        "WHERE stream_id = ? AND kind = 'stats'",
                        (sid,),
                    )
                ]
            for tap, boot, seq in sql.execute(
                "SELECT tap, boot, seq FROM rejected WHERE run_id = ? AND tap IS NOT NULL "
                "AND boot IS NOT NULL AND seq IS NOT NULL",
                (run_id,),
            ):
                bad[(tap, boot)].append(seq)
        return [
            completeness(k[0], k[1], seqs[k], rejected_seqs=bad[k], stats=stats[k])
            for k in sorted(set(seqs) | set(bad))
        ]

    # -- incidents, watch state, deploys (watch) --------------------------------------------------

    def put_incident(self, doc: Mapping[str, Any]) -> None:
        """Insert or replace incident ``doc`` (see :class:`~.store_api.RecordStore`)."""
        row = (
            str(doc["id"]),
            str(doc["target"]),
            str(doc.get("signal") or ""),
            str(doc["state"]),
            int(doc["changed_ns"]),
            int(doc["detected_ns"]),
            int(doc.get("updated_ns") or doc["detected_ns"]),
            None if doc.get("closed_ns") is None else int(doc["closed_ns"]),
            json.dumps(doc, default=str),
        )
        with self._write() as sql:
            sql.execute(
                "INSERT INTO incidents (id, target, signal, state, changed_ns, detected_ns, "
                "updated_ns, closed_ns, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET state = excluded.state, "
                "updated_ns = excluded.updated_ns, closed_ns = excluded.closed_ns, "
                "changed_ns = excluded.changed_ns, doc = excluded.doc",
                row,
            )

    def incident(self, incident_id: str) -> dict[str, Any]:
        """The incident of that id, or of the one id that starts with it."""
        prefix = incident_id.replace("%", "").replace("_", "")
        with self._read() as sql:
            rows = sql.execute(
                "SELECT id, doc FROM incidents WHERE id = ? OR id LIKE ? ORDER BY id LIMIT 3",
                (incident_id, prefix + "%"),
            ).fetchall()
        exact = [doc for i, doc in rows if i == incident_id]
        if exact:
            return dict(json.loads(exact[0]))
        if len(rows) == 1:
            return dict(json.loads(rows[0][1]))
        if not rows:
            raise StoreError(f"no incident {incident_id!r} in {self.location}")
        raise StoreError(f"incident id {incident_id!r} is ambiguous in {self.location}")

    def incidents(
        self, *, state: str | None = None, since_ns: int | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Incidents, newest detection first; ``state="open"``: every one not closed."""
        where: list[str] = ["detected_ns >= ?"]
        params: list[Any] = [since_ns or 0]
        if state == "open":
            where.append("state <> 'closed'")
        elif state is not None:
            where.append("state = ?")
            params.append(state)
        limit_sql = "" if limit is None else f" LIMIT {int(limit)}"
        with self._read() as sql:
            rows = sql.execute(
                f"SELECT doc FROM incidents WHERE {' AND '.join(where)} "
                f"ORDER BY detected_ns DESC, id{limit_sql}",
                params,
            ).fetchall()
        return [dict(json.loads(doc)) for (doc,) in rows]

    def put_state(self, key: str, value: Any) -> None:
        """Keep ``value`` (JSON) under ``key``."""
        with self._write() as sql:
            sql.execute(
                "INSERT INTO watch_state (key, value, updated_ns) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
                "updated_ns = excluded.updated_ns",
                (key, json.dumps(value), time.time_ns()),
            )

    def state(self, prefix: str = "") -> dict[str, Any]:
        """Every kept value whose key starts with ``prefix``."""
        with self._read() as sql:
            rows = sql.execute("SELECT key, value FROM watch_state ORDER BY key").fetchall()
        return {k: json.loads(v) for k, v in rows if str(k).startswith(prefix)}

    def delete_state(self, key: str) -> None:
        with self._write() as sql:
            sql.execute("DELETE FROM watch_state WHERE key = ?", (key,))

    def add_deploy(
        self, ts_ns: int, rev: str | None, previous_rev: str | None, changed: Mapping[str, Any]
    ) -> None:
        """Note a deploy seen at ``ts_ns`` and the node ids it changed, added, removed."""
        with self._write() as sql:
            sql.execute(
                "INSERT INTO deploys (ts_ns, rev, previous_rev, changed) VALUES (?, ?, ?, ?)",
                (ts_ns, rev, previous_rev, json.dumps(dict(changed))),
            )

    def deploys(
        self, *, since_ns: int | None = None, until_ns: int | None = None
    ) -> list[dict[str, Any]]:
        """Deploys seen in ``[since_ns, until_ns)``, oldest first."""
        with self._read() as sql:
            rows = sql.execute(
                "SELECT ts_ns, rev, previous_rev, changed FROM deploys "
                "WHERE ts_ns >= ? AND ts_ns < ? ORDER BY ts_ns",
                (since_ns or 0, _MAX_TS if until_ns is None else until_ns),
            ).fetchall()
        return [
            {"ts_ns": ts, "rev": rev, "previous_rev": prev, **json.loads(changed)}
            for ts, rev, prev, changed in rows
        ]

    def prune_records(self, before_ns: int, *, run: str | Run | None = None) -> int:
        """Delete records older than ``before_ns`` (of ``run``, or of every run) and rejected ones
        received before it; incidents, deploys and watch state stay."""
        where, params = "ts_ns < ?", [before_ns]
        if run is not None:
            where += " AND run_id = ?"
            params.append(run.id if isinstance(run, Run) else self.run(run).id)
        with self._write() as sql:
            gone = sql.execute(f"DELETE FROM records WHERE {where}", params).rowcount
            rejected = "received_ns < ?" + (" AND run_id = ?" if run is not None else "")
            sql.execute(f"DELETE FROM rejected WHERE {rejected}", params)
        return max(int(gone), 0)


def _run_from_row(sql: Sql, row: tuple[Any, ...]) -> Run:
    run_id, name, start_ns, end_ns, flow_rev, dag_json, note = row
    taps = tuple(
        t
        for (t,) in sql.execute(
            "SELECT DISTINCT tap FROM streams WHERE run_id = ? ORDER BY tap", (run_id,)
        )
    )
    dag = json.loads(dag_json) if dag_json else None
    return Run(run_id, name, start_ns, end_ns, flow_rev, dag, taps, note)


def _counts_json(rec: Mapping[str, Any]) -> str:
    """What a counts record says, as stored: since when, at which sampling rate, per wire."""
    return json.dumps(
        {"since_ns": rec.get("since_ns"), "sample": rec.get("sample"), "wires": rec.get("counts")},
        separators=(",", ":"),
    )


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


def _parents_text(parents: Sequence[int] | None) -> str | None:
    """A record's ``parents`` as stored: the seqs comma-separated (``"12,13,14"``)."""
    return ",".join(map(str, parents)) if parents else None


def _parents_list(text: str | None) -> list[int] | None:
    return [int(p) for p in text.split(",")] if text else None
