# ruff: noqa: E501
"""Attribution: wall time at 10/100/1000 ancestors (600 windows), ours vs dowhy, and accuracy.

Graphs: random DAGs in which every node is an ancestor of the last one (the target), 1-3 parents
each; data: the linear model of ``nodered_causal.analysis.synthetic`` drawn per window; one fault
(bias/scale/noise) at a random node, or none. Tables printed and appended to RESULTS.md:

1. time per engine and graph size (fault case), incl. dowhy's ``distribution_change`` defaults;
2. what each option bought at 10 ancestors (dowhy defaults → our fast engine, step by step);
3. accuracy: AC@1 / AC@3 of ours and of the two baselines, specificity (no-fault cases);
4. datasets: 1M records → windowed / lineage.

Run: ``.venv/bin/python benchmarks/bench_attribution.py [--quick] [--no-append]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _machine import append_results, machine  # noqa: E402

from nodered_causal.analysis import (  # noqa: E402
    AttributionConfig,
    attribute_shift,
    datasets,
    synthetic,  # noqa: E402
)

FAULTS = (("bias", 1.0), ("scale", 1.5), ("noise", 1.5))
WINDOWS = 600
#: The culprit is drawn among nodes whose total effect on the target is at least this: a fault
#: elsewhere does not reach the target (averaging over parents attenuates it), and "no
#: significant change at the target" is then the right answer, not a miss.
MIN_EFFECT = 0.3


def random_dag(n: int, seed: int) -> nx.DiGraph:
    """``n`` nodes; node i has 1-3 parents among the 8 before it; every node reaches node n-1."""
    rng = np.random.default_rng(seed)
    dag = nx.DiGraph()
    dag.add_nodes_from((f"n{i:04d}", {"type": "function", "name": f"f{i}"}) for i in range(n))
    for i in range(1, n):
        k = int(rng.integers(1, 4))
        for p in rng.choice(np.arange(max(0, i - 8), i), size=min(k, i), replace=False):
            dag.add_edge(f"n{p:04d}", f"n{i:04d}")
    for i in range(n - 1):
        if dag.out_degree(f"n{i:04d}") == 0:
            dag.add_edge(f"n{i:04d}", f"n{int(rng.integers(i + 1, n)):04d}")
    return dag


def model(dag: nx.DiGraph, seed: int) -> synthetic.LinearModel:
    rng = np.random.default_rng(seed)
    nodes = [str(n) for n in dag.nodes]
    b = rng.choice([-1.0, 1.0], len(nodes)) * rng.uniform(0.5, 1.0, len(nodes))
    return synthetic.LinearModel(
        a=dict(zip(nodes, rng.uniform(-1, 1, len(nodes)).tolist(), strict=True)),
        b=dict(zip(nodes, b.tolist(), strict=True)),
        sd={n: 0.5 for n in nodes},
    )


def case(n: int, seed: int, fault: bool) -> tuple[nx.DiGraph, Any, Any, str, str | None]:
    dag = random_dag(n, seed)
    lin = model(dag, seed)
    rng = np.random.default_rng(seed + 7)
    target = f"n{n - 1:04d}"
    reach = total_effects(dag, lin, target)
    material = sorted(node for node, c in reach.items() if abs(c) >= MIN_EFFECT)
    culprit = str(rng.choice(material)) if fault else None
    kind, magnitude = FAULTS[seed % len(FAULTS)]
    f = synthetic.Fault(culprit, kind, magnitude) if culprit else None
    base = synthetic.simulate_windows(dag, n_windows=WINDOWS, seed=seed, model=lin)
    incident = synthetic.simulate_windows(
        dag, n_windows=WINDOWS, seed=seed + 10_000, model=lin, fault=f
    )
    return dag, base, incident, target, culprit


def total_effects(dag: nx.DiGraph, lin: synthetic.LinearModel, target: str) -> dict[str, float]:
    """d target / d node of the windowed model (node = a + b * mean(parents) + noise)."""
    effect = {str(n): 0.0 for n in dag.nodes}
    effect[target] = 1.0
    for node in reversed(list(nx.topological_sort(dag))):
        parents = list(dag.predecessors(node))
        for p in parents:
            effect[str(p)] += effect[str(node)] * lin.b[str(node)] / len(parents)
    return effect


def timed(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - start, out


def dowhy_defaults(dag: nx.DiGraph, base: Any, incident: Any, target: str) -> dict[Any, float]:
    """``gcm.distribution_change`` with all its defaults (empirical roots + linear ANMs)."""
    from dowhy import gcm

    gcm.config.disable_progress_bars()
    model_ = gcm.ProbabilisticCausalModel(
        nx.DiGraph(dag.subgraph(nx.ancestors(dag, target) | {target}))
    )
    for node in model_.graph.nodes:
        if model_.graph.in_degree(node) == 0:
            model_.set_causal_mechanism(node, gcm.EmpiricalDistribution())
        else:
            model_.set_causal_mechanism(
                node, gcm.AdditiveNoiseModel(gcm.ml.create_linear_regressor())
            )
    gcm.util.general.set_random_seed(0)
    return gcm.distribution_change(model_, base, incident, target)  # type: ignore[no-any-return]


def timing_table(sizes: list[int], quick: bool) -> list[str]:
    import dowhy.gcm  # noqa: F401  (import cost is not attribution cost)

    rows = ["| ancestors | engine | wall s | top | right |", "|---|---|---|---|---|"]
    engines: list[tuple[str, AttributionConfig | None, int]] = [
        ("ours: fast, 50 bootstrap", AttributionConfig(), 1000),
        ("ours: fast, no bootstrap", AttributionConfig(n_bootstrap=0), 1000),
        ("ours: dowhy sampling on changed nodes", AttributionConfig(engine="dowhy", n_bootstrap=0), 1000),
        ("gcm.distribution_change, local test, early stopping, 500 samples",
         AttributionConfig(engine="dowhy-full", n_bootstrap=0, shapley="early_stopping"), 10),
        ("gcm.distribution_change defaults", None, 10),
    ]  # fmt: skip
    for n in sizes:
        dag, base, incident, target, culprit = case(n, seed=n, fault=True)
        for name, cfg, max_n in engines:
            if n > max_n or (quick and cfg is None):
                continue
            if cfg is None:
                wall, scores = timed(dowhy_defaults, dag, base, incident, target)
                top = max(scores, key=lambda k: scores[k])
            else:
                wall, res = timed(attribute_shift, dag, base, incident, target, config=cfg)
                top = res.top
            rows.append(
                f"| {n} | {name} | {wall:.2f} | {top} | {'yes' if top == culprit else 'no'} |"
            )
            print(rows[-1], flush=True)
    return rows


def ablation_table() -> list[str]:
    """What each option bought at 10 ancestors (same fault case)."""
    dag, base, incident, target, _ = case(10, seed=10, fault=True)
    steps: list[tuple[str, AttributionConfig | None]] = [
        ("dowhy defaults (kernel test, 2000 samples, AUTO Shapley, n_jobs=-1)", None),
        ("+ regression-based change test", AttributionConfig(engine="dowhy-full", change_test="regression", num_samples=2000, n_bootstrap=0)),
        ("+ our local linear change test", AttributionConfig(engine="dowhy-full", change_test="local", num_samples=2000, n_bootstrap=0)),
        ("+ num_samples 500", AttributionConfig(engine="dowhy-full", num_samples=500, n_bootstrap=0)),
        ("+ Shapley EARLY_STOPPING", AttributionConfig(engine="dowhy-full", num_samples=500, shapley="early_stopping", n_bootstrap=0)),
        ("+ Shapley only over changed nodes (engine dowhy)", AttributionConfig(engine="dowhy", n_bootstrap=0)),
        ("+ closed-form linear set function (engine fast)", AttributionConfig(n_bootstrap=0)),
        ("+ 50 bootstrap replicates (intervals)", AttributionConfig()),
    ]  # fmt: skip
    rows = ["| step (10 ancestors, 600 windows) | wall s |", "|---|---|"]
    for name, cfg in steps:
        if cfg is None:
            wall, _ = timed(dowhy_defaults, dag, base, incident, target)
        else:
            wall, _ = timed(attribute_shift, dag, base, incident, target, config=cfg)
        rows.append(f"| {name} | {wall:.2f} |")
        print(rows[-1], flush=True)
    return rows


def accuracy_table(sizes: list[int], cases: int) -> list[str]:
    rows = [
        "| ancestors | cases | AC@1 ours | AC@3 ours | AC@1 marginal shift | AC@1 most upstream "
        "| specificity ours | spec. most upstream | mean wall s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for n in sizes:
        hit1 = hit3 = marg = up = clean = up_clean = 0
        walls = []
        for seed in range(cases):
            dag, base, incident, target, culprit = case(n, seed=1000 * n + seed, fault=True)
            wall, res = timed(
                attribute_shift, dag, base, incident, target, config=AttributionConfig(seed=seed)
            )
            walls.append(wall)
            hit1 += res.top == culprit
            hit3 += culprit in res.blamed[:3]
            marg += res.baselines["marginal_shift"][:1] == (culprit,)
            up += res.baselines["most_upstream"][:1] == (culprit,)
            dag, base, incident, target, _ = case(n, seed=5000 * n + seed, fault=False)
            quiet = attribute_shift(
                dag, base, incident, target, config=AttributionConfig(seed=seed)
            )
            clean += not quiet.blamed
            up_clean += not quiet.baselines["most_upstream"]
        rows.append(
            f"| {n} | {cases} + {cases} | {hit1 / cases:.2f} | {hit3 / cases:.2f} | {marg / cases:.2f} "
            f"| {up / cases:.2f} | {clean / cases:.2f} | {up_clean / cases:.2f} | {np.mean(walls):.2f} |"
        )
        print(rows[-1], flush=True)
    return rows


def flow_accuracy(cases: int) -> list[str]:
    """The test sweep, larger: records of flows/sensor-pipeline.json through the datasets."""
    from tests.unit.analysis_support import SENSOR_SENDERS, flow_dag

    dag = flow_dag()
    faults = (("bias", 0.5), ("scale", 1.5), ("noise", 2.0))
    hits = clean = 0
    for seed in range(cases):
        node = SENSOR_SENDERS[seed % len(SENSOR_SENDERS)]
        kind, mag = faults[(seed // len(SENSOR_SENDERS)) % 3]
        base = synthetic.simulate_records(dag, n_windows=300, seed=1000 + seed)
        inc = synthetic.simulate_records(
            dag, n_windows=300, seed=2000 + seed, fault=synthetic.Fault(node, kind, mag)
        )
        hits += (
            attribute_shift(dag, base, inc, "sink", config=AttributionConfig(seed=seed)).top == node
        )
        same = synthetic.simulate_records(dag, n_windows=300, seed=3000 + seed)
        clean += not attribute_shift(
            dag, base, same, "sink", config=AttributionConfig(seed=seed)
        ).blamed
    return [
        "| flow | cases | AC@1 | specificity |",
        "|---|---|---|---|",
        f"| sensor-pipeline.json (records → windows, 300 s) | {cases} + {cases} | {hits / cases:.2f} | {clean / cases:.2f} |",
    ]


def dataset_table(n_windows: int) -> list[str]:
    from tests.unit.analysis_support import flow_dag

    records = synthetic.simulate_records(flow_dag(), n_windows=n_windows, rate=100, seed=1)
    n = len(records["seq"])
    t_frame, frame = timed(lambda: datasets.records_frame(records))
    t_win, _ = timed(lambda: datasets.windowed(frame))
    t_lin, _ = timed(lambda: datasets.lineage(frame))
    return [
        "| records | records_frame | windowed | lineage |",
        "|---|---|---|---|",
        f"| {n:,} | {t_frame:.2f} s | {t_win:.2f} s | {t_lin:.2f} s |",
    ]


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="no dowhy defaults, fewer cases")
    ap.add_argument("--cases", type=int, default=20, help="accuracy cases per size (default 20)")
    ap.add_argument("--no-append", action="store_true", help="do not append to RESULTS.md")
    args = ap.parse_args()
    info = machine()
    cases = 6 if args.quick else args.cases
    sections = [
        ("Wall time (one fault case per size)", timing_table([10, 100, 1000], args.quick)),
        ("What each option bought", [] if args.quick else ablation_table()),
        ("Accuracy on random DAGs (600 windows, bias 1.0 / scale 1.5 / noise 1.5 at a random node)",
         accuracy_table([10, 100], cases)),
        ("Accuracy on the sensor flow's records", flow_accuracy(cases)),
        ("Datasets from records", dataset_table(1000)),
    ]  # fmt: skip
    text = [f"\n## bench_attribution.py — {dt.date.today().isoformat()}\n", f"Machine: {info}.\n"]
    for title, rows in sections:
        if rows:
            text += [f"\n{title}:\n", "", *rows, ""]
    out = "\n".join(text)
    print(out)
    if not args.no_append:
        append_results(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
