"""The record store: :func:`open_store` picks the backend from a location.

- a file path → :class:`SqliteStore` (also importable as :class:`Store`): one SQLite file, the
  embedded default, readable by other processes while a collector writes;
- ``postgresql://[user@]host[:port]/db`` → :class:`PostgresStore`: a PostgreSQL database that a
  fleet's collectors share (time partitions, COPY, concurrent writers).

Both implement :class:`RecordStore` (``store_api.py``) over the same tables (``sql_store.py``);
``sqlite_store.py``, ``postgres_store.py`` and ``sql_store.py`` are the only modules that write
SQL.

>>> with open_store("runs.db") as store:                  # doctest: +SKIP
...     store.start_run("baseline")
"""

from __future__ import annotations

from pathlib import Path

from nodered_causal.collector.postgres_store import PostgresStore, is_postgres_url
from nodered_causal.collector.sqlite_store import SqliteStore
from nodered_causal.collector.store_api import (
    RECORD_KEYS,
    SCHEMA_VERSION,
    InsertResult,
    RecordStore,
    RejectedRow,
    Run,
)

__all__ = [
    "RECORD_KEYS",
    "SCHEMA_VERSION",
    "InsertResult",
    "PostgresStore",
    "RecordStore",
    "RejectedRow",
    "Run",
    "SqliteStore",
    "Store",
    "open_store",
]

#: The embedded store under its historical name.
Store = SqliteStore


def open_store(location: str | Path, *, create: bool = True) -> RecordStore:
    """The store at ``location``: a ``postgresql://`` URL (PostgreSQL) or a file path (SQLite).

    ``create=False``: :class:`~nodered_causal.errors.StoreError` unless a store is there already.
    """
    if is_postgres_url(str(location)):
        return PostgresStore(str(location), create=create)
    return SqliteStore(location, create=create)
