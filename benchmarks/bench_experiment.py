"""Experiment campaigns on the bundled flows: AC@1, AC@3, specificity and where the time goes.

Each flow runs in its own local Node-RED 4 with the tap plugin (HTTP to an in-process collector),
with the default fault mix (bias, scale, noise, drop, delay, shift at sources), --cases fault cases
and --no-fault no-fault cases of --seconds recordings each. Prints a table and appends it, with
the machine and date, to benchmarks/RESULTS.md; the per-case JSON and HTML reports go to
benchmarks/out/.

    .venv/bin/python benchmarks/bench_experiment.py                       # all flows, 20 + 10
    .venv/bin/python benchmarks/bench_experiment.py --flows sensor-pipeline --cases 4 --no-fault 2
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from _machine import append_results, machine  # noqa: E402  (benchmarks/ is on sys.path)

from nodered_causal.experiment.bundled import TARGETS, bundled_flow  # noqa: E402
from nodered_causal.experiment.live import DEFAULT_FAULTS, run_experiment  # noqa: E402
from nodered_causal.experiment.report import write_campaign_report  # noqa: E402


def _fmt(x: object) -> str:
    return "–" if x is None else f"{x:.2f}" if isinstance(x, float) else str(x)


def _progress(name: str):  # type: ignore[no-untyped-def]
    def show(i: int, n: int, c) -> None:  # type: ignore[no-untyped-def]
        what = f"{c.fault} at {c.node}" if c.node else "no fault"
        print(f"  {name} [{i}/{n}] {what}: rank {c.rank_of_true} blamed {c.blamed}", flush=True)

    return show


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", default=",".join(TARGETS), help="comma-separated flow names")
    parser.add_argument("--cases", type=int, default=20)
    parser.add_argument("--no-fault", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    args = parser.parse_args()
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    rows = []
    all_cases = []
    for name in [f.strip() for f in args.flows.split(",") if f.strip()]:
        path, target = bundled_flow(name)
        store = out / f"{name}.db"
        store.unlink(missing_ok=True)
        started = time.monotonic()
        exp = run_experiment(
            target=target, store_path=store, flow_path=str(path), n_cases=args.cases,
            faults=DEFAULT_FAULTS, n_no_fault=args.no_fault, seconds=args.seconds,
            seed=args.seed,
            progress=_progress(name),
        )  # fmt: skip
        wall = time.monotonic() - started
        summary = exp.result.summary()
        all_cases += exp.result.cases
        (out / f"{name}.json").write_text(json.dumps(exp.result.to_json(flow=str(path)), indent=1))
        write_campaign_report(exp.dag, exp.result, out / f"{name}.html", title=f"{name} campaign")
        attribution_s = [
            c.seconds - 2 * args.seconds for c in [*exp.result.cases, *exp.result.no_fault]
        ]
        base = summary["baselines"]
        rows.append(
            (
                name, target, exp.dag.number_of_nodes(), summary["n_cases"],
                summary["n_no_fault"], summary["ac1"], summary["ac3"], summary["specificity"],
                summary["ac1_ranked"], summary["ac3_ranked"], summary["n_symptom"],
                summary["ac1_symptom"], summary["ac3_symptom"],
                base.get("marginal", {}).get("ac1"), base.get("upstream", {}).get("ac1"),
                wall / 60, sum(attribution_s) / len(attribution_s),
            )
        )  # fmt: skip
    header = (
        "| flow | target | nodes | fault cases | no-fault | AC@1 | AC@3 | specificity "
        "| ranked AC@1 | ranked AC@3 | showed at target | AC@1 where shown | AC@3 where shown "
        "| marginal AC@1 | upstream AC@1 | campaign min | per case: analysis + overhead s |"
    )
    lines = [header, "|" + "---|" * 17]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    kinds: dict[str, list[int]] = {}
    for case in all_cases:
        hit = kinds.setdefault(case.fault.split(":")[0] if case.fault else "-", [0, 0, 0])
        hit[0] += case.rank_of_true == 1
        hit[1] += 1
        hit[2] += bool(case.symptom)
    lines.append(
        "\nAC@1 hits by fault kind (all flows; in brackets: cases that showed at the target): "
        + ", ".join(f"{k} {h}/{n} ({s})" for k, (h, n, s) in kinds.items())
    )
    table = "\n".join(lines)
    print(table)
    if not args.no_record:
        section = (
            f"\n## bench_experiment.py — {dt.date.today().isoformat()}\n\n"
            f"Machine: {machine()}; Node-RED 4 + tap (HTTP), {args.seconds:g} s per recording, "
            f"faults cycled over {', '.join(DEFAULT_FAULTS)}, seed {args.seed}.\n\n{table}\n"
        )
        append_results(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
