"""The dowhy engines on the sensor flow (one case each: importing dowhy.gcm alone takes ~4.5 s)."""

from __future__ import annotations

import networkx as nx
import pytest

from nodered_causal.analysis import (
    AttributionConfig,
    attribute_anomaly,
    attribute_shift,
    datasets,
    synthetic,
)
from nodered_causal.errors import AnalysisError
from tests.unit.analysis_support import flow_dag


@pytest.fixture(scope="module")
def runs() -> tuple[nx.DiGraph, dict[str, list[object]], dict[str, list[object]]]:
    dag = flow_dag()
    base = synthetic.simulate_records(dag, n_windows=200, seed=1)
    fault = synthetic.Fault("calibrate", "bias", 0.5)
    return dag, base, synthetic.simulate_records(dag, n_windows=200, seed=2, fault=fault)


@pytest.mark.parametrize(
    "config",
    [
        AttributionConfig(engine="dowhy", n_bootstrap=3),
        AttributionConfig(
            engine="dowhy-full",
            change_test="local",
            n_bootstrap=0,
            shapley="early_stopping",
            num_samples=200,
        ),  # fmt: skip
        AttributionConfig(engine="dowhy", mechanisms="auto", n_bootstrap=0),
    ],
    ids=["dowhy-shortcut", "dowhy-full", "auto-mechanisms"],
)
def test_dowhy_engines_blame_the_fault(runs, config: AttributionConfig) -> None:  # type: ignore[no-untyped-def]
    dag, base, incident = runs
    result = attribute_shift(dag, base, incident, "sink", config=config)
    assert result.top == "calibrate"
    assert result.engine == config.engine
    if config.mechanisms == "auto":
        assert any(
            n.startswith("auto mechanisms (gcm.evaluate_causal_model): ")
            and "src_tick::#count: EmpiricalDistribution" in n
            for n in result.notes
        )
    if config.n_bootstrap:
        low, high = result.intervals["calibrate"]
        assert 0 < low <= high


def test_same_seed_same_result_with_dowhy(runs) -> None:  # type: ignore[no-untyped-def]
    dag, base, incident = runs
    config = AttributionConfig(engine="dowhy", n_bootstrap=0, seed=3)
    first = attribute_shift(dag, base, incident, "sink", config=config)
    again = attribute_shift(dag, base, incident, "sink", config=config)
    assert first.scores == again.scores


def test_dowhy_anomaly_attribution(runs) -> None:  # type: ignore[no-untyped-def]
    dag, base, _ = runs
    normal = datasets.lineage(base)
    faulty = synthetic.simulate_records(
        dag, n_windows=2, seed=9, fault=synthetic.Fault("to_fahrenheit", "bias", 4.0)
    )
    rows = datasets.lineage(faulty).dropna(subset=["sink", "to_fahrenheit"]).head(3)
    config = AttributionConfig(engine="dowhy", n_bootstrap=0, num_samples=300)
    assert attribute_anomaly(dag, normal, rows, "sink", config=config).top == "to_fahrenheit"


def test_dowhy_failures_name_the_node(runs, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    import dowhy.gcm.fitting_sampling as fitting

    def broken(model, node, data):  # type: ignore[no-untyped-def]
        raise RuntimeError(f"no mechanism for {node}")

    monkeypatch.setattr(fitting, "fit_causal_model_of_target", broken)
    dag, base, incident = runs
    with pytest.raises(AnalysisError) as info:
        attribute_shift(
            dag, base, incident, "sink", config=AttributionConfig(engine="dowhy", n_bootstrap=0)
        )
    assert (
        str(info.value)
        == "dowhy failed to fit the mechanism at node 'read_sensor' (read_sensor::#age): "
        "no mechanism for read_sensor::#age"
    )
    assert info.value.node_id == "read_sensor"
