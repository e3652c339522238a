"""Benchmark: what tap sampling costs the attribution's accuracy (issue 16).

A sampling tap records whole traces of a fraction of the messages (a deterministic hash of the
message id decides; see plugin/lib/sampling.js) and counts every delivery exactly. This replays
that on synthetic recordings of a bundled flow's DAG, where the right answer is known: a campaign
of fault cases (a bias of ``--bias`` on a random ancestor of the target) and no-fault cases, each a
baseline and an incident recording (``simulate_records``: messages played through the DAG like
the runtime does), attributed with ``attribute_shift`` on the full recording and on the traces a
sampling tap at each rate would have kept (the same cases at every rate). Value metric: a sample
of traces is a sample of every node's values, so the window means get noisier, not biased;
throughput is left to the counts records (exact at any rate) and not attributed here.

    python benchmarks/bench_sampling.py [--flow flows/bottling-line.json] [--cases 20]
        [--no-fault-cases 10] [--rates 1,0.5,0.2,0.1,0.05] [--windows 120] [--msgs 20]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _machine import append_results, machine  # noqa: E402  (benchmarks/ is on sys.path)

from nodered_causal.analysis import AttributionConfig, attribute_shift  # noqa: E402
from nodered_causal.analysis.synthetic import Fault, linear_model, simulate_records  # noqa: E402


def fnv(text: str) -> int:
    """The tap's FNV-1a 32-bit hash (plugin/lib/sampling.js hash32)."""
    h = 0x811C9DC5
    for ch in text:
        h ^= ord(ch)
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def sample(columns: dict[str, list[Any]], rate: float) -> dict[str, list[Any]]:
    """The records of the traces a sampling tap at ``rate`` records (whole traces)."""
    if rate >= 1:
        return columns
    threshold = rate * 2**32
    # Node-RED message ids are random hex: scramble the (sequential) synthetic trace ids alike
    keep = [fnv(f"{(t * 0x9E3779B97F4A7C15) % 2**64:016x}") < threshold for t in columns["trace"]]
    return {k: [v for v, ok in zip(vals, keep, strict=True) if ok] for k, vals in columns.items()}


def main() -> int:
    import networkx as nx
    import numpy as np

    from nodered_causal.flows import load_flow, to_causal_dag

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--flow", default=str(ROOT / "flows" / "bottling-line.json"))
    ap.add_argument("--target", default=None, help="default: the sink with most ancestors")
    ap.add_argument("--cases", type=int, default=20)
    ap.add_argument("--no-fault-cases", type=int, default=10)
    ap.add_argument("--rates", default="1,0.5,0.2,0.1,0.05")
    ap.add_argument("--windows", type=int, default=120)
    ap.add_argument("--msgs", type=float, default=20.0, help="root messages per window")
    ap.add_argument("--bias", type=float, default=1.0, help="fault size (model noise sd 0.5)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-append", action="store_true")
    args = ap.parse_args()
    started = dt.datetime.now().strftime("%Y-%m-%dT%H:%M")
    where = machine()
    dag = to_causal_dag(load_flow(args.flow), condensed=True)
    dag = dag.subgraph(n for n in dag if not str(n).startswith("cycle:")).copy()
    assert nx.is_directed_acyclic_graph(dag)
    target = args.target or max(
        (n for n in dag if dag.out_degree(n) == 0), key=lambda n: len(nx.ancestors(dag, n))
    )
    suspects = sorted(str(n) for n in nx.ancestors(dag, target) if dag.in_degree(n) > 0)
    rng = np.random.default_rng(args.seed)
    model = linear_model(dag, seed=args.seed)
    rates = [float(r) for r in args.rates.split(",")]
    cases = [str(rng.choice(suspects)) for _ in range(args.cases)] + [None] * args.no_fault_cases
    cfg = AttributionConfig(seed=0, n_bootstrap=30)
    scores: dict[float, dict[str, float]] = {
        r: {"ac1": 0, "ac3": 0, "quiet": 0, "s": 0.0, "records": 0} for r in rates
    }
    for k, node in enumerate(cases):
        common = {"n_windows": args.windows, "rate": args.msgs, "model": model}
        base = simulate_records(dag, seed=1000 + 2 * k, **common)
        fault = Fault(node, "bias", args.bias) if node else None
        inc = simulate_records(dag, seed=1001 + 2 * k, fault=fault, **common)
        for rate in rates:
            t0 = time.perf_counter()
            b, i = sample(base, rate), sample(inc, rate)
            res = attribute_shift(dag, b, i, target, config=cfg)
            s = scores[rate]
            s["s"] += time.perf_counter() - t0
            s["records"] += len(b["seq"]) + len(i["seq"])
            if node is None:
                s["quiet"] += not res.blamed
            else:
                s["ac1"] += bool(res.blamed) and res.blamed[0] == node
                s["ac3"] += node in res.ranking[:3] and bool(res.blamed)
        print(f"case {k + 1}/{len(cases)} ({node or 'no fault'}) done", file=sys.stderr)
    rows = [
        "| sampling rate | records per case | AC@1 | AC@3 | specificity | attribution s/case |",
        "|---|---|---|---|---|---|",
    ]
    n, q = max(1, args.cases), max(1, args.no_fault_cases)
    for rate in rates:
        s = scores[rate]
        rows.append(
            f"| {rate:g} | {s['records'] / len(cases):,.0f} | {s['ac1'] / n:.2f} | "
            f"{s['ac3'] / n:.2f} | {s['quiet'] / q:.2f} | {s['s'] / len(cases):.2f} |"
        )
    text = (
        f"Flow {Path(args.flow).name}, target {target} ({len(suspects)} ancestors that send), "
        f"{args.cases} fault cases (bias {args.bias} on a random ancestor; model noise sd 0.5) "
        f"and {args.no_fault_cases} no-fault cases, {args.windows} windows of 1 s with "
        f"{args.msgs:g} root messages each; the same cases at every rate, traces kept by the "
        "tap's hash.\n\n" + "\n".join(rows)
    )
    print(text)
    if not args.no_append:
        append_results(
            f"\n## bench_sampling.py — {started} (tap sampling vs accuracy, issue 16)\n\n"
            f"Machine: {where}.\n\n{text}\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
