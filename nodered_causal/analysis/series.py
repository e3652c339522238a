"""A few nodes' values over time, for the "before and after" charts of a report.

:func:`window_series` windows a run's records (the same :func:`~.datasets.windowed` the
attribution uses) and returns, per node, ``(field, [(seconds since the run's first window,
value), ...])``; :func:`message_series` does the same per message of a :func:`~.datasets.lineage`
frame (x = the message's number in the run).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from nodered_causal.analysis.datasets import metric_frame, windowed

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["message_series", "window_series"]

Points = list[tuple[float, float]]


def window_series(
    records: Any,
    nodes: Iterable[str],
    *,
    metric: str = "value",
    window_s: float = 1.0,
    field: str | Mapping[str, str] | None = None,
) -> dict[str, tuple[str, Points]]:
    """Per node (those with data): the payload field used and its ``metric`` per window."""
    frame = windowed(records, window_s=window_s, field=field)
    fields: Mapping[str, str] = frame.attrs.get("fields", {})
    values = metric_frame(frame, metric)
    out: dict[str, tuple[str, Points]] = {}
    for node in nodes:
        if node not in values.columns:
            continue
        column = values[node].to_numpy(dtype=float)
        points = [(i * window_s, float(v)) for i, v in enumerate(column) if math.isfinite(v)]
        if points:
            out[node] = (fields.get(node, "payload"), points)
    return out


def message_series(messages: pd.DataFrame, nodes: Iterable[str]) -> dict[str, tuple[str, Points]]:
    """Per node (those on some message's path): its value in each message, x = message number."""
    fields: Mapping[str, str] = messages.attrs.get("fields", {})
    out: dict[str, tuple[str, Points]] = {}
    for node in nodes:
        if node not in messages.columns:
            continue
        column = messages[node].to_numpy(dtype=float)
        points = [(float(i), float(v)) for i, v in enumerate(column) if math.isfinite(v)]
        if points:
            out[node] = (fields.get(node, "payload"), points)
    return out
