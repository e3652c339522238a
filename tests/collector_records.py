"""Fabricated tap records (schema v1) for the collector tests."""

from __future__ import annotations

import json
from typing import Any

T0 = 1_700_000_000_000_000_000


def rec(
    seq: int, *, tap: str = "tap1", boot: str = "b0", kind: str = "deliver", **fields: Any
) -> dict[str, Any]:
    """One valid record; ``values=`` sets payload values, other keywords override fields."""
    values = fields.pop("values", {"payload": float(seq)})
    out: dict[str, Any] = {
        "v": 1,
        "tap": tap,
        "boot": boot,
        "seq": seq,
        "ts_ns": T0 + seq * 1000,
        "kind": kind,
        "src": "a1",
        "port": 0,
        "dst": "b2",
        "trace": seq,
        "parent": None,
        "payload": {"type": "number", "len": None, "values": values},
        "bytes": 8,
        "latency_ns": 1500,
        "error": None,
    }
    if kind == "stats":
        out.update(
            src=None,
            port=None,
            dst=None,
            trace=None,
            payload=None,
            recorded=seq + 1,
            dropped=0,
            failed=0,
            queue=0,
        )
    out.update(fields)
    return out


def stats(seq: int, *, dropped: int = 0, failed: int = 0, **kw: Any) -> dict[str, Any]:
    return rec(seq, kind="stats", dropped=dropped, failed=failed, **kw)


def body(records: list[dict[str, Any]]) -> bytes:
    return json.dumps(records).encode()
