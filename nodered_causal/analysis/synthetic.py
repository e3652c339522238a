"""Synthetic recordings from a known linear structural model over a flow's DAG.

Used by the tests, the benchmarks and the experiment scoring to know the right answer:

- :func:`simulate_records` plays messages through the DAG like the runtime does (every message a
  node sends is delivered over each of its wires; a ``switch`` routes a message to port 0 or port 1;
  fan-in nodes fire once per input) and returns v1 records as ``Store.record_columns`` would
  (``payload`` = the node's value), so the datasets are exercised too.
- :func:`simulate_windows` draws the windowed dataset directly (one column per node), for graphs
  too large to play message by message (1000 nodes).

Every node ``n`` computes ``out = a_n + b_n * in + noise_n`` (roots: ``level[window] + noise``);
:class:`Fault` changes one node in the incident run: ``bias`` adds ``magnitude``, ``scale``
multiplies the output by ``magnitude``, ``noise`` adds Gaussian noise of sd ``magnitude``,
``drop`` drops that fraction of the node's messages, ``delay`` holds each message ``magnitude`` s.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import networkx as nx

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = [
    "Fault",
    "LinearModel",
    "linear_model",
    "simulate_records",
    "simulate_windows",
    "to_records",
]

logger = logging.getLogger(__name__)

FAULT_KINDS = ("bias", "scale", "noise", "drop", "delay")


@dataclass(frozen=True)
class Fault:
    """A change of one node's mechanism in the incident run."""

    node: str
    kind: str
    magnitude: float

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(
                f"fault kind must be one of {', '.join(FAULT_KINDS)}, got {self.kind!r}"
            )


@dataclass(frozen=True)
class LinearModel:
    """Per-node intercept ``a``, coefficient ``b`` (on each input) and noise sd."""

    a: Mapping[str, float]
    b: Mapping[str, float]
    sd: Mapping[str, float]


def linear_model(dag: nx.DiGraph, *, seed: int = 0, noise_sd: float = 0.5) -> LinearModel:
    """Seeded random coefficients: ``a`` in [-1, 1], ``|b|`` in [0.6, 1.2], sd ``noise_sd``."""
    import numpy as np

    rng = np.random.default_rng(seed)
    nodes = sorted(str(n) for n in dag.nodes)
    a = dict(zip(nodes, rng.uniform(-1, 1, len(nodes)).tolist(), strict=True))
    signs = rng.choice([-1.0, 1.0], len(nodes))
    b = dict(zip(nodes, (signs * rng.uniform(0.6, 1.2, len(nodes))).tolist(), strict=True))
    sd = {n: noise_sd for n in nodes}
    return LinearModel(a=a, b=b, sd=sd)


def _apply_fault(
    values: np.ndarray, node: str, fault: Fault | None, rng: np.random.Generator
) -> np.ndarray:
    if fault is None or fault.node != node:
        return values
    if fault.kind == "bias":
        return values + fault.magnitude
    if fault.kind == "scale":
        return values * fault.magnitude
    if fault.kind == "noise":
        return values + rng.normal(0.0, fault.magnitude, len(values))
    return values


def simulate_records(
    dag: nx.DiGraph,
    *,
    n_windows: int = 200,
    window_s: float = 1.0,
    rate: float = 10.0,
    seed: int = 0,
    model: LinearModel | None = None,
    fault: Fault | None = None,
    switch_pass: float = 0.7,
    start_ns: int = 1_700_000_000_000_000_000,
    tap: str = "synthetic",
) -> dict[str, list[Any]]:
    """Play ``rate`` messages per window and root through ``dag``; return record columns (v1).

    ``model`` defaults to :func:`linear_model` with ``seed=0`` (the same model for a baseline and an
    incident run with different ``seed`` values). Root levels vary per window (``N(0, 1)``).
    """
    import numpy as np

    if not nx.is_directed_acyclic_graph(dag):
        raise ValueError("simulate_records needs an acyclic graph")
    rng = np.random.default_rng(seed)
    model = model or linear_model(dag)
    window_ns = int(window_s * 1e9)
    inbound: dict[str, list[tuple[np.ndarray, ...]]] = {str(n): [] for n in dag.nodes}
    cols: dict[str, list[np.ndarray]] = {
        k: []
        for k in ("seq", "ts_ns", "src", "port", "dst", "trace", "parent", "latency_ns", "payload")
    }
    next_seq = 1
    for node in nx.topological_sort(dag):
        name = str(node)
        if dag.in_degree(node) == 0:
            counts = rng.poisson(rate, n_windows)
            win = np.repeat(np.arange(n_windows), counts)
            level = rng.normal(0.0, 1.0, n_windows)
            ts = start_ns + win * window_ns + rng.integers(0, window_ns, len(win))
            values = level[win] + rng.normal(0.0, model.sd[name], len(win))
            parent = np.full(len(win), -1, dtype=np.int64)
            trace = np.full(len(win), -1, dtype=np.int64)
        else:
            parts = inbound[name]
            if not parts:
                continue
            in_seq, in_trace, in_ts, in_val = (np.concatenate(p) for p in zip(*parts, strict=True))
            ts = in_ts + rng.exponential(1e6, len(in_ts)).astype(np.int64)
            values = (
                model.a[name]
                + model.b[name] * in_val
                + rng.normal(0.0, model.sd[name], len(in_val))
            )
            parent, trace = in_seq, in_trace
        values = _apply_fault(values, name, fault, rng)
        if fault is not None and fault.node == name and fault.kind == "delay":
            ts = ts + int(fault.magnitude * 1e9)  # seconds the node holds each message
        keep = np.ones(len(values), dtype=bool)
        if fault is not None and fault.node == name and fault.kind == "drop":
            keep = rng.random(len(values)) >= fault.magnitude
        latency = np.zeros(len(values), dtype=np.int64) if dag.in_degree(node) == 0 else ts - in_ts
        edges = sorted(
            dag.out_edges(node, data=True), key=lambda e: (e[2].get("port") or 0, str(e[1]))
        )
        is_switch = dag.nodes[node].get("type") == "switch"
        route = np.where(rng.random(len(values)) < switch_pass, 0, 1) if is_switch else None
        for _, succ, data in edges:
            port = int(data.get("port") or 0)
            mask = keep & (route == port) if route is not None else keep
            n = int(mask.sum())
            seqs = np.arange(next_seq, next_seq + n, dtype=np.int64)
            next_seq += n
            tr = np.where(trace[mask] < 0, seqs, trace[mask])
            par = parent[mask]
            cols["seq"].append(seqs)
            cols["ts_ns"].append(ts[mask])
            cols["src"].append(np.full(n, name, dtype=object))
            cols["port"].append(np.full(n, port))
            cols["dst"].append(np.full(n, str(succ), dtype=object))
            cols["trace"].append(tr)
            cols["parent"].append(par)
            cols["latency_ns"].append(latency[mask])
            cols["payload"].append(values[mask])
            inbound[str(succ)].append((seqs, tr, ts[mask], values[mask]))
    out: dict[str, list[Any]] = {}
    for key, arrays in cols.items():
        joined = np.concatenate(arrays) if arrays else np.zeros(0)
        out[key] = joined.tolist()
    out["parent"] = [None if p < 0 else p for p in out["parent"]]
    total = len(out["seq"])
    out["tap"] = [tap] * total
    out["boot"] = [f"{seed:08x}"] * total
    out["kind"] = ["deliver"] * total
    out["bytes"] = [None] * total
    out["error"] = [None] * total
    return out


def simulate_windows(
    dag: nx.DiGraph,
    *,
    n_windows: int = 600,
    seed: int = 0,
    model: LinearModel | None = None,
    fault: Fault | None = None,
) -> pd.DataFrame:
    """The windowed ``value`` dataset drawn directly: node = a + b * mean(parents) + noise."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    model = model or linear_model(dag)
    data: dict[str, np.ndarray] = {}
    for node in nx.topological_sort(dag):
        name = str(node)
        parents = [str(p) for p in dag.predecessors(node)]
        noise = rng.normal(0.0, model.sd[name], n_windows)
        if parents:
            base = model.a[name] + model.b[name] * np.mean([data[p] for p in parents], axis=0)
            values = base + noise
        else:
            values = rng.normal(0.0, 1.0, n_windows) + noise
        data[name] = _apply_fault(values, name, fault, rng)
    return pd.DataFrame(data)


def to_records(columns: Mapping[str, list[Any]]) -> list[dict[str, Any]]:
    """Record columns back to v1 record objects (as the tap sends them), e.g. for a Store."""
    from nodered_causal.analysis import datasets

    keys = ("tap", "boot", "seq", "ts_ns", "kind", "src", "port", "dst", "trace", "parent",
            "latency_ns", "bytes", "error")  # fmt: skip
    paths = [k for k in columns if datasets.is_leaf(k)]
    out = []
    for i in range(len(columns["seq"])):
        rec: dict[str, Any] = {"v": 1, **{k: columns[k][i] for k in keys if k in columns}}
        values = {p: columns[p][i] for p in paths if columns[p][i] is not None}
        rec["payload"] = {
            "type": "number" if values else "undefined",
            "len": None,
            "values": values,
        }
        out.append(rec)
    return out
