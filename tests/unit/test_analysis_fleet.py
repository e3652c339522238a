"""Fleet analysis on synthetic fleets: the faulted instance and node are named, a healthy fleet
names nobody, the reference keeps each instance's windows apart."""

from __future__ import annotations

import json

import networkx as nx
import pytest

from nodered_causal.analysis import AttributionConfig
from nodered_causal.analysis.fleet import attribute_fleet, split_by_tap, stack_instances
from nodered_causal.analysis.synthetic import Fault, linear_model, simulate_records
from nodered_causal.errors import MissingDataError

DAG = nx.DiGraph([("read", "calibrate"), ("calibrate", "smooth"), ("smooth", "sink")])
DAG.add_edge("read", "side")
CFG = AttributionConfig(seed=0, n_bootstrap=20)


def fleet(n: int, fault: tuple[int, Fault] | None = None, windows: int = 40) -> dict[str, list]:
    """n instances of one flow (one linear model), each its own tap and seed; concatenated."""
    model = linear_model(DAG, seed=0)
    out: dict[str, list] = {}
    for i in range(n):
        cols = simulate_records(
            DAG,
            n_windows=windows,
            seed=100 + i,
            model=model,
            tap=f"line-{i + 1}",
            fault=fault[1] if fault and fault[0] == i else None,
            start_ns=1_700_000_000_000_000_000 + i * 7_000_000,  # the instances overlap in time
        )
        for key, values in cols.items():
            out.setdefault(key, []).extend(values)
    return out


@pytest.mark.parametrize(("faulted", "node"), [(2, "calibrate"), (4, "smooth")])
def test_the_faulted_instance_and_node_are_named(faulted: int, node: str) -> None:
    result = attribute_fleet(
        DAG, fleet(5, (faulted, Fault(node, "bias", 2.0)), 30), "sink", config=CFG
    )
    assert result.culprit == (f"line-{faulted + 1}", node)
    assert result.differs == (f"line-{faulted + 1}",)
    assert result.ranking[0] == f"line-{faulted + 1}"
    assert result.screen[f"line-{faulted + 1}"] == max(result.screen.values())
    # the broken instance is kept out of its peers' references
    assert all(f"line-{faulted + 1}" not in ref for t, ref in result.references.items()
               if t != f"line-{faulted + 1}")  # fmt: skip
    out = json.loads(result.to_json())
    assert out["culprit"] == [f"line-{faulted + 1}", node] and len(out["results"]) == 5
    assert f"line-{faulted + 1} (blamed: {node})" in result.to_text()


def test_a_healthy_fleet_names_nobody() -> None:
    result = attribute_fleet(DAG, fleet(4, windows=30), "sink", config=CFG)
    assert (result.differs, result.culprit) == ((), None)
    assert "no instance differs from the rest of the fleet" in result.to_text()


def test_a_large_fleet_checks_the_most_deviating_instances() -> None:
    cols = fleet(8, (5, Fault("calibrate", "bias", 3.0)), windows=30)
    result = attribute_fleet(DAG, cols, "sink", config=CFG, max_checked=3, max_reference=4)
    assert result.culprit == ("line-6", "calibrate")
    assert len(result.results) == 3 and len(result.unchecked) == 5
    assert all(len(ref) == 4 for ref in result.references.values())


def test_fewer_than_three_instances_is_an_error() -> None:
    with pytest.raises(MissingDataError, match=r"at least 3 instances, got 2 \(line-1, line-2\)"):
        attribute_fleet(DAG, fleet(2), "sink", config=CFG)
    with pytest.raises(MissingDataError, match="got 1 "):
        attribute_fleet(DAG, fleet(4), "sink", config=CFG, taps={"line-1"})


def test_stacked_instances_keep_their_windows_apart() -> None:
    w = 1_000_000_000
    parts = [
        {"ts_ns": [10 * w + 5, 12 * w + 1], "tap": ["a", "a"]},
        {"ts_ns": [10 * w + 7, 10 * w + 9], "tap": ["b", "b"], "payload.x": [1.0, 2.0]},
        {"ts_ns": [], "tap": []},
        {"ts_ns": [3 * w + 2], "tap": ["c"]},
    ]
    out = stack_instances(parts, w)
    windows = [t // w for t in out["ts_ns"]]
    assert windows == [10, 12, 13, 13, 14]  # a: 10..12, b: 13, c: 14
    assert [t % w for t in out["ts_ns"]] == [5, 1, 7, 9, 2]  # offsets within windows kept
    assert out["payload.x"] == [None, None, 1.0, 2.0, None]
    by_tap = split_by_tap(out)
    assert list(by_tap) == ["a", "b", "c"] and by_tap["b"]["payload.x"] == [1.0, 2.0]
