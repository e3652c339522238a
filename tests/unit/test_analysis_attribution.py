"""Attribution on synthetic runs from a known linear model over the DAG of a real flow.

The runs are generated as v1 records (so the windowed/lineage datasets are exercised) and the
measured rates are asserted: AC@1 (the faulted node is blamed first) and specificity (nothing is
blamed when nothing changed), each over 24 seeded cases.
"""

from __future__ import annotations

import json

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from nodered_causal.analysis import (
    Attribution,
    AttributionConfig,
    attribute_anomaly,
    attribute_shift,
    datasets,
    synthetic,
)
from nodered_causal.errors import CycleError, MissingDataError, UnknownNodeError
from tests.unit.analysis_support import FLOWS, SENSOR_SENDERS, flow_dag

WINDOWS = 200
FAULTS = (("bias", 0.5), ("scale", 1.5), ("noise", 2.0))
TARGET = "sink"


@pytest.fixture(scope="module")
def dag() -> nx.DiGraph:
    return flow_dag()


def _case(dag: nx.DiGraph, seed: int, fault: synthetic.Fault | None) -> Attribution:
    base = synthetic.simulate_records(dag, n_windows=WINDOWS, seed=1000 + seed)
    incident = synthetic.simulate_records(dag, n_windows=WINDOWS, seed=2000 + seed, fault=fault)
    return attribute_shift(dag, base, incident, TARGET, config=AttributionConfig(seed=seed))


def test_fault_is_ranked_first(dag: nx.DiGraph) -> None:
    """24 cases: each sending node upstream of the sink x bias/scale/noise; measured AC@1 = 1.0."""
    hits = []
    for seed in range(24):
        node = SENSOR_SENDERS[seed % len(SENSOR_SENDERS)]
        kind, magnitude = FAULTS[(seed // len(SENSOR_SENDERS)) % len(FAULTS)]
        result = _case(dag, seed, synthetic.Fault(node, kind, magnitude))
        hits.append(result.top == node)
    assert np.mean(hits) >= 0.95, hits


def test_no_change_blames_nothing(dag: nx.DiGraph) -> None:
    """24 cases without a fault; measured specificity = 1.0."""
    clean = [not _case(dag, seed, None).blamed for seed in range(24)]
    assert np.mean(clean) >= 0.95, clean


def test_result_shape_and_determinism(dag: nx.DiGraph) -> None:
    fault = synthetic.Fault("calibrate", "bias", 0.5)
    first, again = _case(dag, 7, fault), _case(dag, 7, fault)
    assert first.blamed == ("calibrate",)
    assert first.verdict == "blamed: calibrate (function)"
    assert first.changed_mechanisms == ("calibrate",)
    assert first.ranking[0] == "calibrate" and set(first.ranking) == set(first.scores)
    low, high = first.intervals["calibrate"]
    assert 0 < low <= first.scores["calibrate"] <= high
    assert first.intervals["read_sensor"] == (0.0, 0.0)
    sizes = first.dataset_sizes
    assert (sizes["baseline"], sizes["incident"], sizes["nodes"]) == (WINDOWS, WINDOWS, 7)
    assert sizes["variables"] > 7  # every node's signals
    assert first.baselines["most_upstream"][0] == "calibrate"
    strip = lambda a: {k: v for k, v in json.loads(a.to_json()).items() if k != "runtime_s"}  # noqa: E731
    assert strip(first) == strip(again)
    frame = first.to_frame()
    assert list(frame.index) == list(first.ranking)
    assert bool(frame.loc["calibrate", "blamed"]) and frame.loc["calibrate", "rank"] == 1


def test_throughput_drop_is_found(dag: nx.DiGraph) -> None:
    base = synthetic.simulate_records(dag, n_windows=WINDOWS, rate=20, seed=1)
    incident = synthetic.simulate_records(
        dag, n_windows=WINDOWS, rate=20, seed=2, fault=synthetic.Fault("to_fahrenheit", "drop", 0.5)
    )
    result = attribute_shift(dag, base, incident, "comfort", metric="throughput")
    assert result.top == "to_fahrenheit"


def test_target_without_ancestors(dag: nx.DiGraph) -> None:
    base = synthetic.simulate_records(dag, n_windows=WINDOWS, seed=1)
    same = synthetic.simulate_records(dag, n_windows=WINDOWS, seed=2)
    shifted = synthetic.simulate_records(
        dag, n_windows=WINDOWS, seed=2, fault=synthetic.Fault("src_tick", "bias", 1.0)
    )
    quiet = attribute_shift(dag, base, same, "src_tick")
    assert quiet.ranking == ("src_tick",) and quiet.blamed == ()
    assert quiet.verdict == "no significant change"
    assert attribute_shift(dag, base, shifted, "src_tick").blamed == ("src_tick",)


def test_constant_and_silent_columns_are_left_out_with_a_note() -> None:
    chain = nx.DiGraph([("a", "b"), ("b", "c"), ("c", "d")])
    rng = np.random.default_rng(0)

    def run(bias: float) -> pd.DataFrame:
        a = rng.normal(size=300)
        c = 2 * a + rng.normal(scale=0.3, size=300) + bias
        d = c + rng.normal(scale=0.3, size=300)
        return pd.DataFrame({"a": a, "b": 1.0, "c": c, "d": d})

    base, incident = run(0.0), run(0.5)
    incident.loc[:10, "a"] = np.nan  # windows without traffic at the start
    result = attribute_shift(chain, base, incident, "d")
    assert result.blamed == ("c",)
    assert "b: constant value (1), left out" in result.notes
    no_b = incident.drop(columns="b")
    assert (
        "b: no value data in the incident data, left out"
        in attribute_shift(chain, base, no_b, "d").notes
    )


def test_timestamp_payloads_are_left_out() -> None:
    """An inject's default payload is Date.now(): it only counts time, never a cause to compare."""
    chain = nx.DiGraph([("clock", "read"), ("read", "out")])
    rng = np.random.default_rng(1)

    def run(start: float, bias: float) -> pd.DataFrame:
        read = rng.normal(size=200) + bias
        out = read + rng.normal(scale=0.2, size=200)
        return pd.DataFrame({"clock": start + 1000.0 * np.arange(200), "read": read, "out": out})

    result = attribute_shift(chain, run(1.7e12, 0.0), run(1.8e12, 1.0), "out")
    assert result.blamed == ("read",)
    assert "clock: its value only counts time (a timestamp or counter), left out" in result.notes


def test_cycle_upstream_of_target_is_an_error() -> None:
    loop = nx.DiGraph([("a", "b"), ("b", "c"), ("c", "b"), ("c", "d")])
    frame = pd.DataFrame(np.random.default_rng(0).normal(size=(50, 4)), columns=list("abcd"))
    with pytest.raises(CycleError) as info:
        attribute_shift(loop, frame, frame, "d")
    assert info.value.cycle == [("b", "c"), ("c", "b")]
    assert str(info.value) == (
        "the analysis graph upstream of 'd' has a cycle (b -> c -> b); "
        "use the condensed graph (to_causal_dag(flow, condensed=True))"
    )


def test_unknown_target_and_missing_target_data(dag: nx.DiGraph) -> None:
    frame = pd.DataFrame({"src_tick": [1.0, 2.0]})
    with pytest.raises(UnknownNodeError, match="target node 'nope' is not in the flow's graph"):
        attribute_shift(dag, frame, frame, "nope")
    with pytest.raises(
        MissingDataError, match="no data for the target node 'sink' in the baseline"
    ):
        attribute_shift(dag, frame, frame, "sink")


def test_subflow_internal_culprit_named_with_instance() -> None:
    """flows/bottling-line.json runs one calibration subflow twice (°C → °F, bar → psi): a fault
    inside the psi instance is blamed on that instance's inner node, named with the instance."""
    dag = flow_dag(FLOWS / "bottling-line.json")
    culprit = "bt_cal_psi-sf_cal_fn"
    base = synthetic.simulate_records(dag, n_windows=WINDOWS, seed=1)
    incident = synthetic.simulate_records(
        dag, n_windows=WINDOWS, seed=2, fault=synthetic.Fault(culprit, "bias", 0.5)
    )
    result = attribute_shift(dag, base, incident, "bt_dashboard")
    assert result.blamed == (culprit,)
    label = "gain & offset (function) in subflow instance bar → psi [bt_cal_psi]"
    assert result.labels[culprit] == label
    assert result.verdict == f"blamed: {label}"
    assert "bt_cal_temp-sf_cal_fn" not in result.changed_mechanisms


def test_anomalous_messages_are_explained(dag: nx.DiGraph) -> None:
    """Per-message lineage: rows of a faulty run explained against a normal run (10 cases)."""
    normal = datasets.lineage(synthetic.simulate_records(dag, n_windows=60, seed=5))
    hits = []
    for seed in range(10):
        node = SENSOR_SENDERS[1 + seed % 5]  # the root's value is the message itself
        faulty = synthetic.simulate_records(
            dag, n_windows=3, seed=100 + seed, fault=synthetic.Fault(node, "bias", 4.0)
        )
        rows = datasets.lineage(faulty).dropna(subset=[TARGET, node]).head(5)  # via the node
        result = attribute_anomaly(dag, normal, rows, TARGET, config=AttributionConfig(seed=seed))
        hits.append(result.top == node)
    assert np.mean(hits) >= 0.9, hits
    clean = datasets.lineage(synthetic.simulate_records(dag, n_windows=3, seed=99)).head(5)
    assert attribute_anomaly(dag, normal, clean, TARGET).blamed == ()


def test_anomaly_leaves_out_nodes_off_the_path(dag: nx.DiGraph) -> None:
    normal = datasets.lineage(synthetic.simulate_records(dag, n_windows=60, seed=5))
    rows = datasets.lineage(synthetic.simulate_records(dag, n_windows=3, seed=6))
    off = rows[rows["humidity_check"].isna()].head(1)
    result = attribute_anomaly(dag, normal, off, TARGET)
    assert "humidity_check" not in result.ranking
    assert "humidity_check: not on the anomalous message's path, left out" in result.notes


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="alpha must be a number in"):
        AttributionConfig(alpha=2)
    with pytest.raises(ValueError, match="mechanisms='auto' needs engine='dowhy'"):
        AttributionConfig(mechanisms="auto")  # never a silent switch of the engine
    assert AttributionConfig(engine="dowhy", mechanisms="auto").engine == "dowhy"
    for bad in ({"engine": "slow"}, {"window_s": float("nan")}, {"n_bootstrap": 1.5}):
        with pytest.raises(ValueError, match=f"{next(iter(bad))} must be"):
            AttributionConfig(**bad)  # type: ignore[arg-type]
