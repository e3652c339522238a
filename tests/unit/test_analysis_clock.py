from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd

from nodered_causal.analysis import AttributionConfig, attribute_shift


def _frames(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    n = 120

    def run(t0: float, bias: float) -> pd.DataFrame:
        tick = t0 + np.arange(n) * 1000.0  # an inject's timestamp payload, per window
        x = rng.normal(5, 1, n) + bias
        y = 2 * x + rng.normal(0, 0.5, n)
        return pd.DataFrame({"tick": tick, "x": x, "y": y})

    return run(1.7e12, 0.0), run(1.7e12 + n * 1000.0, 1.5)


def test_timestamp_source_is_left_out_and_the_real_culprit_blamed() -> None:
    dag = nx.DiGraph([("tick", "x"), ("x", "y")])
    base, incident = _frames()
    result = attribute_shift(dag, base, incident, "y", config=AttributionConfig(seed=1))
    assert "tick: its value only counts time (a timestamp or counter), left out" in result.notes
    assert result.blamed == ("x",)
