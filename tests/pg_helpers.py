"""PostgreSQL for the tests: one database per test run (dropped at the end), a schema per test.

The machine's PostgreSQL (127.0.0.1:5432, user postgres, trust auth; ``TEST_POSTGRES_URL``
overrides the admin URL). Each test gets a fresh schema through the URL's ``options``
(``search_path``), so the store under test sees an empty database and tests stay independent.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _url(dbname: str, schema: str | None = None) -> str:
    base = ADMIN_URL.rsplit("/", 1)[0] + "/" + dbname
    if schema is None:
        return base
    return base + "?options=" + quote(f"-csearch_path={schema}")


@contextmanager
def scratch_database() -> Iterator[str]:
    """Create ``nrc_test_<random>``; yield its name; drop it (also with clients still on it)."""
    import psycopg

    name = f"nrc_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        raise RuntimeError(
            f"the tests need PostgreSQL at {ADMIN_URL.split('@')[-1]} (TEST_POSTGRES_URL): {exc}"
        ) from exc
    with admin:
        admin.execute(f"CREATE DATABASE {name}")
        try:
            yield name
        finally:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def new_schema(dbname: str) -> str:
    """A fresh, empty schema in ``dbname``; returns a store URL whose search_path is it."""
    import psycopg

    schema = f"s_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_url(dbname), autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    return _url(dbname, schema)


def execute(url: str, sql: str) -> list[tuple[object, ...]]:
    """Run one statement at ``url`` (outside the store) and return its rows."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(sql)
        return cur.fetchall() if cur.description else []
