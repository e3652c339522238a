"""Times and durations as people type them: ``-15m``, ``2026-12-06T02:00:00Z``, ``24h`` (pure).

>>> parse_duration("24h"), parse_duration("90s"), parse_duration("1.5")
(86400.0, 90.0, 1.5)
>>> parse_time("-15m", now_ns=1_000_000_000_000) == 1_000_000_000_000 - 900 * 10**9
True
>>> parse_time("2026-12-06T02:00:00Z")
1796522400000000000
>>> format_ns(1796522400000000000)
'2026-12-06T02:00:00.000Z'
"""

from __future__ import annotations

import datetime as dt
import math
import re
import time

__all__ = ["format_ns", "parse_duration", "parse_time"]

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|h|d|w)?\s*$")


def parse_duration(text: str) -> float:
    """Seconds of ``90s``, ``15m``, ``24h``, ``7d``, ``2w``, ``500ms`` or a plain number of
    seconds; ValueError otherwise (negative, not finite, or an unknown unit)."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError("must be a duration such as 90s, 15m, 24h or 7d")
    value = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    if not math.isfinite(value) or value > 100 * 365 * 86400:
        raise ValueError("must be a duration of at most 100 years")
    return value


def parse_time(text: str, *, now_ns: int | None = None) -> int:
    """Nanoseconds since the epoch of ``now``, ``-15m`` (relative to ``now_ns``, default the
    clock) or an ISO 8601 time (``2026-12-06T02:00:00Z``, an offset, or no zone = UTC)."""
    text = text.strip()
    now = time.time_ns() if now_ns is None else now_ns
    if text == "now":
        return now
    if text.startswith("-"):
        return now - int(round(parse_duration(text[1:]) * 1e9))
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(
            "must be an ISO time (2026-12-06T02:00:00Z), 'now' or a time ago such as -15m"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(round(when.timestamp() * 1e6)) * 1000


def format_ns(ns: int | None) -> str | None:
    """ISO 8601 UTC with milliseconds (``None`` stays ``None``)."""
    if ns is None:
        return None
    when = dt.datetime.fromtimestamp(ns / 1e9, tz=dt.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
