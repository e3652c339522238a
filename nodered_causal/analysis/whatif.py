"""What if a node behaved differently? Predict the target's distribution under a changed node.

Fits a structural causal model on a baseline recording (windowed metric, one column per node of
the target's ancestor graph; empirical distributions at the roots, linear additive-noise models
elsewhere), then draws dowhy interventional samples with the node's value changed the way a fault
would change it (``bias`` adds, ``scale`` multiplies, ``constant`` replaces, ``noise`` adds
Gaussian noise) and summarises the target: mean and quantiles, beside the baseline's.

Nodes without data are contracted (their parents are wired to their children).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import networkx as nx

from nodered_causal.analysis import graph as g
from nodered_causal.analysis.datasets import metric_frame, windowed
from nodered_causal.analysis.gcm_engine import set_linear_mechanisms
from nodered_causal.errors import AnalysisError, MissingDataError, UnknownNodeError

__all__ = ["QUANTILES", "WhatIf", "what_if"]

logger = logging.getLogger(__name__)

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


@dataclass(frozen=True)
class WhatIf:
    """The predicted distribution of ``target``'s ``metric`` when ``node`` changes by ``change``."""

    target: str
    node: str
    change: str
    metric: str
    baseline_mean: float
    predicted_mean: float
    baseline_quantiles: Mapping[str, float]
    predicted_quantiles: Mapping[str, float]
    n_windows: int
    n_samples: int
    runtime_s: float
    notes: tuple[str, ...] = field(default=())

    @property
    def predicted_change(self) -> float:
        return self.predicted_mean - self.baseline_mean

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "predicted_change": self.predicted_change}


def _intervention(kind: str, value: float, rng: Any) -> Callable[[Any], Any]:
    if kind == "bias":
        return lambda x: x + value
    if kind == "scale":
        return lambda x: x * value
    if kind == "constant":
        return lambda x: x * 0 + value
    if kind == "noise":
        return lambda x: x + rng.normal(0.0, value, size=getattr(x, "shape", None))
    raise AnalysisError(
        f"what-if supports bias, scale, constant and noise changes, not {kind!r} "
        "(rate faults like drop or delay change throughput, not the node's values)"
    )


def what_if(
    dag: nx.DiGraph,
    baseline: Any,
    node: str,
    target: str,
    *,
    kind: str,
    value: float,
    metric: str = "value",
    window_s: float = 1.0,
    field: str | None = None,
    n_samples: int = 5000,
    seed: int = 0,
) -> WhatIf:
    """Predict ``target``'s ``metric`` if ``node``'s values changed by ``kind``/``value``.

    ``baseline``: record columns (``Store.record_columns``) or a :func:`windowed` frame.
    ``dag``: the flow's acyclic analysis DAG (``to_causal_dag(flow, condensed=True)``).
    """
    import numpy as np
    from dowhy import gcm

    started = time.perf_counter()
    frame = (
        baseline
        if hasattr(baseline, "columns")
        else windowed(baseline, window_s=window_s, field=field)
    )
    data = metric_frame(frame, metric)
    sub = g.ancestor_graph(dag, target)
    if node not in dag:
        raise UnknownNodeError(f"node {node!r} is not in the flow's graph", node_id=node)
    if node not in sub:
        raise AnalysisError(f"node {node!r} is not upstream of the target {target!r}", node_id=node)
    columns = g.node_columns(data, sub, metric)
    notes: list[str] = []
    empty = [n for n in sub.nodes if str(n) not in columns or columns[str(n)].isna().all()]
    if node in empty:
        raise MissingDataError(f"no {metric} data for node {node!r} in the baseline", node_id=node)
    if empty:
        notes.append(f"contracted nodes without data: {', '.join(sorted(map(str, empty)))}")
    sub = g.contract(sub, empty)
    columns = columns[[str(n) for n in sub.nodes]].dropna()
    g.require_target(columns, target, "baseline")
    if len(columns) < 8:
        raise MissingDataError(
            f"only {len(columns)} complete windows in the baseline: record longer or use a "
            "smaller window"
        )
    gcm.config.disable_progress_bars()
    gcm.util.general.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    model = gcm.StructuralCausalModel(nx.DiGraph(sub))
    set_linear_mechanisms(model)
    gcm.fit(model, columns)
    samples = gcm.interventional_samples(
        model, {node: _intervention(kind, value, rng)}, num_samples_to_draw=n_samples
    )
    predicted = samples[target].to_numpy(dtype=float)
    observed = columns[target].to_numpy(dtype=float)
    return WhatIf(
        target=target,
        node=node,
        change=f"{kind}:{value:g}",
        metric=metric,
        baseline_mean=float(observed.mean()),
        predicted_mean=float(predicted.mean()),
        baseline_quantiles={f"{q:g}": float(np.quantile(observed, q)) for q in QUANTILES},
        predicted_quantiles={f"{q:g}": float(np.quantile(predicted, q)) for q in QUANTILES},
        n_windows=len(columns),
        n_samples=n_samples,
        runtime_s=time.perf_counter() - started,
        notes=tuple(notes),
    )
