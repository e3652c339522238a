"""Experiment campaigns on the bundled flows, per scenario class, ours beside every baseline.

Each flow runs in its own local Node-RED 4 with the tap plugin (HTTP to an in-process collector):
a survey recording (which ancestors carry traffic to the target, which leaves it ignores), then
--cases cases of every class of --scenarios and --no-fault no-fault cases, --seconds per
recording. Prints one row per flow and class (ours and the baselines: most upstream changed node,
largest marginal shift, BARO; with --dowhy-cases also dowhy's distribution_change on a subsample)
and the classes pooled over the flows, and appends them, with the machine and date, to
benchmarks/RESULTS.md; the per-case JSON and the store (for --replay) go to --out.

    .venv/bin/python benchmarks/bench_experiment.py                       # every flow, 30/class
    .venv/bin/python benchmarks/bench_experiment.py --flows sensor-pipeline --cases 4 --no-fault 2
    .venv/bin/python benchmarks/bench_experiment.py --replay --flows bottling-line  # re-analyse
    .venv/bin/python benchmarks/bench_experiment.py --replay --jobs 2 --dowhy-cases 2

--replay re-analyses the recorded cases of --out with the current analysis (no Node-RED), so two
analyses are compared on the same recordings. Campaigns resume from their state file when run
again (a --budget in minutes per flow cuts a campaign evenly over its classes); SIGTERM stops
them like Ctrl-C (the tap's faults are restored by the campaign).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from _machine import append_results, machine  # noqa: E402  (benchmarks/ is on sys.path)

from nodered_causal.experiment.bundled import MODULES, TARGETS, bundled_flow  # noqa: E402
from nodered_causal.experiment.campaign import CampaignResult  # noqa: E402
from nodered_causal.experiment.live import DEFAULT_FAULTS, run_experiment  # noqa: E402
from nodered_causal.experiment.plan import SCENARIOS  # noqa: E402
from nodered_causal.experiment.scoring import CLASS_SCORE  # noqa: E402

BASELINES = ("upstream", "marginal", "baro", "dowhy", "dowhy_auto")


def _fmt(x: object) -> str:
    return "–" if x is None else f"{x:.2f}" if isinstance(x, float) else str(x)


def _progress(name: str):  # type: ignore[no-untyped-def]
    def show(i: int, n: int, c) -> None:  # type: ignore[no-untyped-def]
        what = " + ".join(f"{f} at {node}" for node, f, _ in c.injections) or "no fault"
        print(
            f"  {name} [{i}/{n}] {c.scenario}: {what}: rank {c.rank_of_true} blamed {c.blamed} "
            f"({c.analysis_s} s analysis)",
            flush=True,
        )

    return show


def class_rows(name: str, summary: dict[str, Any]) -> list[tuple[Any, ...]]:
    """One row per class: flow, class, cases, what is scored, ours, each baseline."""
    rows = []
    for scenario, c in summary["classes"].items():
        base = c["baselines"]
        rows.append(
            (
                name, scenario, c["n"], CLASS_SCORE.get(scenario, "ac1"), c["score"],
                *(base.get(b, {}).get("score") for b in BASELINES),
                c.get("ac3"), c.get("irrelevant_not_blamed"),
            )
        )  # fmt: skip
    return rows


def table(rows: list[tuple[Any, ...]]) -> str:
    header = (
        "| flow | class | cases | scored as | ours | most upstream | largest shift | BARO "
        "| dowhy distribution_change | dowhy, auto mechanisms | ours AC@3 "
        "| irrelevant node not blamed |"
    )
    lines = [header, "|" + "---|" * 12]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _replay(name: str, out: Path, dowhy_cases: int = 0) -> CampaignResult:
    from nodered_causal.experiment.replay import load_campaign, reanalyse

    data, result = load_campaign(out / f"{name}.json")
    path, _ = bundled_flow(name)
    return reanalyse(
        data, result, out / f"{name}.db", path, progress=_progress(name), dowhy_cases=dowhy_cases
    )


def run_flow(name: str, args: argparse.Namespace) -> tuple[dict[str, Any], float]:
    """One flow's campaign (or its replay): the campaign JSON (written to --out) and minutes."""
    path, target = bundled_flow(name)
    started = time.monotonic()
    if args.replay:
        result = _replay(name, args.out, args.dowhy_cases)
        extra: dict[str, Any] = json.loads((args.out / f"{name}.json").read_text())
        extra = {k: v for k, v in extra.items() if k not in ("cases", "no_fault", "summary")}
    else:
        exp = run_experiment(
            target=target, store_path=args.out / f"{name}.db", flow_path=str(path),
            n_cases=args.cases, faults=DEFAULT_FAULTS, n_no_fault=args.no_fault,
            seconds=args.seconds, seed=args.seed, scenarios=args.scenarios,
            state_path=args.out / f"{name}.state.json", progress=_progress(name),
            modules=MODULES.get(name, ()),
            stop_at=None if args.budget is None else time.time() + 60 * args.budget,
        )  # fmt: skip
        result = exp.result
        extra = {
            "flow": str(path), "seed": args.seed, "window_s": 0.5,
            "seconds_per_recording": args.seconds,
            "survey": exp.survey.to_json() if exp.survey else None,
        }  # fmt: skip
    data = result.to_json(**extra)
    suffix = "-replay" if args.replay else ""
    (args.out / f"{name}{suffix}.json").write_text(json.dumps(data, indent=1, default=str))
    return data, (time.monotonic() - started) / 60


def _replay_job(name: str, args: argparse.Namespace) -> tuple[dict[str, Any], float]:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops the pool
    return run_flow(name, args)


def pooled(datas: list[dict[str, Any]], subsample: bool = False) -> list[tuple[Any, ...]]:
    """Class rows over every flow's cases together (``subsample``: only the cases the dowhy
    baselines ran on, ours and theirs on the same cases)."""
    from nodered_causal.experiment.campaign import BASELINE_NAMES, CaseResult
    from nodered_causal.experiment.scoring import class_metrics

    cases = [CaseResult(**c) for d in datas for c in [*d["cases"], *d["no_fault"]]]
    if subsample:
        cases = [c for c in cases if "dowhy" in c.baseline_rankings]
    keys = sorted({k for c in cases for k in c.baseline_rankings})
    classes = class_metrics(cases, [BASELINE_NAMES.get(k, k) for k in keys], keys)
    return class_rows("all flows", {"classes": classes})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--flows", default=",".join(n for n in TARGETS if n not in MODULES),
        help="comma-separated flow names (default: every bundled flow of core nodes)",
    )  # fmt: skip
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--cases", type=int, default=30, help="cases per class (30)")
    parser.add_argument("--no-fault", type=int, default=15)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=HERE / "out")
    parser.add_argument(
        "--budget", type=float, default=None, metavar="MIN",
        help="minutes per flow: no case starts after that, the cases done are scored",
    )  # fmt: skip
    parser.add_argument("--replay", action="store_true", help="re-analyse recorded campaigns")
    parser.add_argument(
        "--jobs", type=int, default=1, help="flows re-analysed at once (--replay; default 1)"
    )
    parser.add_argument(
        "--tables", action="store_true",
        help="only tabulate the campaign JSONs already in --out (with --replay: the "
        "re-analysed ones); nothing is recorded or analysed",
    )  # fmt: skip
    parser.add_argument(
        "--dowhy-cases", type=int, default=0, metavar="N",
        help="--replay: also run dowhy's distribution_change (defaults, and auto mechanisms) on "
        "the first N cases of each class (a median 3.5 s a case and variant, RESULTS.md)",
    )  # fmt: skip
    parser.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    args = parser.parse_args()
    if args.jobs < 1 or args.dowhy_cases < 0 or (args.budget is not None and args.budget <= 0):
        parser.error("--jobs must be >= 1, --dowhy-cases >= 0 and --budget > 0 minutes")
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM stops like Ctrl-C
    args.out.mkdir(parents=True, exist_ok=True)
    rows: list[tuple[Any, ...]] = []
    timing: list[str] = []
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    names = [f.strip() for f in args.flows.split(",") if f.strip()]
    if args.tables:
        suffix = "-replay" if args.replay else ""
        done = [(json.loads((args.out / f"{n}{suffix}.json").read_text()), 0.0) for n in names]
    elif args.replay and args.jobs > 1:
        import multiprocessing

        # a worker that ran dowhy keeps a thread alive at exit: terminate the pool once the
        # results are in, instead of waiting for it to join
        pool = multiprocessing.get_context("spawn").Pool(args.jobs)
        try:
            done = pool.starmap(_replay_job, [(name, args) for name in names])
        finally:
            pool.terminate()
    else:
        done = [run_flow(name, args) for name in names]
    for name, (data, minutes) in zip(names, done, strict=True):
        summary = data["summary"]
        rows += class_rows(name, summary)
        timing.append(
            f"{name}: {summary['n_cases']} fault + {summary['n_no_fault']} no-fault cases"
            + (f" in {minutes:.1f} min" if minutes else "")
            + f"; attribution median {_fmt(summary['analysis_s_median'])} s, "
            f"max {_fmt(summary['analysis_s_max'])} s per case"
        )
        print(table(class_rows(name, summary)), flush=True)
    datas = [data for data, _ in done]
    rows += pooled(datas)
    if any("dowhy" in c["baseline_rankings"] for d in datas for c in d["cases"]):
        timing.append(
            "dowhy's subsample (the first --dowhy-cases cases of each class of each flow), "
            "ours and dowhy on the same cases:\n\n" + table(pooled(datas, subsample=True))
        )
    text = table(rows) + "\n\n" + "\n".join(f"- {t}" for t in timing)
    print(text)
    if not (args.no_record or args.tables):
        what = "re-analysed recordings" if args.replay else "live campaign"
        section = (
            f"\n## bench_experiment.py ({what}) — {dt.date.today().isoformat()}\n\n"
            f"Machine: {machine()}; Node-RED 4 + tap (HTTP), {args.seconds:g} s per recording, "
            f"{args.cases} cases per class, {args.no_fault} no-fault, faults cycled over "
            f"{', '.join(DEFAULT_FAULTS)}, seed {args.seed}. Scores: single/shift = culprit "
            "named first (AC@1); double = both culprits in the top 3; irrelevant = the fault "
            "first and the irrelevant node not blamed; harmless/no_fault = nothing blamed. "
            "Baselines rank by their own scores and blame only when the target moved.\n\n"
            f"{text}\n"
        )
        append_results(section)
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
        raise SystemExit(130) from None
