"""collector stage of nodered-causal: receive tap batches, store them durably, report loss.

- :func:`open_store` → a :class:`RecordStore`: :class:`SqliteStore` (alias :class:`Store`, one
  SQLite WAL file, the default) or :class:`PostgresStore` (``postgresql://``, for fleets);
  :meth:`RecordStore.record_columns` is what the analysis reads;
- :class:`Collector` = :class:`Writer` + :class:`MqttIngest` (persistent session, ack after
  write) and/or :class:`HttpIngest` (``POST /v1/records``, 2xx after write);
- :func:`record` one named run for N seconds → :class:`Recording`; :class:`Completeness` per tap
  stream (gaps in seq, tap drops, transport loss); :func:`export_run` to CSV/Parquet.
"""

from __future__ import annotations

from nodered_causal.collector.completeness import (
    Completeness,
    completeness,
    completeness_of_records,
)
from nodered_causal.collector.export import EXPORT_FORMATS, export_run
from nodered_causal.collector.http import HttpIngest, parse_address
from nodered_causal.collector.mqtt import (
    DEFAULT_TOPIC,
    MqttIngest,
    MqttSettings,
    default_client_id,
    parse_mqtt_url,
)
from nodered_causal.collector.recording import (
    FlowSnapshot,
    Recording,
    flow_snapshot,
    record,
    summarize,
)
from nodered_causal.collector.service import Collector
from nodered_causal.collector.store import (
    RECORD_KEYS,
    InsertResult,
    PostgresStore,
    RecordStore,
    RejectedRow,
    Run,
    SqliteStore,
    Store,
    open_store,
)
from nodered_causal.collector.writer import BatchResult, IngestCounts, Writer

__all__ = [
    "DEFAULT_TOPIC",
    "EXPORT_FORMATS",
    "RECORD_KEYS",
    "BatchResult",
    "Collector",
    "Completeness",
    "FlowSnapshot",
    "HttpIngest",
    "IngestCounts",
    "InsertResult",
    "MqttIngest",
    "MqttSettings",
    "PostgresStore",
    "RecordStore",
    "Recording",
    "RejectedRow",
    "Run",
    "SqliteStore",
    "Store",
    "Writer",
    "completeness",
    "completeness_of_records",
    "default_client_id",
    "export_run",
    "flow_snapshot",
    "parse_address",
    "open_store",
    "parse_mqtt_url",
    "record",
    "summarize",
]
