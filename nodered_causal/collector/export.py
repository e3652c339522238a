"""Export a stored run to CSV or Parquet, one row per record, written atomically.

Columns: ``seq, ts_ns, kind, src, port, dst, trace, parent`` first, then ``tap, boot,
latency_ns, bytes, error`` and one column per payload value path (empty where a record has none),
i.e. :meth:`Store.record_columns` in a friendlier order. The file appears complete or not at all
(written next to the target, then renamed over it).
"""

from __future__ import annotations

import csv
import logging
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from nodered_causal.collector.store import RECORD_KEYS, RecordStore, Run
from nodered_causal.errors import StoreError

__all__ = ["EXPORT_FORMATS", "export_run"]

logger = logging.getLogger(__name__)

EXPORT_FORMATS: tuple[str, ...] = ("csv", "parquet")
_FIRST = ("seq", "ts_ns", "kind", "src", "port", "dst", "trace", "parent")


def export_run(
    store: RecordStore,
    run: str | Run,
    path: str | Path,
    *,
    fmt: Literal["csv", "parquet"] = "csv",
    kinds: Iterable[str] = ("deliver", "error"),
) -> int:
    """Write the run's records of ``kinds`` to ``path``; returns the number of rows."""
    if fmt not in EXPORT_FORMATS:
        raise StoreError(f"unknown export format {fmt!r} (choose {', '.join(EXPORT_FORMATS)})")
    columns = store.record_columns(run, kinds)
    order = [*_FIRST, *(k for k in RECORD_KEYS if k not in _FIRST)]
    order += [k for k in columns if k not in order]
    columns = {k: columns[k] for k in order}
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or ".")
    try:
        if fmt == "csv":
            with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
                _write_csv(fh, columns)
        else:
            os.close(fd)
            _write_parquet(tmp, columns)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    rows = len(columns["seq"])
    logger.info("exported %d records of run %s to %s", rows, run, target)
    return rows


def _write_csv(fh: Any, columns: dict[str, list[Any]]) -> None:
    writer = csv.writer(fh)
    writer.writerow(columns)
    writer.writerows(zip(*columns.values(), strict=True))


def _write_parquet(path: str, columns: dict[str, list[Any]]) -> None:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise StoreError(
            "Parquet export needs pyarrow: pip install 'nodered-causal[parquet]'"
        ) from exc
    pq.write_table(pa.table(columns), path)
