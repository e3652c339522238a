"""Per-mechanism model choice (analysis.nonlinear) and the message-level test built on it: a
curve, a step and a clamp whose inputs move along them are no change; a real change of such a
node is found; a linear node keeps its linear test."""

from __future__ import annotations

import numpy as np
import pytest

from nodered_causal.analysis import nonlinear
from nodered_causal.analysis.messages import message_tests


def _records(node_law, shift_input: float = 0.0, n: int = 300, seed: int = 0, bias: float = 0.0):  # type: ignore[no-untyped-def]
    """Records of src -> node: src sends x (and an unused u), node sends law(x) (+ bias)."""
    rng = np.random.default_rng(seed)
    cols: dict[str, list] = {k: [] for k in ("seq", "kind", "src", "dst", "parent", "ts_ns",
                                             "payload.x", "payload.u", "payload.y")}  # fmt: skip
    seq = 0
    for i in range(n):
        x = rng.normal(60 + shift_input, 12)
        u = rng.normal()
        seq += 1
        for k, v in (("seq", seq), ("kind", "deliver"), ("src", "src"), ("dst", "node"),
                     ("parent", None), ("ts_ns", 1_000_000 * i), ("payload.x", x),
                     ("payload.u", u), ("payload.y", None)):  # fmt: skip
            cols[k].append(v)
        seq += 1
        y = node_law(x) + bias
        for k, v in (("seq", seq), ("kind", "deliver"), ("src", "node"), ("dst", "sink"),
                     ("parent", seq - 1), ("ts_ns", 1_000_000 * i + 500), ("payload.x", None),
                     ("payload.u", None), ("payload.y", y)):  # fmt: skip
            cols[k].append(v)
    return cols


LAWS = {
    "exp": lambda x: 18.4 + 8 * np.exp(x / 100),  # qr_thick's pump law
    "step": lambda x: 1.0 if x < 55 else 3.0,  # a threshold
    "clamp": lambda x: min(max(0.8 * x - 10, 20.0), 50.0),  # a range node clamping
}


@pytest.mark.parametrize("law", sorted(LAWS))
def test_inputs_moving_along_a_curve_are_no_change(law: str) -> None:
    f = LAWS[law]
    base = _records(f, seed=1)
    moved = _records(f, shift_input=8.0, seed=2)  # upstream moved, the node did not change
    auto = message_tests(base, moved, ["node::payload.y"], seed=0)["node::payload.y"]
    assert auto.model != "linear"
    assert auto.p_value > 0.01 / 10 or auto.effect < 0.1, auto
    # the same node with a real change (+1.5 in its output) is found
    broken = _records(f, shift_input=8.0, seed=2, bias=1.5)
    hit = message_tests(base, broken, ["node::payload.y"], seed=0)["node::payload.y"]
    assert hit.p_value < 1e-6 and hit.effect > 1.0, hit


def test_the_linear_test_alone_calls_the_curve_changed() -> None:
    # why the choice exists: the same exponential law under a linear-only test
    f = LAWS["exp"]
    base, moved = _records(f, seed=1), _records(f, shift_input=8.0, seed=2)
    lin = message_tests(base, moved, ["node::payload.y"], mechanism="linear")["node::payload.y"]
    assert lin.model == "linear" and lin.p_value < 1e-6 and lin.effect > 0.1


def test_a_linear_node_keeps_its_linear_fit() -> None:
    base = _records(lambda x: 2 * x + 1, seed=1)
    moved = _records(lambda x: 2 * x + 1, shift_input=8.0, seed=2)
    t = message_tests(base, moved, ["node::payload.y"])["node::payload.y"]
    assert t.model == "linear" and t.p_value == 1.0


def test_choose_prefers_linear_unless_clearly_better_and_is_seeded() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 1))
    noisy_line = 3 * x[:, 0] + rng.normal(size=200)
    c = nonlinear.choose(noisy_line, x, x, seed=0)
    assert c.kind == "linear" and c.model is None
    assert c.errors["splines"] is not None  # tried, not better by the margin
    step = np.where(x[:, 0] > 0, 5.0, 0.0) + 0.1 * rng.normal(size=200)
    a, b = nonlinear.choose(step, x, x, seed=3), nonlinear.choose(step, x, x, seed=3)
    assert a.kind in ("splines", "boosting") and a.errors == b.errors
    assert a.errors[a.kind] < (1 - nonlinear.MARGIN) * a.errors["linear"]
    few = nonlinear.choose(step[:30], x[:30], x[:30], seed=0)
    assert few.kind == "linear" and few.errors["splines"] is None  # too few rows to try


def test_a_sliding_window_pairs_each_message_with_its_own_part() -> None:
    """fuse -> win (batch: five copies per burst, each listing all five parts) -> collect (join:
    one array of the five). Each copy is paired with its own part, the array with the five parts
    side by side by position, and the array's leaves are the join's variables."""
    from nodered_causal.analysis import datasets
    from nodered_causal.analysis.messages import paired

    cols: dict[str, list] = {k: [] for k in ("seq", "kind", "src", "dst", "parent", "parents",
                                             "ts_ns", "payload.temp", *(f"payload[{k}].temp"
                                             for k in range(5)))}  # fmt: skip

    def add(src: str, dst: str, parent, parents, **values: float) -> int:  # type: ignore[no-untyped-def]
        seq = len(cols["seq"]) + 1
        row = {"seq": seq, "kind": "deliver", "src": src, "dst": dst, "parent": parent,
               "parents": parents, "ts_ns": seq * 1000}  # fmt: skip
        for k in cols:
            cols[k].append(row.get(k, values.get(k.replace("payload", "p"))))
        return seq

    temps = [850.0 + k for k in range(5)]
    into = [add("fuse", "win", None, None, **{"p.temp": t}) for t in temps]
    copies = [add("win", "collect", into[-1], into, **{"p.temp": t}) for t in temps]
    add("collect", "avg", copies[-1], copies, **{f"p[{k}].temp": t for k, t in enumerate(temps)})
    frame = paired(cols)
    win = frame[frame["node"] == "win"]
    assert list(win["payload.temp"]) == temps
    assert list(win["fuse|payload.temp"]) == temps  # its own part, not the mean of five
    arr = frame[frame["node"] == "collect"].iloc[0]
    assert [arr[f"win[{k}]|payload.temp"] for k in range(5)] == temps
    assert datasets.value_fields(cols)["collect"][:2] == ["payload[0].temp", "payload[1].temp"]


def test_a_second_cause_whose_shapley_value_is_negative_is_still_blamed() -> None:
    """T = A + B. A's mean moves up by 6, B's down by 3: together the target moves less than
    with A alone, so B's Shapley value is negative (it "undoes" part of A), yet B alone would move
    the target materially: both are causes."""
    import networkx as nx
    import pandas as pd

    from nodered_causal.analysis import AttributionConfig, attribute_shift

    rng = np.random.default_rng(5)

    def frame(da: float, db: float, n: int = 600) -> pd.DataFrame:
        a, b = rng.normal(size=n) + da, rng.normal(size=n) + db
        return pd.DataFrame({"A": a, "B": b, "T": a + b + rng.normal(size=n)})

    dag = nx.DiGraph([("A", "T"), ("B", "T")])
    res = attribute_shift(dag, frame(0, 0), frame(6, -3), "T", config=AttributionConfig(seed=1))
    assert res.scores["B"] < 0 < res.scores["A"]
    assert res.blamed[0] == "A" and set(res.blamed) == {"A", "B"}
    quiet = attribute_shift(dag, frame(0, 0), frame(6, 0), "T", config=AttributionConfig(seed=1))
    assert quiet.blamed == ("A",)  # B did not change: never blamed
