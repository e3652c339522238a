"""The fleet's record store: PostgreSQL through psycopg 3, the same tables as the SQLite store.

``PostgresStore("postgresql://user@host:5432/db")`` (or ``--store postgresql://...`` on every
command) keeps the layout of ``sqlite_store.py`` in a PostgreSQL database, so runs, exports,
completeness and the analysis read the same from both. What differs:

- **Several writers.** Any number of collectors (a shared MQTT subscription) write into one run
  concurrently: the unique (stream, seq) index makes a record that two of them receive (MQTT
  redelivery) land once, runs and streams are upserted, and schema changes (a new value column,
  a new partition) are serialized with a transaction-level advisory lock.
- **Store ids in commit order.** The inserts of one run take a transaction-level advisory lock
  from their first id to their commit, so a reader that tails a run by store id (``id > last``)
  never sees a higher id before a lower one commits; collectors still parse, validate and build
  rows in parallel, only the COPY and the commit of one run take turns.
- **COPY in batches.** A batch goes in with ``COPY records FROM STDIN`` inside a savepoint; only
  when that hits a record already stored (a redelivery) or a value PostgreSQL cannot hold (a NUL
  character in a text field, stored as the JSON escape ``\\u0000``) is the batch retried as
  ``INSERT ... ON CONFLICT DO NOTHING``.
- **Time partitions.** ``records`` is partitioned by range of ``ts_ns``, one partition per UTC
  day (``records_20261125``), created when the first record of that day arrives; fleet-wide
  retention drops whole days (:meth:`PostgresStore.drop_partitions_before`), and a time-range read
  touches only its days.
  PostgreSQL requires the partition key in unique indexes, so the (stream, seq) key is
  (stream, seq, ts_ns): a redelivered record carries the ts of the original, so it still
  collides.
- **Indexes the analysis uses:** (run, kind, ts_ns) for ``record_columns`` / ``counts`` / time
  slices, (stream, seq, ts_ns) for completeness and idempotency.

Credentials in the URL are used to connect and never appear in messages (:attr:`location` is
``postgresql://host:port/db``). The database must exist and be empty or a nodered-causal store;
anything else is refused untouched.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from nodered_causal.collector.sql_store import RECORD_FIELDS, Rows, Sql, SqlStore
from nodered_causal.errors import StoreError

__all__ = ["DAY_NS", "PostgresStore", "is_postgres_url", "redact_url"]

logger = logging.getLogger(__name__)

DAY_NS = 86_400 * 1_000_000_000
_LOCK_KEY = 0x6E72_635F_7363_6861  # pg_advisory_xact_lock key for schema changes ("nrc_scha")
_RUN_LOCK_CLASS = 0x6E72_6372  # pg_advisory_xact_lock(class, run id): one run's inserts ("nrcr")

_SCHEMA = """
CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE runs (
    id bigserial PRIMARY KEY, name text NOT NULL UNIQUE, start_ns bigint NOT NULL,
    end_ns bigint, flow_rev text, dag_json text, note text);
CREATE TABLE streams (
    id bigserial PRIMARY KEY, run_id bigint NOT NULL, tap text NOT NULL, boot text NOT NULL,
    UNIQUE (run_id, tap, boot));
CREATE TABLE records (
    id bigserial, stream_id bigint NOT NULL, run_id bigint NOT NULL,
    seq bigint NOT NULL, ts_ns bigint NOT NULL, kind text NOT NULL, src text, port bigint,
    dst text, trace bigint, parent bigint, latency_ns bigint, bytes bigint, error text,
    ptype text, plen bigint, recorded bigint, dropped bigint, failed bigint, queue bigint,
    extra_values text, parents text, values_cut bigint, counts text) PARTITION BY RANGE (ts_ns);
CREATE UNIQUE INDEX records_stream_seq ON records (stream_id, seq, ts_ns);
CREATE INDEX records_run_kind_ts ON records (run_id, kind, ts_ns);
CREATE TABLE value_columns (path text PRIMARY KEY, col text NOT NULL UNIQUE);
CREATE TABLE run_paths (run_id bigint NOT NULL, path text NOT NULL, PRIMARY KEY (run_id, path));
CREATE TABLE rejected (
    id bigserial PRIMARY KEY, run_id bigint NOT NULL, received_ns bigint NOT NULL,
    reason text NOT NULL, tap text, boot text, seq bigint, raw text NOT NULL);
CREATE INDEX rejected_run ON rejected (run_id);
CREATE TABLE incidents (
    id text PRIMARY KEY, target text NOT NULL, signal text NOT NULL, state text NOT NULL,
    changed_ns bigint NOT NULL, detected_ns bigint NOT NULL, updated_ns bigint NOT NULL,
    closed_ns bigint, doc text NOT NULL);
CREATE INDEX incidents_state ON incidents (state, detected_ns);
CREATE TABLE watch_state (key text PRIMARY KEY, value text NOT NULL, updated_ns bigint NOT NULL);
CREATE TABLE deploys (
    id bigserial PRIMARY KEY, ts_ns bigint NOT NULL, rev text, previous_rev text,
    changed text NOT NULL);
"""

#: Statements that bring schema version N to N + 1 (PostgreSQL stores start at version 2).
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    2: ("ALTER TABLE records ADD COLUMN IF NOT EXISTS parents text",),
    3: ("ALTER TABLE records ADD COLUMN IF NOT EXISTS values_cut bigint",),
    4: ("ALTER TABLE records ADD COLUMN IF NOT EXISTS counts text",),
    5: (
        """CREATE TABLE IF NOT EXISTS incidents (
    id text PRIMARY KEY, target text NOT NULL, signal text NOT NULL, state text NOT NULL,
    changed_ns bigint NOT NULL, detected_ns bigint NOT NULL, updated_ns bigint NOT NULL,
    closed_ns bigint, doc text NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS incidents_state ON incidents (state, detected_ns)",
        "CREATE TABLE IF NOT EXISTS watch_state (key text PRIMARY KEY, value text NOT NULL, "
        "updated_ns bigint NOT NULL)",
        "CREATE TABLE IF NOT EXISTS deploys (id bigserial PRIMARY KEY, ts_ns bigint NOT NULL, "
        "rev text, previous_rev text, changed text NOT NULL)",
    ),
}


def is_postgres_url(location: object) -> bool:
    return isinstance(location, str) and location.startswith(("postgres://", "postgresql://"))


def redact_url(url: str) -> str:
    """``postgresql://host:port/db`` of a connection URL: no user, no password, no options."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        info = conninfo_to_dict(url)
    except Exception:  # psycopg.ProgrammingError: an unparsable URL
        return "postgresql://<unparsable URL>"
    host = info.get("host") or ""
    port = f":{info['port']}" if info.get("port") else ""
    return f"postgresql://{host}{port}/{info.get('dbname') or ''}"


@functools.lru_cache(maxsize=256)
def _pg(sql: str) -> str:
    """Our ``?`` placeholders as psycopg's ``%s``."""
    return sql.replace("%", "%%").replace("?", "%s")


class _Sql:
    """Statements on the connection (a cursor each), psycopg errors as :class:`StoreError`."""

    def __init__(self, conn: Any, where: str, *, binary: bool = False) -> None:
        self._conn = conn
        self._where = where
        self._binary = binary

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        import psycopg

        cur = self._conn.cursor(binary=self._binary)
        try:
            cur.execute(_pg(sql), _clean(params))
        except psycopg.Error as exc:
            raise StoreError(f"{self._where}: {_error_text(exc)}") from exc
        return cur  # type: ignore[no-any-return]

    def executemany(self, sql: str, params: Iterable[Sequence[Any]]) -> Rows:
        import psycopg

        cur = self._conn.cursor()
        try:
            cur.executemany(_pg(sql), [_clean(p) for p in params])
        except psycopg.Error as exc:
            raise StoreError(f"{self._where}: {_error_text(exc)}") from exc
        return cur  # type: ignore[no-any-return]

    def copy_rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """``COPY table (columns) FROM STDIN``; psycopg errors propagate (the caller falls back)."""
        with (
            self._conn.cursor() as cur,
            cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)


class PostgresStore(SqlStore):
    """A record store in a PostgreSQL database; thread-safe (one connection behind a lock).

    ``create=False`` raises :class:`StoreError` when the database holds no store yet.
    """

    def __init__(self, url: str, *, create: bool = True, connect_timeout: float = 10.0) -> None:
        if not is_postgres_url(url):
            raise StoreError(f"not a PostgreSQL URL: {redact_url(url)}")
        super().__init__(redact_url(url))
        self._url = url
        self._timeout = connect_timeout
        self._partitions: set[int] = set()
        self._conn: Any = self._connect()
        try:
            self._open_schema(create=create)
            self._load_partitions()
        except BaseException:
            self._conn.close()
            raise

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- connection ------------------------------------------------------------------------------

    def _connect(self) -> Any:
        """A new connection (autocommit: transactions are explicit); the caches start over."""
        import psycopg

        try:
            conn = psycopg.connect(
                self._url,
                autocommit=True,
                connect_timeout=max(1, round(self._timeout)),
                application_name="nodered-causal",
            )
        except psycopg.Error as exc:
            raise StoreError(
                f"cannot connect to record store {self.location}: {_error_text(exc)}"
            ) from exc
        self._forget_caches()
        self._partitions = set()
        return conn

    def _connection(self) -> Any:
        """The open connection; a new one if the server closed the last (e.g. it restarted)."""
        if self._conn.closed:
            logger.warning("reconnecting to record store %s", self.location)
            self._conn = self._connect()
            self._load_partitions()
        return self._conn

    # -- the dialect -----------------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[_Sql]:
        import psycopg

        with self._lock:
            conn = self._connection()
            try:
                with conn.transaction():
                    yield _Sql(conn, f"cannot write to {self.location}")
            except psycopg.Error as exc:  # at COMMIT
                self._forget_caches()
                raise StoreError(f"cannot commit to {self.location}: {_error_text(exc)}") from exc
            except BaseException:
                self._forget_caches()
                raise

    @contextmanager
    def _read(self) -> Iterator[_Sql]:
        import psycopg

        with self._lock:
            conn = self._connection()
            try:
                with conn.transaction():
                    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    yield _Sql(conn, f"cannot read {self.location}", binary=True)
            except psycopg.Error as exc:
                raise StoreError(f"cannot read {self.location}: {_error_text(exc)}") from exc

    def _tables(self, sql: Sql) -> set[str]:
        rows = sql.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        ).fetchall()
        return {name for (name,) in rows}

    def _create_schema(self, sql: Sql) -> None:
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                sql.execute(statement)

    def _migrate(self, sql: Sql, from_version: int) -> None:
        if from_version not in _MIGRATIONS:
            raise StoreError(
                f"{self.location} has schema version {from_version}, which PostgreSQL stores "
                "never had; left as it is"
            )
        for statement in _MIGRATIONS[from_version]:
            sql.execute(statement)

    def _serialize(self, sql: Sql) -> None:
        sql.execute("SELECT pg_advisory_xact_lock(?)", (_LOCK_KEY,))

    def _is_record_fault(self, exc: BaseException) -> bool:
        import psycopg

        record = (psycopg.DataError, psycopg.IntegrityError)
        return isinstance(exc, record) or super()._is_record_fault(exc)

    def _add_value_column(self, sql: Sql, col: str) -> None:
        sql.execute(f"ALTER TABLE records ADD COLUMN IF NOT EXISTS {col} double precision")

    def _insert_records(self, sql: Sql, columns: list[str], rows: list[tuple[Any, ...]]) -> int:
        import psycopg

        names = [*RECORD_FIELDS, *columns]
        assert isinstance(sql, _Sql)
        run_id = rows[0][RECORD_FIELDS.index("run_id")]
        sql.execute("SELECT pg_advisory_xact_lock(?, ?)", (_RUN_LOCK_CLASS, run_id % 2**31))
        try:
            with self._conn.transaction():  # a savepoint: a failed COPY leaves the batch intact
                sql.copy_rows("records", names, rows)
            return len(rows)
        except (psycopg.errors.UniqueViolation, psycopg.DataError) as exc:
            logger.debug("COPY of %d records fell back to INSERT: %s", len(rows), exc)
        except psycopg.Error as exc:
            raise StoreError(f"cannot write to {self.location}: {_error_text(exc)}") from exc
        marks = ", ".join("?" * len(names))
        statement = (
            f"INSERT INTO records ({', '.join(names)}) VALUES ({marks}) ON CONFLICT DO NOTHING"
        )
        return sql.executemany(statement, rows).rowcount

    # -- time partitions -------------------------------------------------------------------------

    def _prepare_batch(self, records: Sequence[Mapping[str, Any]]) -> None:
        days = {int(rec["ts_ns"]) // DAY_NS for rec in records} - self._partitions
        if not days:
            return
        with self._write() as sql:
            self._serialize(sql)
            for day in sorted(days):
                sql.execute(
                    f"CREATE TABLE IF NOT EXISTS {_partition_name(day)} PARTITION OF records "
                    f"FOR VALUES FROM ({day * DAY_NS}) TO ({(day + 1) * DAY_NS})"
                )
        self._partitions |= days

    def _load_partitions(self) -> None:
        with self._read() as sql:
            rows = sql.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = 'records'::regclass"
            ).fetchall()
        self._partitions = {day for (name,) in rows if (day := _partition_day(name)) is not None}

    def partitions(self) -> list[str]:
        """The names of the ``records`` partitions, oldest first."""
        self._load_partitions()
        return [_partition_name(day) for day in sorted(self._partitions)]

    def drop_partitions_before(self, before_ns: int) -> int:
        """Fleet-wide retention: drop the day partitions that end at or before ``before_ns``
        (every run's records of those days, in O(1) per day instead of a DELETE); returns how
        many records they held. A day that ``before_ns`` cuts in two stays whole."""
        self._load_partitions()
        old = sorted(d for d in self._partitions if (d + 1) * DAY_NS <= before_ns)
        dropped = 0
        with self._write() as sql:
            self._serialize(sql)
            for day in old:
                name = _partition_name(day)
                (n,) = sql.execute(f"SELECT count(*) FROM {name}").fetchone()
                sql.execute(f"DROP TABLE {name}")
                dropped += int(n)
        self._partitions -= set(old)
        return dropped


def _partition_name(day: int) -> str:
    return "records_" + dt.datetime.fromtimestamp(day * 86_400, tz=dt.UTC).strftime("%Y%m%d")


def _partition_day(name: str) -> int | None:
    try:
        when = dt.datetime.strptime(name.removeprefix("records_"), "%Y%m%d")
    except ValueError:
        return None
    return int(when.replace(tzinfo=dt.UTC).timestamp()) // 86_400


def _clean(params: Sequence[Any]) -> Sequence[Any]:
    """PostgreSQL text cannot hold NUL: store it as the JSON escape ``\\u0000``."""
    if any(isinstance(p, str) and "\x00" in p for p in params):
        return [p.replace("\x00", "\\u0000") if isinstance(p, str) else p for p in params]
    return params


def _error_text(exc: BaseException) -> str:
    """One line of a psycopg error (its message may carry a DETAIL block)."""
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
