"""tap stage of nodered-causal: the record schema the Node-RED plugin (``plugin/``) ships.

:func:`parse_batch` / :func:`validate_record` check schema v1 (pure, never raise on bad data).
"""

from __future__ import annotations

from nodered_causal.tap.records import (
    KINDS,
    SCHEMA_VERSION,
    STATS_FIELDS,
    Batch,
    Rejected,
    parse_batch,
    validate_record,
)

__all__ = [
    "KINDS",
    "SCHEMA_VERSION",
    "STATS_FIELDS",
    "Batch",
    "Rejected",
    "parse_batch",
    "validate_record",
]
