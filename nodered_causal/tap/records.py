"""Tap record schema v1: parse record batches and validate records (pure, no I/O).

A batch is the UTF-8 JSON array a tap ships over MQTT or HTTP; each element is one record::

    {"v": 1, "tap": "line-1", "boot": "9f3c...", "seq": 41, "ts_ns": 1700000000000000000,
     "kind": "deliver", "src": "a1", "port": 0, "dst": "b2", "trace": 40, "parent": 40,
     "payload": {"type": "number", "len": null, "values": {"payload": 21.5}},
     "bytes": 18, "latency_ns": 5300, "error": null}

``stats`` records carry ``recorded``, ``dropped``, ``failed`` and ``queue`` (cumulative counters).
``counts`` records (a sampling tap) carry the deliveries of every wire since ``since_ns``, sampled
or not, and the sampling rate: ``"since_ns": ..., "sample": 0.1, "counts": [[src, port, dst, n]]``.

``parents`` (optional, deliver records of aggregating nodes such as join and batch): the seqs of
every delivery the sending node combined into what it sent (its parts, oldest first; ``parent`` is
the one it was handling and usually one of them), at most :data:`MAX_PARENTS`. Absent (or null)
on every other record.

:func:`parse_batch` never raises: every element that is not a valid record becomes a
:class:`Rejected` with the reason (and the tap/boot/seq where they could be read, so the collector
still knows the seq arrived). A body that is not a JSON array is one :class:`Rejected`.

>>> batch = parse_batch(b'[{"v": 2}, 7]')
>>> [r.reason for r in batch.rejected]
['unsupported schema version 2 (expected 1)', 'record is not a JSON object (int)']
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "KINDS",
    "MAX_PARENTS",
    "SCHEMA_VERSION",
    "STATS_FIELDS",
    "Batch",
    "Rejected",
    "parse_batch",
    "validate_record",
]

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
#: Record kinds of schema v1.
KINDS: tuple[str, ...] = ("deliver", "error", "complete", "stats", "counts")
#: Cumulative counters a ``stats`` record carries.
STATS_FIELDS: tuple[str, ...] = ("recorded", "dropped", "failed", "queue")
#: Longest ``parents`` list (the tap's ``maxParents`` setting is at most this).
MAX_PARENTS = 4096
_PAYLOAD_TYPES = frozenset(
    {"number", "string", "object", "array", "buffer", "boolean", "null", "undefined"}
)
_REQUIRED = ("v", "tap", "boot", "seq", "ts_ns", "kind", "src")
_MAX_RAW = 4096  # characters of a rejected element kept for the user to look at


@dataclass(frozen=True)
class Rejected:
    """One element (or a whole body) that is not a valid v1 record, and why."""

    reason: str
    raw: str
    tap: str | None = None
    boot: str | None = None
    seq: int | None = None


@dataclass(frozen=True)
class Batch:
    """The valid records of one batch (JSON objects, in batch order) and the rejected elements.

    ``body_ok`` is False when the body as a whole was not a JSON array (one :class:`Rejected`).
    """

    records: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    body_ok: bool = True


def parse_batch(
    data: bytes | bytearray | str, *, known_nodes: Collection[str] | None = None
) -> Batch:
    """Parse one shipped batch (a JSON array of records) and validate every record.

    ``known_nodes``: the runtime ids of the DAG the run was recorded against; records naming
    other nodes are rejected (None: any id is accepted).
    """
    try:
        obj = json.loads(data)
    except (UnicodeDecodeError, ValueError) as exc:
        return Batch([], [Rejected(f"batch is not JSON: {exc}", _raw_text(data))], body_ok=False)
    if isinstance(obj, dict):
        obj = [obj]  # a single record is accepted as a batch of one
    if not isinstance(obj, list):
        why = f"batch is not a JSON array ({_json_type(obj)})"
        return Batch([], [Rejected(why, _raw_text(data))], body_ok=False)
    batch = Batch()
    for item in obj:
        reason = validate_record(item, known_nodes=known_nodes)
        if reason is None:
            batch.records.append(item)
        else:
            batch.rejected.append(_rejected(item, reason))
    return batch


def validate_record(obj: Any, *, known_nodes: Collection[str] | None = None) -> str | None:
    """Return why ``obj`` is not a valid schema v1 record, or None if it is one."""
    if not isinstance(obj, dict):
        return f"record is not a JSON object ({_json_type(obj)})"
    if "v" in obj and (not _is_int(obj["v"]) or obj["v"] != SCHEMA_VERSION):
        return f"unsupported schema version {obj['v']!r} (expected {SCHEMA_VERSION})"
    missing = [name for name in _REQUIRED if name not in obj]
    if missing:
        return "missing field" + ("s " if len(missing) > 1 else " ") + ", ".join(missing)
    reason = _check_types(obj)
    if reason is None and known_nodes is not None:
        reason = _check_nodes(obj, known_nodes)
    return reason


def _check_types(rec: Mapping[str, Any]) -> str | None:
    for name in ("tap", "boot"):
        if not isinstance(rec[name], str) or not rec[name]:
            return f"{name} must be a non-empty string"
    for name in ("seq", "ts_ns"):
        if not _is_int(rec[name]) or rec[name] < 0:
            return f"{name} must be a non-negative integer"
    kind = rec["kind"]
    if kind not in KINDS:
        return f"unknown kind {kind!r} (expected one of {', '.join(KINDS)})"
    for name in ("port", "trace", "parent", "bytes", "latency_ns"):
        value = rec.get(name)
        if value is not None and not _is_int(value):
            return f"{name} must be an integer or null"
    for name in ("src", "dst"):
        value = rec.get(name)
        if value is not None and not isinstance(value, str):
            return f"{name} must be a node id string or null"
    if kind == "counts":
        return _check_counts(rec)
    if kind != "stats" and not rec["src"]:
        return f"a {kind} record needs src"
    if kind == "deliver" and not rec.get("dst"):
        return "a deliver record needs dst"
    error = rec.get("error")
    if error is not None and not isinstance(error, str):
        return "error must be a string or null"
    if kind == "stats":
        for name in STATS_FIELDS:
            if name in rec and not _is_int(rec[name]):
                return f"stats field {name} must be an integer"
    return _check_parents(rec.get("parents")) or _check_payload(rec.get("payload"))


def _check_parents(parents: Any) -> str | None:
    if parents is None:
        return None
    if not isinstance(parents, list) or not 0 < len(parents) <= MAX_PARENTS:
        return f"parents must be a list of 1 to {MAX_PARENTS} seqs or null"
    if not all(_is_int(p) and 0 <= p < 2**63 for p in parents):
        return "parents must hold integers in [0, 2**63)"
    return None


def _check_counts(rec: Mapping[str, Any]) -> str | None:
    since, sample, counts = rec.get("since_ns"), rec.get("sample"), rec.get("counts")
    if not isinstance(since, int) or isinstance(since, bool) or since < 0:
        return "a counts record needs since_ns, a non-negative integer"
    if not isinstance(sample, int | float) or isinstance(sample, bool) or not 0 < sample <= 1:
        return "a counts record needs sample, a number in (0, 1]"
    if not isinstance(counts, list):
        return "a counts record needs counts, a list of [src, port, dst, n]"
    for wire in counts:
        ok = (
            isinstance(wire, list)
            and len(wire) == 4
            and isinstance(wire[0], str)
            and (wire[1] is None or _is_int(wire[1]))
            and isinstance(wire[2], str)
            and _is_int(wire[3])
            and wire[3] >= 0
        )
        if not ok:
            return f"counts entry {json.dumps(wire)[:80]} is not [src, port, dst, n]"
    return None


def _check_payload(payload: Any) -> str | None:
    if payload is None:
        return None
    if not isinstance(payload, dict):
        return "payload must be an object or null"
    ptype = payload.get("type")
    if ptype is not None and ptype not in _PAYLOAD_TYPES:
        return f"unknown payload type {ptype!r}"
    length = payload.get("len")
    if length is not None and not _is_int(length):
        return "payload.len must be an integer or null"
    values = payload.get("values")
    if values is None:
        return None
    if not isinstance(values, dict):
        return "payload.values must be an object"
    for path, value in values.items():
        if value is not None and not isinstance(value, int | float):
            return f"payload value {path!r} is not a number ({_json_type(value)})"
    return None


def _check_nodes(rec: Mapping[str, Any], known: Collection[str]) -> str | None:
    for name in ("src", "dst"):
        node = rec.get(name)
        if node is not None and node not in known:
            return f"unknown node id {node!r} ({name}) for this run's flow"
    return None


def _rejected(item: Any, reason: str) -> Rejected:
    tap = boot = seq = None
    if isinstance(item, dict):
        tap = item.get("tap") if isinstance(item.get("tap"), str) else None
        boot = item.get("boot") if isinstance(item.get("boot"), str) else None
        seq = item.get("seq") if _is_int(item.get("seq")) else None
    raw = json.dumps(item, separators=(",", ":"), ensure_ascii=False)
    return Rejected(reason, raw[:_MAX_RAW], tap, boot, seq)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _json_type(value: Any) -> str:
    return type(value).__name__


def _raw_text(data: bytes | bytearray | str) -> str:
    text = data if isinstance(data, str) else bytes(data).decode("utf-8", "replace")
    return text[:_MAX_RAW]
