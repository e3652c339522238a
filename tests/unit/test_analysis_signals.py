"""All signals in one analysis (signals.py), message-level tests (messages.py) and the baselines
(baselines.py), on synthetic recordings of the sensor pipeline's real DAG."""

from __future__ import annotations

import numpy as np
import pytest
from analysis_support import flow_dag

from nodered_causal.analysis import AttributionConfig, attribute_shift, messages, signals, synthetic
from nodered_causal.analysis.baselines import _baro_scores, run_baselines
from nodered_causal.analysis.linear import Structure, mechanism_test

DAG = flow_dag()
TARGET = "sink"


def _runs(fault: synthetic.Fault | None, n: int = 40) -> tuple[dict, dict]:  # type: ignore[type-arg]
    base = synthetic.simulate_records(DAG, n_windows=n, window_s=0.5, rate=20, seed=1)
    inc = synthetic.simulate_records(DAG, n_windows=n, window_s=0.5, rate=20, seed=2, fault=fault)
    return base, inc


def test_signal_frame_has_every_signal_of_every_node() -> None:
    base, _ = _runs(None)
    frame = signals.signal_frame(base, window_s=0.5)
    cols = set(frame.columns)
    for node in ("read_sensor", "calibrate", "comfort"):
        assert {f"{node}::payload", f"{node}::#count", f"{node}::#age"} <= cols
        assert {signals.family(c) for c in cols if signals.node_of(c) == node} >= {
            "value",
            "#count",
            "#age",
        }
    # age grows along the path: every hop adds its processing time to the message's age
    assert frame["read_sensor::#age"].mean() < frame["calibrate::#age"].mean()
    assert frame["calibrate::#age"].mean() < frame["comfort::#age"].mean()
    # counts along a chain are proportional per window: one delivery per message and wire
    wires = DAG.out_degree("calibrate") / DAG.out_degree("read_sensor")
    up, down = frame["read_sensor::#count"] * wires, frame["calibrate::#count"]
    assert abs(up.sum() - down.sum()) <= wires  # a message at the very end may be cut off
    assert np.corrcoef(up, down)[0, 1] > 0.95  # a hop's millisecond may cross a window edge
    assert len(frame) == 40


def test_align_gives_a_silent_node_zero_counts_not_missing_data() -> None:
    base, inc = _runs(None)
    f0 = signals.signal_frame(base, window_s=0.5)
    quiet = [c for c in f0.columns if signals.node_of(c) == "calibrate"]
    f1 = signals.signal_frame(inc, window_s=0.5).drop(columns=quiet)  # it sent nothing
    a0, a1 = signals.align(f0, f1)
    assert list(a0.columns) == list(a1.columns)
    assert (a1["calibrate::#count"] == 0).all() and a1["calibrate::payload"].isna().all()


def test_a_delay_is_found_through_the_age_of_messages_downstream() -> None:
    base, inc = _runs(synthetic.Fault("calibrate", "delay", 0.05))
    cfg = AttributionConfig(window_s=0.5, n_bootstrap=20)
    every = attribute_shift(DAG, base, inc, TARGET, config=cfg)
    assert every.metric == "all" and every.blamed[:1] == ("calibrate",)
    values = attribute_shift(DAG, base, inc, TARGET, metric="value", config=cfg)
    assert values.blamed == ()  # the values never changed: one signal alone cannot see it


def test_a_drop_is_found_through_throughput() -> None:
    base, inc = _runs(synthetic.Fault("calibrate", "drop", 0.5))
    attr = attribute_shift(DAG, base, inc, TARGET, config=AttributionConfig(window_s=0.5))
    assert attr.blamed[:1] == ("calibrate",)
    assert attr.dataset_sizes["variables"] > attr.dataset_sizes["nodes"]


def test_messages_pair_each_send_with_its_input() -> None:
    base, _ = _runs(None)
    pairs = messages.paired(base, ["calibrate", "comfort"])
    sent = sum(
        1 for s, p in zip(base["src"], base["parent"], strict=True) if s == "calibrate" and p
    )
    mine = pairs[pairs["node"] == "calibrate"]
    assert 0 < len(mine) <= sent and set(mine["inputs"]) == {"read_sensor"}
    assert "read_sensor|payload" in pairs.columns
    # calibrate = a + b * read_sensor + noise: its pairs show the line exactly
    ok = mine[["payload", "read_sensor|payload"]].dropna().to_numpy()
    assert abs(np.corrcoef(ok[:, 0], ok[:, 1])[0, 1]) > 0.8


def test_message_tests_see_noise_that_window_means_average_away() -> None:
    base, inc = _runs(synthetic.Fault("calibrate", "noise", 1.0))
    variables = ["calibrate::payload", "to_fahrenheit::payload", "comfort::payload"]
    found = messages.message_tests(base, inc, variables)
    cal = found["calibrate::payload"]
    assert cal.p_value < 1e-6 and cal.effect > 0.5 and cal.rows > 500
    assert found["to_fahrenheit::payload"].p_value > 1e-3  # downstream did not change
    assert messages.message_tests(base, inc, variables, roots=["calibrate"]).keys() == {
        "to_fahrenheit::payload", "comfort::payload",
    }  # fmt: skip


def test_baro_and_the_gate_of_every_baseline() -> None:
    rng = np.random.default_rng(0)
    x0 = rng.normal(size=(30, 3))
    x1 = rng.normal(size=(30, 3))
    x1[:, 1] += 5.0
    assert int(np.argmax(_baro_scores(x0, x1))) == 1
    s = Structure(nodes=("a", "b", "c"), parents=((), (0,), (1,)), target=2)
    none = np.zeros((30, 0))
    marginal = [mechanism_test(x0[:, i], none, x1[:, i], none) for i in range(3)]
    cfg = AttributionConfig()
    moved = run_baselines(s, x0, x1, cfg, marginal, target_moved=True)
    assert moved["baro"].ranking[0] == 1 and moved["baro"].blamed[:1] == (1,)
    assert moved["most_upstream"].blamed == (1,) and moved["marginal_shift"].ranking[0] == 1
    quiet = run_baselines(s, x0, x1, cfg, marginal, target_moved=False)
    assert all(b.blamed == () for b in quiet.values())  # the target did not move: no blame
    assert quiet["baro"].ranking == moved["baro"].ranking


@pytest.mark.parametrize("view", ["auto", "windows"])
def test_both_views_name_a_scaled_node(view: str) -> None:
    base, inc = _runs(synthetic.Fault("to_fahrenheit", "scale", 2.0))
    cfg = AttributionConfig(window_s=0.5, n_bootstrap=20, view=view)  # type: ignore[arg-type]
    attr = attribute_shift(DAG, base, inc, TARGET, config=cfg)
    assert attr.blamed[:1] == ("to_fahrenheit",)
    assert ("message_pairs" in attr.dataset_sizes) == (view == "auto")


def test_a_product_of_inputs_is_no_change_when_the_inputs_move() -> None:
    import pandas as pd

    rng = np.random.default_rng(3)

    def rows(scale: float, extra: float) -> pd.DataFrame:
        amount = np.exp(3.5 + 0.4 * rng.normal(size=400)) * scale
        rate = 0.015 + 0.001 * rng.normal(size=400)
        fee = amount * rate + 0.25 + extra + 0.01 * rng.normal(size=400)
        return pd.DataFrame(
            {"inputs": "new", "new|payload.amount": amount, "new|payload.rate": rate,
             "payload.fee": fee}
        )  # fmt: skip

    base = rows(1.0, 0.0)
    moved = messages._test_leaf(base, rows(2.0, 0.0), "payload.fee", 8)
    changed = messages._test_leaf(base, rows(1.0, 0.2), "payload.fee", 8)
    assert moved is not None and changed is not None
    assert moved.p_value > 1e-3  # fee = amount x rate still holds: no change of the mechanism
    assert changed.p_value < 1e-9 and changed.effect > 1
