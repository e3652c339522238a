"""Records (schema v1) → pandas datasets for attribution.

Two datasets come from the same records (``Store.record_columns`` output, or any dict of
equal-length lists with the same keys):

- :func:`windowed`: rows = time windows, columns = ``(metric, node)``. Scales to any traffic.
- :func:`lineage`: rows = end-to-end messages (one per ``trace``), columns = the value at each node
  on the message's path. Needed to explain one message.

**The value of a node** is the chosen payload field of the messages it *sends* (records with
``src == node``). A node that never sends (a sink such as a debug node) gets the value of the
messages it *receives* (``dst == node``) instead, and its throughput counts what it received.

**The payload field** (``field=``): ``None`` picks, per node, ``payload`` when that node's
payload is a number, else its first numeric leaf (in record-column order, e.g.
``payload.temperature``); a string uses that path for every node; a mapping gives the path per node
(nodes missing from the mapping use the default rule).

**Empty windows** (a node sent nothing): throughput and errors are ``0``; value and latency are
forward-filled from the node's previous window (a reading holds until the next one), leading
empty windows stay ``NaN``. Pass ``empty="nan"`` to keep every empty window ``NaN``.

Everything is vectorised (groupby/pivot): about 1-2 s for a million records on one core.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from nodered_causal.errors import MissingDataError, UsageError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = [
    "MAX_WINDOWS",
    "METRICS",
    "VAR_SEP",
    "choose_fields",
    "lineage",
    "metric_frame",
    "records_frame",
    "value_fields",
    "windowed",
]

logger = logging.getLogger(__name__)

#: Metrics :func:`windowed` computes per node; ``metric_frame(frame, m)`` selects one of them.
METRICS: tuple[str, ...] = ("throughput", "value", "value_p50", "value_p95", "latency", "errors")

#: Separates node id and payload path in the column of one of a node's value variables
#: (``bt_join::payload.temp``); see :func:`value_fields`.
VAR_SEP = "::"

_INT_COLUMNS = ("seq", "ts_ns")
_NULLABLE_INT_COLUMNS = ("port", "trace", "parent", "latency_ns", "bytes")
_CATEGORY_COLUMNS = ("tap", "boot", "kind", "src", "dst")

Records = "Mapping[str, Any] | pd.DataFrame"


def records_frame(columns: Mapping[str, Any]) -> pd.DataFrame:
    """Build a typed frame from ``Store.record_columns`` output (a dict of equal-length lists).

    ``tap, boot, kind, src, dst`` become categoricals, ``seq, ts_ns`` int64, ``port, trace, parent,
    latency_ns, bytes`` nullable Int64, every ``payload*`` key float64 (``None`` → NaN).
    """
    import numpy as np
    import pandas as pd

    if "ts_ns" not in columns or "src" not in columns:
        raise MissingDataError("records need at least the columns 'ts_ns' and 'src'")
    data: dict[str, Any] = {}
    for key, values in columns.items():
        if key in _CATEGORY_COLUMNS:
            data[key] = pd.Categorical(values)
        elif key in _INT_COLUMNS:
            data[key] = np.asarray(values, dtype=np.int64)
        elif key in _NULLABLE_INT_COLUMNS:
            data[key] = pd.array(values, dtype="Int64")
        elif key.startswith("payload"):
            data[key] = (
                pd.to_numeric(pd.Series(values, dtype=object), errors="coerce")
                .astype("float64")
                .to_numpy()
            )
        else:
            data[key] = values
    frame = pd.DataFrame(data)
    if "kind" not in frame:
        frame["kind"] = pd.Categorical(["deliver"] * len(frame))
    return frame


def _as_frame(records: Any) -> pd.DataFrame:
    import pandas as pd

    if isinstance(records, pd.DataFrame):
        return records
    return records_frame(records)


def _payload_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if is_leaf(str(c))]


def is_leaf(column: str) -> bool:
    """Is ``column`` a payload leaf: ``payload`` itself, ``payload.a.b``, or the leaf of a
    payload that is an array (``payload[0].temp_c``, a join's or batch's parts)?"""
    return column == "payload" or column.startswith(("payload.", "payload["))


def choose_fields(records: Any, field: str | Mapping[str, str] | None = None) -> dict[str, str]:
    """The payload path used as each node's value (see the module docstring for the rule)."""
    frame = _as_frame(records)
    observed = _node_rows(frame)
    payload_cols = _payload_columns(frame)
    nodes = [str(n) for n in observed["node"].cat.categories] if len(observed) else []
    if isinstance(field, str):
        return {n: field for n in nodes}
    given = dict(field or {})
    if not payload_cols:
        return {n: given[n] for n in nodes if n in given}
    counts = observed[["node", *payload_cols]].groupby("node", observed=True).count()
    chosen: dict[str, str] = {}
    for node, row in counts.iterrows():  # one row per node, not per record
        if str(node) in given:
            chosen[str(node)] = given[str(node)]
            continue
        present = [c for c in payload_cols if row[c] > 0]
        if present:
            chosen[str(node)] = "payload" if "payload" in present else present[0]
    return chosen


def value_fields(records: Any, max_fields: int = 6) -> dict[str, list[str]]:
    """Every payload leaf worth a variable, per node: a node's value is often an object
    (``{fill, temp, pressure}`` after a join) and one leaf cannot carry all of it.

    A leaf counts if it is present in at least half of the node's messages; leaves of arrays
    (``payload.lines[0].qty``: positional, present or not by message) only when the node has no
    other leaf; at most ``max_fields`` per node, in record-column order.
    """
    frame = _as_frame(records)
    observed = _node_rows(frame)
    payload_cols = _payload_columns(frame)
    if not payload_cols or len(observed) == 0:
        return {}
    grouped = observed[["node", *payload_cols]].groupby("node", observed=True)
    counts, sizes = grouped.count(), grouped.size()
    out: dict[str, list[str]] = {}
    for node, row in counts.iterrows():
        common = [c for c in payload_cols if row[c] >= 0.5 * sizes[node]]
        plain = [c for c in common if "[" not in c]
        chosen = (plain or common)[:max_fields]
        if chosen:
            out[str(node)] = chosen
    return out


def _codes(column: pd.Series, categories: list[str]) -> np.ndarray:
    """Codes of a (categorical) column into ``categories``; -1 for missing."""
    import numpy as np
    import pandas as pd

    cat = column if isinstance(column.dtype, pd.CategoricalDtype) else column.astype("category")
    index = {c: i for i, c in enumerate(categories)}
    mapping = np.array([index[str(c)] for c in cat.cat.categories] + [-1], dtype=np.int64)
    codes = cat.cat.codes.to_numpy()
    return mapping[np.where(codes < 0, len(mapping) - 1, codes)]


def _node_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Deliveries attributed to the node whose value they carry: ``src``, or ``dst`` for sinks.
    A node's off-wire deliveries (``port`` null) count only if it has no wired ones.

    Returns the delivery rows with an extra categorical column ``node`` (works on category codes,
    never on a million strings).
    """
    import numpy as np
    import pandas as pd

    deliver = frame[(frame["kind"] == "deliver").to_numpy()]
    if "port" in deliver and len(deliver):
        # off-wire deliveries (port null: a link call's call into its link in, a catch/status/
        # complete node told about the source's message) describe the source's value only if it
        # sends nothing over a wire (a link out in return mode)
        off = deliver["port"].isna().to_numpy()
        if off.any():
            wired = set(deliver["src"][~off].astype(str))
            src = deliver["src"].astype(str).to_numpy()
            deliver = deliver[~(off & np.isin(src, list(wired)))]
    names: set[str] = set()
    for key in ("src", "dst"):
        if key in deliver:
            col = deliver[key]
            cats = (
                col.cat.categories
                if isinstance(col.dtype, pd.CategoricalDtype)
                else col.dropna().unique()
            )
            names.update(str(c) for c in cats)
    categories = sorted(names)
    src = _codes(deliver["src"], categories)
    sent_count = np.bincount(src[src >= 0], minlength=len(categories))
    codes = [src]
    parts = [deliver]
    if "dst" in deliver:
        dst = _codes(deliver["dst"], categories)
        sink_mask = dst >= 0
        sink_mask[sink_mask] = sent_count[dst[sink_mask]] == 0
        if bool(sink_mask.any()):
            parts.append(deliver[sink_mask])
            codes.append(dst[sink_mask])
    rows = (
        pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0].reset_index(drop=True)
    )
    all_codes = np.concatenate(codes)
    keep = all_codes >= 0
    rows = rows[keep]
    rows = rows.assign(node=pd.Categorical.from_codes(all_codes[keep], categories=categories))
    return rows


def _node_values(rows: pd.DataFrame, fields: Mapping[str, str]) -> Any:
    """One float per row: the row's node's chosen payload field (vectorised per distinct field)."""
    import numpy as np

    values = np.full(len(rows), np.nan)
    categories = [str(c) for c in rows["node"].cat.categories]
    codes = rows["node"].cat.codes.to_numpy()
    paths = sorted(set(fields.values()))
    field_of = np.array([paths.index(fields[c]) if c in fields else -1 for c in categories] + [-1])
    row_field = field_of[codes]
    for i, path in enumerate(paths):
        if path not in rows.columns:
            continue
        mask = row_field == i
        values[mask] = rows[path].to_numpy(dtype=float, na_value=np.nan)[mask]
    return values


#: The most windows :func:`windowed` builds (rows of the dataset); more is a bad ``window_s``.
MAX_WINDOWS = 1_000_000


def windowed(
    records: Any,
    *,
    window_s: float = 1.0,
    field: str | Mapping[str, str] | None = None,
    start_ns: int | None = None,
    empty: Literal["ffill", "nan"] = "ffill",
    variables: Mapping[str, Sequence[str]] | None = None,
) -> pd.DataFrame:
    """Per-window, per-node metrics; columns are a ``(metric, node)`` MultiIndex (:data:`METRICS`).

    ``throughput`` = deliveries the node sent in the window (received, for sinks), ``value`` /
    ``value_p50`` / ``value_p95`` = mean / median / 95th percentile of the node's value,
    ``latency`` = mean ``latency_ns`` of its sends in seconds, ``errors`` = its error records.
    Window ``i`` covers ``[start_ns + i*window, start_ns + (i+1)*window)``; ``start_ns`` defaults to
    the first record's time rounded down to a multiple of the window (windows align to the wall
    clock, like a metrics system's). Every window up to the last record is a row, traffic or not.
    """
    import numpy as np
    import pandas as pd

    if not (math.isfinite(window_s) and window_s >= 1e-9):
        raise ValueError(f"window_s must be a finite number of seconds >= 1e-9, got {window_s}")
    frame = _as_frame(records)
    if len(frame) == 0:
        raise MissingDataError("no records to build a windowed dataset from")
    window_ns = int(round(window_s * 1e9))
    span_ns = int(frame["ts_ns"].max()) - int(frame["ts_ns"].min())
    if span_ns // window_ns + 2 > MAX_WINDOWS:
        raise UsageError(
            f"a {window_s:g} s window over {span_ns / 1e9:g} s of records makes "
            f"{span_ns // window_ns + 1:,} windows (at most {MAX_WINDOWS:,}): use a longer window"
        )
    t0 = int(frame["ts_ns"].min()) // window_ns * window_ns if start_ns is None else int(start_ns)
    frame = frame[frame["ts_ns"] >= t0]
    rows = _node_rows(frame)
    fields = choose_fields(frame, field)
    n_windows = int((int(frame["ts_ns"].max()) - t0) // window_ns) + 1
    win = ((rows["ts_ns"].to_numpy() - t0) // window_ns).astype(np.int64)
    latency = (
        rows["latency_ns"].to_numpy(dtype=float, na_value=np.nan) / 1e9
        if "latency_ns" in rows
        else np.nan
    )
    work = pd.DataFrame(
        {
            "window": win,
            "node": rows["node"].array,
            "value": _node_values(rows, fields),
            "latency": latency,
        }
    )
    grouped = work.groupby(["window", "node"], observed=True, sort=False)
    stats = grouped.agg(
        throughput=("value", "size"), value=("value", "mean"), latency=("latency", "mean")
    )
    _add_quantiles(stats, grouped)
    errors = frame[frame["kind"] == "error"]
    err_counts = (
        pd.DataFrame(
            {
                "window": (errors["ts_ns"].to_numpy() - t0) // window_ns,
                "node": errors["src"].astype(str).to_numpy(),
            }
        )
        .groupby(["window", "node"])
        .size()
        .rename("errors")
    )
    stats.index = stats.index.set_levels(stats.index.levels[1].astype(str), level=1)
    extra = _variable_stats(rows, win, variables or {})
    if extra is not None:
        stats = pd.concat([stats, extra])
    stats = stats.join(err_counts, how="outer")
    wide = stats.unstack("node")
    wide = wide.reindex(pd.RangeIndex(n_windows, name="window"))
    for metric in ("throughput", "errors"):
        wide[metric] = wide[metric].fillna(0.0)
    if empty == "ffill":
        for metric in ("value", "value_p50", "value_p95", "latency"):
            wide[metric] = wide[metric].ffill()
    wide = wide.reindex(columns=list(METRICS), level=0)
    if extra is not None:  # node::path variables exist for the value metrics only
        keep = [
            not (VAR_SEP in str(node) and not str(metric).startswith("value"))
            for metric, node in wide.columns
        ]
        wide = wide.loc[:, keep]
    wide.columns = wide.columns.set_names(["metric", "node"])
    wide.attrs["fields"] = fields
    wide.attrs["window_s"] = window_s
    wide.attrs["start_ns"] = t0
    logger.debug(
        "windowed: %d records -> %d windows x %d nodes", len(frame), n_windows, len(fields)
    )
    return wide


def _add_quantiles(stats: pd.DataFrame, grouped: Any) -> None:
    """``value_p50`` and ``value_p95`` of each group of ``grouped`` (by window and node)."""
    quant = grouped["value"].quantile([0.5, 0.95]).unstack()
    stats["value_p50"] = quant[0.5]
    stats["value_p95"] = quant[0.95]


def _variable_stats(
    rows: pd.DataFrame, win: np.ndarray, variables: Mapping[str, Sequence[str]]
) -> pd.DataFrame | None:
    """Value stats per (window, ``node::path``) for the nodes with two or more paths."""
    import numpy as np
    import pandas as pd

    node = rows["node"].astype(str).to_numpy()
    parts = []
    for name, paths in variables.items():
        if len(paths) < 2:
            continue
        mask = node == name
        if not mask.any():
            continue
        for path in paths:
            if path not in rows.columns:
                continue
            values = rows[path].to_numpy(dtype=float, na_value=np.nan)[mask]
            parts.append(
                pd.DataFrame(
                    {"window": win[mask], "node": f"{name}{VAR_SEP}{path}", "value": values}
                )
            )
    if not parts:
        return None
    work = pd.concat(parts, ignore_index=True)
    grouped = work.groupby(["window", "node"], sort=False)
    stats = grouped.agg(value=("value", "mean"))
    _add_quantiles(stats, grouped)
    return stats


def metric_frame(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The ``metric`` columns of a :func:`windowed` frame, one column per node id."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    out = frame[metric] if metric in frame.columns.get_level_values(0) else frame.iloc[:, :0]
    out = out.copy()
    out.columns = [str(c) for c in out.columns]
    out.attrs = dict(frame.attrs)
    return out


def lineage(
    records: Any,
    *,
    field: str | Mapping[str, str] | None = None,
    agg: Literal["mean", "first", "last"] = "mean",
) -> pd.DataFrame:
    """One row per end-to-end message, columns = the value at each node on its path.

    Rows are keyed by ``(tap, boot, trace)`` (a ``trace`` is the ``seq`` of the root delivery,
    unique per tap and boot). A node that is **not on the message's path** (an untaken switch
    branch, a node the message never reached) is ``NaN``: missing means "not on the path", never
    zero. A node that sends several times within one trace (fan-out to several wires, a split, a
    join's inputs) gets the ``agg`` of those values (default the mean). Records without a trace are
    left out.
    """
    import pandas as pd

    frame = _as_frame(records)
    if "trace" not in frame:
        raise MissingDataError(
            "records have no 'trace' column: lineage needs the tap's lineage fields"
        )
    frame = frame[frame["trace"].notna()]
    if len(frame) == 0:
        raise MissingDataError("no records with a trace to build a lineage dataset from")
    rows = _node_rows(frame)
    fields = choose_fields(frame, field)
    work = pd.DataFrame(
        {
            "tap": rows["tap"].array if "tap" in rows else "",
            "boot": rows["boot"].array if "boot" in rows else "",
            "trace": rows["trace"].to_numpy(dtype="int64"),
            "node": rows["node"].array,
            "value": _node_values(rows, fields),
        }
    )
    wide = (
        work.groupby(["tap", "boot", "trace", "node"], observed=True, sort=True)["value"]
        .agg(agg)
        .unstack("node")
    )
    wide.columns = [str(c) for c in wide.columns]
    wide.columns.name = "node"
    wide.attrs["fields"] = fields
    return wide
