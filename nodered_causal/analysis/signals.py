"""All of a node's signals in one dataset: value leaves, throughput, age and errors per window.

A fault shows where it shows: a ``scale`` in a payload leaf, a ``drop`` in throughput, a ``delay``
in the age of every message downstream, an ``error`` in errors and throughput. One analysis over
all of them (``metric="all"``, the default of :func:`~.attribution.attribute_shift`) needs no
guess of which one to look at.

:func:`signal_frame` turns records into one row per window and one column per **variable**
``<node>::<signal>``:

- ``<node>::payload.x`` — mean of each numeric payload leaf the node sends
  (:func:`~.datasets.value_fields`, at most ``max_fields``; a node with one leaf keeps it);
- ``<node>::#count`` — messages the node sent in the window (received, for sinks);
- ``<node>::#age`` — mean age of those messages: seconds since the root delivery of their trace
  (the tap's lineage), so a delay anywhere upstream shows at every node behind it; without
  lineage, the node's own receive-to-send latency (``#latency``) instead;
- ``<node>::#errors`` — the node's error records.

:func:`family` says which kind a variable is; the analysis wires a variable only to the same kind
of its parents' variables (a count is explained by counts, an age by ages; errors by nothing).
A condensed node (a cycle, ``members``) gets its members' variables combined (:func:`condense`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from nodered_causal.analysis import datasets

if TYPE_CHECKING:
    import networkx as nx
    import pandas as pd

__all__ = ["SIGNALS", "condense", "family", "node_of", "signal_frame"]

SEP = datasets.VAR_SEP
COUNT, AGE, LATENCY, ERRORS = "#count", "#age", "#latency", "#errors"
#: The signal families besides ``value`` (payload leaves).
SIGNALS: tuple[str, ...] = (COUNT, AGE, LATENCY, ERRORS)
#: Families summed (not averaged) when a condensed node combines its members.
_SUMMED = (COUNT, ERRORS)
#: ``--metric`` filter -> the families it keeps.
FILTERS: dict[str, tuple[str, ...]] = {
    "all": ("value", COUNT, AGE, LATENCY, ERRORS),
    "value": ("value",),
    "throughput": (COUNT,),
    "latency": (AGE, LATENCY),
    "errors": (ERRORS, COUNT),
}


def family(variable: str) -> str:
    """``value`` for a payload leaf, else the signal (``#count``, ``#age``, ...)."""
    signal = variable.rpartition(SEP)[2]
    return signal if signal in SIGNALS else "value"


def node_of(variable: str) -> str:
    """The node a variable belongs to (``bt_fill::#count`` -> ``bt_fill``)."""
    return variable.rpartition(SEP)[0] if SEP in variable else variable


def signal_frame(
    records: Any,
    *,
    window_s: float = 0.5,
    field: str | Mapping[str, str] | None = None,
    max_fields: int = 6,
    families: tuple[str, ...] = FILTERS["all"],
    start_ns: int | None = None,
) -> pd.DataFrame:
    """One row per window, one column per ``<node>::<signal>`` variable (module docstring)."""
    import numpy as np
    import pandas as pd

    frame = datasets.records_frame(records) if not isinstance(records, pd.DataFrame) else records
    leaves = datasets.value_fields(frame, max_fields) if field is None else {}
    wide = datasets.windowed(
        frame, window_s=window_s, field=field, variables=leaves, start_ns=start_ns
    )
    chosen = wide.attrs.get("fields", {})
    columns: dict[str, Any] = {}
    if "value" in families:
        values = wide["value"]
        for col in values.columns:
            name = str(col)
            if SEP in name:
                columns[name] = values[col]
            elif len(leaves.get(name, ())) < 2 and name in chosen:
                columns[f"{name}{SEP}{chosen[name]}"] = values[col]
    for fam, metric in ((COUNT, "throughput"), (ERRORS, "errors")):
        if fam in families:
            for col in wide[metric].columns:
                if SEP not in str(col):
                    columns[f"{col}{SEP}{fam}"] = wide[metric][col]
    has_trace = "trace" in frame and bool(frame["trace"].notna().any())
    if AGE in families and has_trace:
        ages = _age_frame(frame, window_s, int(wide.attrs["start_ns"]), len(wide))
        for col in ages.columns:
            columns[f"{col}{SEP}{AGE}"] = ages[col]
    elif LATENCY in families or AGE in families:
        for col in wide["latency"].columns:
            if SEP not in str(col) and wide["latency"][col].notna().any():
                columns[f"{col}{SEP}{LATENCY}"] = wide["latency"][col]
    out = pd.DataFrame(columns, index=wide.index).astype(float)
    out = out.loc[:, [c for c in out.columns if np.isfinite(out[c]).any()]]
    out.attrs = {"window_s": window_s, "start_ns": wide.attrs["start_ns"], "fields": chosen}
    return out


def _age_frame(frame: pd.DataFrame, window_s: float, t0: int, n_windows: int) -> pd.DataFrame:
    """Mean age (seconds since the root delivery of its trace) of each node's messages."""
    import numpy as np
    import pandas as pd

    rows = datasets._node_rows(frame[frame["trace"].notna()])
    if not len(rows):
        return pd.DataFrame(index=pd.RangeIndex(n_windows))
    keys = [k for k in ("tap", "boot") if k in rows] + ["trace"]
    ts = rows["ts_ns"].to_numpy(dtype=np.int64)
    root = rows.groupby(keys, observed=True)["ts_ns"].transform("min").to_numpy(dtype=np.int64)
    window_ns = int(round(window_s * 1e9))
    work = pd.DataFrame(
        {
            "window": (ts - t0) // window_ns,
            "node": rows["node"].astype(str).to_numpy(),
            "age": (ts - root) / 1e9,
        }
    )
    work = work[(work["window"] >= 0) & (work["window"] < n_windows)]
    out = work.groupby(["window", "node"])["age"].mean().unstack("node")
    return out.reindex(pd.RangeIndex(n_windows, name="window")).ffill()


def condense(frame: pd.DataFrame, dag: nx.DiGraph) -> pd.DataFrame:
    """Variables of a condensed node's members (``members`` attribute) combined into the
    condensed node's own: counts and errors summed, values and ages averaged."""
    import pandas as pd

    groups: dict[str, list[str]] = {}
    member_of = {
        str(m): str(n) for n, data in dag.nodes(data=True) for m in data.get("members") or ()
    }
    if not member_of:
        return frame
    keep: dict[str, Any] = {}
    for col in frame.columns:
        node, signal = node_of(str(col)), str(col).rpartition(SEP)[2]
        owner = member_of.get(node)
        if owner is None:
            keep[str(col)] = frame[col]
        else:
            groups.setdefault(f"{owner}{SEP}{signal}", []).append(str(col))
    for name, cols in groups.items():
        block = frame[cols]
        summed = family(name) in _SUMMED
        keep[name] = block.sum(axis=1, min_count=1) if summed else block.mean(axis=1)
    out = pd.DataFrame(keep, index=frame.index)
    out.attrs = dict(frame.attrs)
    return out


def align(baseline: pd.DataFrame, incident: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both frames with the same variables: a node that sent nothing in one recording (a drop of
    every message) has counts and errors of 0 there, not "no data"; other variables missing on
    one side stay missing (the analysis notes and leaves them out)."""
    columns = list(dict.fromkeys([*map(str, baseline.columns), *map(str, incident.columns)]))
    out = []
    for frame in (baseline, incident):
        full = frame.reindex(columns=columns)
        for col in columns:
            if col not in frame.columns and family(col) in _SUMMED:
                full[col] = 0.0
        full.attrs = dict(frame.attrs)
        out.append(full)
    return out[0], out[1]
