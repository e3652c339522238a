"""Analysis: recorded wires → datasets → dowhy GCM attribution that names the culprit node.

- :func:`records_frame`, :func:`windowed`, :func:`lineage`: records (``Store.record_columns``) to
  pandas datasets (:mod:`.datasets`).
- :func:`attribute_shift` (baseline vs incident run) and :func:`attribute_anomaly` (one message):
  a typed :class:`Attribution` with ranking, scores, bootstrap intervals, blamed nodes, baselines.
- :mod:`.synthetic`: recordings from a known linear model over a flow's DAG (tests, benchmarks).

pandas and dowhy are only imported when a function runs (``import dowhy.gcm`` costs ~4.5 s).
"""

from __future__ import annotations

from nodered_causal.analysis.attribution import (
    AttributionConfig,
    attribute_anomaly,
    attribute_shift,
)
from nodered_causal.analysis.datasets import lineage, metric_frame, records_frame, windowed
from nodered_causal.analysis.result import Attribution

__all__ = [
    "Attribution",
    "AttributionConfig",
    "attribute_anomaly",
    "attribute_shift",
    "lineage",
    "metric_frame",
    "records_frame",
    "windowed",
]
