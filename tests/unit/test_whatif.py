from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from nodered_causal.analysis.whatif import what_if
from nodered_causal.errors import AnalysisError


def _frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.normal(10, 1, n)
    b = 2 * a + rng.normal(0, 0.1, n)
    c = b + 3 + rng.normal(0, 0.1, n)
    cols = pd.MultiIndex.from_tuples([("value", "a"), ("value", "b"), ("value", "c")])
    return pd.DataFrame(np.column_stack([a, b, c]), columns=cols)


def _dag() -> nx.DiGraph:
    g = nx.DiGraph()
    g.add_edges_from([("a", "j"), ("j", "b"), ("b", "c"), ("x", "y")])  # j: a junction, no data
    return g


@pytest.mark.parametrize(
    ("node", "kind", "value", "expected_shift"),
    [("b", "bias", 2.0, 2.0), ("a", "scale", 2.0, 20.0), ("a", "bias", -1.0, -2.0)],
)
def test_linear_interventions_propagate(
    node: str, kind: str, value: float, expected_shift: float
) -> None:
    result = what_if(_dag(), _frame(), node, "c", kind=kind, value=value, seed=1)
    assert result.baseline_mean == pytest.approx(23.0, abs=0.2)
    assert result.predicted_change == pytest.approx(expected_shift, rel=0.05, abs=0.1)
    assert result.n_windows == 400
    assert "contracted nodes without data: j" in result.notes
    assert result.predicted_quantiles["0.5"] == pytest.approx(
        result.baseline_quantiles["0.5"] + expected_shift, abs=0.5
    )


def test_same_seed_same_prediction() -> None:
    one = what_if(_dag(), _frame(), "b", "c", kind="noise", value=1.0, seed=4)
    two = what_if(_dag(), _frame(), "b", "c", kind="noise", value=1.0, seed=4)
    assert one.predicted_quantiles == two.predicted_quantiles


def test_node_not_upstream_and_rate_faults_are_refused() -> None:
    with pytest.raises(AnalysisError, match="node 'y' is not upstream of the target 'c'"):
        what_if(_dag(), _frame(), "y", "c", kind="bias", value=1.0)
    with pytest.raises(AnalysisError, match="not 'drop'"):
        what_if(_dag(), _frame(), "b", "c", kind="drop", value=0.5)
