from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from nodered_causal.analysis import datasets, synthetic
from nodered_causal.errors import MissingDataError
from tests.unit.analysis_support import flow_dag

T0 = 1_700_000_000_000_000_000
S = 1_000_000_000


def _records(rows: list[dict[str, object]]) -> dict[str, list[object]]:
    keys = ["tap", "boot", "seq", "ts_ns", "kind", "src", "port", "dst", "trace", "parent",
            "latency_ns", "bytes", "error", "payload", "payload.t"]  # fmt: skip
    return {k: [r.get(k) for r in rows] for k in keys}


def _deliver(
    seq: int, ts: int, src: str, dst: str, *, trace: int, parent: int | None, **payload: float
) -> dict[str, object]:  # noqa: E501
    row: dict[str, object] = {"tap": "t", "boot": "b", "seq": seq, "ts_ns": ts, "kind": "deliver",
                              "src": src, "port": 0, "dst": dst, "trace": trace, "parent": parent,
                              "latency_ns": 2_000_000}  # fmt: skip
    row.update({k.replace("_", "."): v for k, v in payload.items()})
    return row


@pytest.fixture
def small() -> dict[str, list[object]]:
    # a -> b -> sink; window 0: two messages, window 1: none, window 2: one message; b errors once
    rows = [
        _deliver(1, T0 + 100, "a", "b", trace=1, parent=None, payload=1.0),
        _deliver(2, T0 + 200, "b", "sink", trace=1, parent=1, payload_t=10.0),
        _deliver(3, T0 + 300, "a", "b", trace=3, parent=None, payload=3.0),
        _deliver(4, T0 + 400, "b", "sink", trace=3, parent=3, payload_t=30.0),
        _deliver(5, T0 + 2 * S + 5, "a", "b", trace=5, parent=None, payload=5.0),
        _deliver(6, T0 + 2 * S + 9, "b", "sink", trace=5, parent=5, payload_t=50.0),
    ]
    err = {
        "tap": "t",
        "boot": "b",
        "seq": 7,
        "ts_ns": T0 + 2 * S + 10,
        "kind": "error",
        "src": "b",
        "error": "boom",
    }  # noqa: E501
    return _records([*rows, err])


def test_records_frame_types(small: dict[str, list[object]]) -> None:
    frame = datasets.records_frame(small)
    assert str(frame["src"].dtype) == "category"
    assert str(frame["trace"].dtype) == "Int64"
    assert frame["payload"].dtype == np.float64
    assert math.isnan(frame["payload"].iloc[1]) and frame["payload.t"].iloc[1] == 10.0


def test_records_frame_needs_time_and_source() -> None:
    with pytest.raises(MissingDataError, match="'ts_ns' and 'src'"):
        datasets.records_frame({"seq": [1]})


def test_windowed_zero_throughput_and_forward_filled_value(small: dict[str, list[object]]) -> None:
    frame = datasets.windowed(small)
    assert list(frame.index) == [0, 1, 2]
    thr = datasets.metric_frame(frame, "throughput")
    assert thr["a"].tolist() == [2.0, 0.0, 1.0]
    value = datasets.metric_frame(frame, "value")
    assert value["a"].tolist() == [2.0, 2.0, 5.0]  # window 1 is silent: forward-filled
    # b's payload is an object: its first numeric leaf payload.t is its value
    assert value["b"].tolist() == [20.0, 20.0, 50.0]
    # the sink never sends: its value/throughput are what it received
    assert value["sink"].tolist() == [20.0, 20.0, 50.0]
    assert thr["sink"].tolist() == [2.0, 0.0, 1.0]
    assert datasets.metric_frame(frame, "errors")["b"].tolist() == [0.0, 0.0, 1.0]
    assert datasets.metric_frame(frame, "latency")["a"].iloc[0] == pytest.approx(0.002)
    assert frame.attrs["fields"] == {"a": "payload", "b": "payload.t", "sink": "payload.t"}


def test_windowed_nan_policy_and_explicit_field(small: dict[str, list[object]]) -> None:
    frame = datasets.windowed(small, empty="nan", field="payload")
    value = datasets.metric_frame(frame, "value")
    assert math.isnan(value["a"].iloc[1])
    assert value["b"].isna().all()  # b has no numeric payload itself
    q = datasets.metric_frame(datasets.windowed(small), "value_p95")
    assert q["a"].iloc[0] == pytest.approx(1.0 + 0.95 * 2.0)


def test_windowed_bounds_the_number_of_windows(small: dict[str, list[object]]) -> None:
    from nodered_causal.errors import UsageError

    span_s = (max(small["ts_ns"]) - min(small["ts_ns"])) / 1e9  # type: ignore[type-var, operator]
    tiny = span_s / (datasets.MAX_WINDOWS + 5)
    with pytest.raises(UsageError, match=r"windows \(at most 1,000,000\): use a longer window"):
        datasets.windowed(small, window_s=tiny)  # before: tried to allocate every window


def test_windowed_rejects_bad_input(small: dict[str, list[object]]) -> None:
    for bad in (0, -1, float("nan"), float("inf"), 1e-12):
        with pytest.raises(ValueError, match="window_s must be a finite number of seconds"):
            datasets.windowed(small, window_s=bad)
    with pytest.raises(MissingDataError):
        datasets.windowed(_records([]))
    with pytest.raises(ValueError, match="metric must be one of"):
        datasets.metric_frame(datasets.windowed(small), "speed")


def test_lineage_rows_per_trace_with_missing_branch() -> None:
    dag = flow_dag()
    records = synthetic.simulate_records(dag, n_windows=20, seed=3)
    frame = datasets.lineage(records)
    traces = {t for t, p in zip(records["trace"], records["parent"], strict=True) if p is None}
    assert len(frame) == len(traces)
    assert frame.index.names == ["tap", "boot", "trace"]
    # the switch routes ~70 % of messages on: the rest have no value downstream of it
    on_path = frame["humidity_check"].notna().mean()
    assert 0.5 < on_path < 0.9
    assert frame["calibrate"].notna().all()
    # calibrate fans out to two wires with the same value: the mean equals each delivery's value
    rec = pd.DataFrame(records)
    first = rec[(rec["src"] == "calibrate")].groupby("trace")["payload"].first()
    assert np.allclose(frame["calibrate"].droplevel([0, 1]).loc[first.index], first)


def test_lineage_needs_traces(small: dict[str, list[object]]) -> None:
    del small["trace"]
    with pytest.raises(MissingDataError, match="lineage"):
        datasets.lineage(small)


def test_windowed_of_a_simulated_run_has_every_node() -> None:
    dag = flow_dag()
    frame = datasets.windowed(synthetic.simulate_records(dag, n_windows=30, seed=1))
    assert len(frame) == 30
    assert set(datasets.metric_frame(frame, "value").columns) == {str(n) for n in dag.nodes}
