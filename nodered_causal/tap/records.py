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

Validation bounds every value so that whatever passes can be stored (a record the store could not
take would otherwise stop the collector):

- integers are 64-bit (``seq``, ``ts_ns`` and the stats counters in ``[0, 2**63)``), numbers
  finite, text valid UTF-8 (no lone surrogates) and ids at most :data:`MAX_ID` characters;
- records nest at most :data:`MAX_DEPTH` levels (a deeper element is rejected on its own, even
  one too deep for Python's JSON parser, and the rest of the batch is kept);
- a record keeps its first :data:`MAX_VALUES` payload values; the number cut is noted in
  ``payload["values_cut"]`` (stored with the record), and an ``error`` text its first
  :data:`MAX_ERROR` characters.

>>> batch = parse_batch(b'[{"v": 2}, 7, {"v": 1, "seq": 1e400}]')
>>> [r.reason for r in batch.rejected]  # doctest: +NORMALIZE_WHITESPACE
['unsupported schema version 2 (expected 1)', 'record is not a JSON object (int)',
 'missing fields tap, boot, ts_ns, kind, src']
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "INT64_MAX",
    "KINDS",
    "MAX_BATCH_BYTES",
    "MAX_DEPTH",
    "MAX_ERROR",
    "MAX_ID",
    "MAX_PARENTS",
    "MAX_VALUES",
    "SCHEMA_VERSION",
    "STATS_FIELDS",
    "Batch",
    "Rejected",
    "parse_batch",
    "reject",
    "validate_record",
]

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
#: Record kinds of schema v1.
KINDS: tuple[str, ...] = ("deliver", "error", "complete", "stats", "counts")
#: Cumulative counters a ``stats`` record carries.
STATS_FIELDS: tuple[str, ...] = ("recorded", "dropped", "failed", "queue")
#: Largest integer a record may carry (SQLite and PostgreSQL store 64-bit signed integers).
INT64_MAX = 2**63 - 1
#: Deepest nesting of a record (the array of the batch not counted; a tap record has 3 levels).
MAX_DEPTH = 32
#: Payload values kept per record (a tap keeps 32 by default); the rest are cut and counted.
MAX_VALUES = 256
#: Longest tap, boot and node id, and payload value path (characters).
MAX_ID = 256
MAX_PATH = 1024
#: Characters of an ``error`` text kept.
MAX_ERROR = 8192
#: Largest batch (bytes) parsed; a larger one is rejected whole (HTTP refuses it while reading).
MAX_BATCH_BYTES = 32 * 1024 * 1024
#: Longest ``parents`` list (the tap's ``maxParents`` setting is at most this).
MAX_PARENTS = 4096
_PAYLOAD_TYPES = frozenset(
    {"number", "string", "object", "array", "buffer", "boolean", "null", "undefined"}
)
_REQUIRED = ("v", "tap", "boot", "seq", "ts_ns", "kind", "src")
_OPTIONAL = ("port", "dst", "trace", "parent", "parents", "payload", "bytes", "latency_ns", "error")
_FIELDS = frozenset((*_REQUIRED, *_OPTIONAL))
_PAYLOAD_FIELDS = frozenset({"type", "len", "values", "values_cut"})
_MAX_RAW = 4096  # characters of a rejected element kept for the user to look at
_TOO_DEEP = f"record nested deeper than {MAX_DEPTH} levels"
_TOKENS = re.compile(r'[\[{]+|[\]}]+|"[^"\\]*(?:\\.[^"\\]*)*"|[^"\[\]{}]+|"', re.S)


@dataclass(frozen=True)
class Rejected:
    """One element (or a whole body) that is not a valid v1 record, and why.

    ``tap``/``boot``/``seq`` are set where the element carried valid ones (the collector then
    knows that seq arrived); ``raw`` is the element as JSON, cut to 4096 characters.
    """

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
    if len(data) > MAX_BATCH_BYTES:
        why = f"batch of {len(data)} bytes is over the {MAX_BATCH_BYTES} byte limit"
        return Batch([], [Rejected(why, _raw_text(data))], body_ok=False)
    try:
        items = _decode(data)
    except (UnicodeDecodeError, ValueError) as exc:
        return Batch([], [Rejected(f"batch is not JSON: {exc}", _raw_text(data))], body_ok=False)
    if isinstance(items, Rejected):
        return Batch([], [items], body_ok=False)
    if isinstance(items, dict):
        items = [items]  # a single record is accepted as a batch of one
    if not isinstance(items, list):
        why = f"batch is not a JSON array ({_json_type(items)})"
        return Batch([], [Rejected(why, _raw_text(data))], body_ok=False)
    batch = Batch()
    for item in items:
        if isinstance(item, Rejected):
            batch.rejected.append(item)
            continue
        reason = validate_record(item, known_nodes=known_nodes)
        if reason is None:
            batch.records.append(_bounded(item))
        else:
            batch.rejected.append(reject(item, reason))
    return batch


def validate_record(obj: Any, *, known_nodes: Collection[str] | None = None) -> str | None:
    """Return why ``obj`` is not a valid schema v1 record, or None if it is one."""
    if not isinstance(obj, dict):
        return f"record is not a JSON object ({_json_type(obj)})"
    if "v" in obj and (not _is_int(obj["v"]) or obj["v"] != SCHEMA_VERSION):
        return f"unsupported schema version {_short(obj['v'])} (expected {SCHEMA_VERSION})"
    missing = [name for name in _REQUIRED if name not in obj]
    if missing:
        return "missing field" + ("s " if len(missing) > 1 else " ") + ", ".join(missing)
    reason = _check_types(obj) or _check_depth(obj)
    if reason is None and known_nodes is not None:
        reason = _check_nodes(obj, known_nodes)
    return reason


def _check_types(rec: Mapping[str, Any]) -> str | None:
    for name in ("tap", "boot"):
        if not isinstance(rec[name], str) or not rec[name]:
            return f"{name} must be a non-empty string"
        reason = _check_text(rec[name], name, MAX_ID)
        if reason:
            return reason
    for name in ("seq", "ts_ns"):
        if not _is_count(rec[name]):
            return f"{name} must be an integer in [0, 2**63)"
    kind = rec["kind"]
    if not isinstance(kind, str) or kind not in KINDS:
        return f"unknown kind {_short(kind)} (expected one of {', '.join(KINDS)})"
    for name in ("port", "trace", "parent", "bytes", "latency_ns"):
        value = rec.get(name)
        if value is not None and not _is_int64(value):
            return f"{name} must be a 64-bit integer or null"
    for name in ("src", "dst"):
        value = rec.get(name)
        if value is not None and not isinstance(value, str):
            return f"{name} must be a node id string or null"
        reason = _check_text(value, name, MAX_ID) if value else None
        if reason:
            return reason
    if kind == "counts":
        return _check_counts(rec)
    if kind != "stats" and not rec["src"]:
        return f"a {kind} record needs src"
    if kind == "deliver" and not rec.get("dst"):
        return "a deliver record needs dst"
    error = rec.get("error")
    if error is not None and not isinstance(error, str):
        return "error must be a string or null"
    if error and not _utf8(error):
        return "error is not valid UTF-8 text"
    if kind == "stats":
        for name in STATS_FIELDS:
            if name in rec and not _is_count(rec[name]):
                return f"stats field {name} must be an integer in [0, 2**63)"
    return _check_parents(rec.get("parents")) or _check_payload(rec.get("payload"))


def _check_parents(parents: Any) -> str | None:
    if parents is None:
        return None
    if not isinstance(parents, list) or not 0 < len(parents) <= MAX_PARENTS:
        return f"parents must be a list of 1 to {MAX_PARENTS} seqs or null"
    if not all(_is_count(p) for p in parents):
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
    if ptype is not None and (not isinstance(ptype, str) or ptype not in _PAYLOAD_TYPES):
        return f"unknown payload type {_short(ptype)}"
    length = payload.get("len")
    if length is not None and not _is_int64(length):
        return "payload.len must be a 64-bit integer or null"
    cut = payload.get("values_cut")
    if cut is not None and not _is_count(cut):
        return "payload.values_cut must be an integer in [0, 2**63)"
    values = payload.get("values")
    if values is None:
        return None
    if not isinstance(values, dict):
        return "payload.values must be an object"
    for path, value in values.items():
        reason = _check_text(path, "payload value path", MAX_PATH, show=True) or _check_number(
            path, value
        )
        if reason:
            return reason
    return None


def _check_number(path: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, int | float):
        return f"payload value {_short(path)} is not a number ({_json_type(value)})"
    try:
        number = float(value)
    except OverflowError:
        return f"payload value {_short(path)} is out of range for a float"
    if not math.isfinite(number):
        return f"payload value {_short(path)} is not finite ({number})"
    return None


def _check_text(text: str, name: str, limit: int, *, show: bool = False) -> str | None:
    label = f"{name} {_short(text)}" if show else name
    if not _utf8(text):
        return f"{label} is not valid UTF-8 text"
    if len(text) > limit:
        return f"{name} is longer than {limit} characters"
    return None


def _check_depth(rec: Mapping[str, Any]) -> str | None:
    """Only fields outside the schema can nest (the schema's own are checked to be flat)."""
    extras = [v for k, v in rec.items() if k not in _FIELDS]
    payload = rec.get("payload")
    if isinstance(payload, dict):
        extras += [[v] for k, v in payload.items() if k not in _PAYLOAD_FIELDS]
    return _TOO_DEEP if _deeper_than(extras, MAX_DEPTH - 1) else None


def _deeper_than(values: list[Any], limit: int) -> bool:
    """Whether any of ``values`` nests more than ``limit`` levels (iterative: no recursion)."""
    stack = [(v, 1) for v in values]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > limit:
                return True
            children = value.values() if isinstance(value, dict) else value
            stack.extend((child, depth + 1) for child in children)
    return False


def _check_nodes(rec: Mapping[str, Any], known: Collection[str]) -> str | None:
    for name in ("src", "dst"):
        node = rec.get(name)
        if node is not None and node not in known:
            return f"unknown node id {node!r} ({name}) for this run's flow"
    return None


def _bounded(rec: dict[str, Any]) -> dict[str, Any]:
    """``rec`` with at most MAX_VALUES payload values (the cut counted) and error text."""
    payload: dict[str, Any] = rec.get("payload") or {}
    values = payload.get("values")
    error = rec.get("error")
    if (not values or len(values) <= MAX_VALUES) and (not error or len(error) <= MAX_ERROR):
        return rec
    out = dict(rec)
    if values and len(values) > MAX_VALUES:
        cut = len(values) - MAX_VALUES
        logger.debug(  # counted in the store (``values_cut``): no log line per record
            "record %s/%s/%s has %d payload values: the first %d kept",
            rec["tap"],
            rec["boot"],
            rec["seq"],
            len(values),
            MAX_VALUES,
        )
        kept = dict(list(values.items())[:MAX_VALUES])
        out["payload"] = {
            **payload,
            "values": kept,
            "values_cut": (payload.get("values_cut") or 0) + cut,
        }
    if error and len(error) > MAX_ERROR:
        out["error"] = f"{error[:MAX_ERROR]}... ({len(error) - MAX_ERROR} more characters)"
    return out


def _decode(data: bytes | bytearray | str) -> Any:
    """``json.loads(data)``, but an integer literal over Python's 4300-digit limit is read as a
    float (infinite, so validation rejects it) and a body too deep for ``json`` is split into
    its elements (:func:`_split_deep`): neither takes the rest of the batch down with it."""
    try:
        return json.loads(data)
    except RecursionError:
        return _split_deep(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise
    except ValueError:  # "Exceeds the limit (4300 digits) for integer string conversion"
        pass
    try:
        return json.loads(data, parse_int=_parse_int)
    except RecursionError:
        return _split_deep(data)


def _parse_int(text: str) -> int | float:
    return int(text) if len(text) <= 64 else float(text)


def _split_deep(data: bytes | bytearray | str) -> list[Any] | Rejected:
    """The elements of a batch too deep for ``json.loads``: each parsed on its own; an element
    that is still too deep becomes a :class:`Rejected` (no recursion here)."""
    try:
        text = data if isinstance(data, str) else bytes(data).decode(json.detect_encoding(data))
    except (UnicodeDecodeError, LookupError) as exc:
        return Rejected(f"batch is not JSON: {exc}", _raw_text(data))
    decoder = json.JSONDecoder(parse_int=_parse_int)
    i = _skip_space(text, 0)
    if text[i : i + 1] != "[":  # one record (an object) too deep
        end = _skip_value(text, i)
        if end is None or _skip_space(text, end) != len(text):
            return Rejected("batch is not JSON: unbalanced brackets", _raw_text(data))
        return [Rejected(_TOO_DEEP, _safe(text[i : i + _MAX_RAW]))]
    items: list[Any] = []
    i = _skip_space(text, i + 1)
    closed = text[i : i + 1] == "]"
    i += closed
    while not closed:
        try:
            item, end = decoder.raw_decode(text, i)
        except RecursionError:
            deep_end = _skip_value(text, i)
            if deep_end is None:
                return Rejected("batch is not JSON: unbalanced brackets", _raw_text(data))
            item, end = Rejected(_TOO_DEEP, _safe(text[i : min(deep_end, i + _MAX_RAW)])), deep_end
        except ValueError as exc:
            return Rejected(f"batch is not JSON: {exc}", _raw_text(data))
        items.append(item)
        i = _skip_space(text, end)
        closed = text[i : i + 1] == "]"
        if not closed and text[i : i + 1] != ",":
            return Rejected(f"batch is not JSON: expected ',' or ']' at {i}", _raw_text(data))
        i = _skip_space(text, i + 1)
    if _skip_space(text, i) != len(text):
        return Rejected(f"batch is not JSON: extra data at {i}", _raw_text(data))
    return items


def _skip_space(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t\r\n":
        i += 1
    return i


def _skip_value(text: str, i: int) -> int | None:
    """The index after the bracketed JSON value starting at ``text[i]`` (None: never closes).

    Runs of brackets, strings and other text are one regex match each, so a 32 MiB ``[[[...``
    takes a few matches, not 32 million steps.
    """
    depth = 0
    for match in _TOKENS.finditer(text, i):
        token = match.group()
        if token[0] in "[{":
            depth += len(token)
        elif token[0] in "]}":
            if len(token) >= depth:
                return match.start() + depth
            depth -= len(token)
        elif token == '"':
            return None  # a string that never ends
    return None


def reject(item: Any, reason: str) -> Rejected:
    """``item`` (a parsed element) as a :class:`Rejected` for ``reason``, its raw JSON cut."""
    tap = boot = seq = None
    if isinstance(item, dict):
        tap = item.get("tap") if _is_id(item.get("tap")) else None
        boot = item.get("boot") if _is_id(item.get("boot")) else None
        seq = item.get("seq") if _is_count(item.get("seq")) else None
    try:
        raw = json.dumps(item, separators=(",", ":"), ensure_ascii=False)
    except (RecursionError, ValueError):
        raw = f"<{_json_type(item)} too deep to show>"
    return Rejected(reason, _safe(raw[:_MAX_RAW]), tap, boot, seq)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_int64(value: Any) -> bool:
    return _is_int(value) and -INT64_MAX - 1 <= value <= INT64_MAX


def _is_count(value: Any) -> bool:
    return _is_int(value) and 0 <= value <= INT64_MAX


def _is_id(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_ID and _utf8(value)


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _safe(text: str) -> str:
    """``text`` with lone surrogates spelled out (storable as UTF-8)."""
    return text if _utf8(text) else text.encode("utf-8", "backslashreplace").decode("utf-8")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:77]}..."


def _json_type(value: Any) -> str:
    return type(value).__name__


def _raw_text(data: bytes | bytearray | str) -> str:
    text = (
        data[:_MAX_RAW]
        if isinstance(data, str)
        else bytes(data[: _MAX_RAW * 4]).decode("utf-8", "replace")
    )
    return _safe(text[:_MAX_RAW])
