"""The record store's contract: one :class:`RecordStore` protocol, its value types, no SQL.

Two implementations: :class:`~nodered_causal.collector.sqlite_store.SqliteStore` (one file, the
embedded default) and :class:`~nodered_causal.collector.postgres_store.PostgresStore` (a
PostgreSQL database shared by a fleet's collectors); :func:`~nodered_causal.collector.store.
open_store` picks one from a location (a path or a ``postgresql://`` URL). Everything above the
store (collector, CLI, exports, analysis) talks to this protocol only.

The contract, whatever the backend:

- **Idempotent appends.** :meth:`RecordStore.insert` stores a batch in one transaction; a record
  whose (run, tap, boot, seq) is already stored is skipped and counted as a duplicate, so MQTT's
  at-least-once redelivery, and several collectors sharing one subscription, store each record
  once. Rejected records are set aside with their reason (:meth:`RecordStore.rejected`).
- **Columns by run or time range.** :meth:`RecordStore.record_columns` returns one list per
  field (:data:`RECORD_KEYS`, then one per payload value path), in arrival order, for a run (or
  every run) and an optional ``[since_ns, until_ns)`` range of tap time and set of taps.
  ``parents`` (the seqs a join or batch combined) is a list of ints or None.
- **Completeness** per tap stream (gaps in seq, tap drops, transport loss), **runs** with their
  flow rev and DAG.
- **Schema versions.** A store records its schema version and that it is a nodered-causal store;
  opening checks both, migrates an older schema, and refuses (without writing anything) a
  database that belongs to something else or to a newer nodered-causal.

Incidents and references (``watch``, issue 13) get their own section of the protocol and their
own tables, added by a schema migration in both backends (``_MIGRATIONS`` in each).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, Self

from nodered_causal.collector.completeness import Completeness
from nodered_causal.tap.records import Rejected

__all__ = [
    "APPLICATION",
    "RECORD_KEYS",
    "SCHEMA_VERSION",
    "InsertResult",
    "RecordStore",
    "RejectedRow",
    "Run",
]

#: The fixed keys of :meth:`RecordStore.record_columns` (payload value paths follow).
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
    "parents",
)
#: The schema version this code writes; older stores are migrated on open, newer ones refused.
#: (2: ``meta.application``; 3: ``records.parents``; 4: ``records.values_cut``; 5:
#: ``records.counts``; 6: ``incidents``, ``watch_state``, ``deploys`` for ``watch``.)
SCHEMA_VERSION = 6
#: What the ``meta`` table's ``application`` key says in every store of ours.
APPLICATION = "nodered-causal"


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
    """What one :meth:`RecordStore.insert` did."""

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
    """What the collector, the CLI and the analysis need from a store (both backends)."""

    #: Where the store is, for messages (a path, or a URL without credentials).
    location: str

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
        """Create run ``name`` (``resume``: continue it if it exists, reopened if ended)."""
        ...

    def end_run(self, run: str | Run, *, end_ns: int | None = None) -> Run: ...

    def run(self, run: str | int | Run) -> Run:
        """The run of that name (or id); :class:`~nodered_causal.errors.StoreError` if none."""
        ...

    def runs(self) -> list[Run]: ...

    def delete_run(self, run: str | Run) -> None: ...

    # -- writing ---------------------------------------------------------------------------------

    def insert(
        self,
        run: str | Run,
        records: Sequence[Mapping[str, Any]],
        rejected: Sequence[Rejected] = (),
        *,
        received_ns: int | None = None,
    ) -> InsertResult:
        """Append valid records and set aside rejected ones, in one transaction; a record
        already stored (same run, tap, boot, seq) is skipped and counted as a duplicate."""
        ...

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
        """Records of ``kinds`` as columns, in arrival order (``run`` None: every run)."""
        ...

    def rejected(self, run: str | Run, *, limit: int | None = None) -> list[RejectedRow]: ...

    def counts(self, run: str | Run) -> dict[str, int]: ...

    def completeness(self, run: str | Run) -> list[Completeness]: ...

    # -- incidents and references (watch, issue 13) -----------------------------------------------

    def put_incident(self, doc: Mapping[str, Any]) -> None:
        """Insert or replace incident ``doc`` (keys ``id``, ``target``, ``signal``, ``state``,
        ``changed_ns``, ``detected_ns``, ``updated_ns``, ``closed_ns``; the whole doc is kept)."""
        ...

    def incident(self, incident_id: str) -> dict[str, Any]:
        """The incident of that id (a unique prefix will do); StoreError if none."""
        ...

    def incidents(
        self, *, state: str | None = None, since_ns: int | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Incidents, newest detection first; ``state`` ``"open"`` means not closed."""
        ...

    def put_state(self, key: str, value: Any) -> None:
        """Keep ``value`` (JSON) under ``key`` (watch's references and bookkeeping)."""
        ...

    def state(self, prefix: str = "") -> dict[str, Any]:
        """Every kept value whose key starts with ``prefix``."""
        ...

    def delete_state(self, key: str) -> None: ...

    def add_deploy(
        self, ts_ns: int, rev: str | None, previous_rev: str | None, changed: Mapping[str, Any]
    ) -> None:
        """Note a deploy seen at ``ts_ns``: ``changed`` = {"changed": [...], "added": [...],
        "removed": [...]} node ids."""
        ...

    def deploys(
        self, *, since_ns: int | None = None, until_ns: int | None = None
    ) -> list[dict[str, Any]]: ...

    def prune_records(self, before_ns: int, *, run: str | Run | None = None) -> int:
        """Delete records older than ``before_ns`` of ``run`` (None: every run), and rejected
        ones; incidents, deploys and watch state stay. Returns how many records went."""
        ...

    # -- lifecycle -------------------------------------------------------------------------------

    def schema_version(self) -> int: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc_info: object) -> None: ...
