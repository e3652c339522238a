"""Experiment campaigns on the bundled flows, per scenario class, ours beside every baseline.

Each flow runs in its own local Node-RED 4 with the tap plugin (HTTP to an in-process collector):
a survey recording (which ancestors carry traffic to the target, which leaves it ignores), then
--cases cases of every class of --scenarios and --no-fault no-fault cases, --seconds per
recording. Prints one table per class (ours and the baselines: most upstream changed node,
largest marginal shift, BARO) and appends it, with the machine and date, to benchmarks/RESULTS.md;
the per-case JSON, the store (for --replay) and an HTML report go to --out.

    .venv/bin/python benchmarks/bench_experiment.py                       # every flow, 30/class
    .venv/bin/python benchmarks/bench_experiment.py --flows sensor-pipeline --cases 4 --no-fault 2
    .venv/bin/python benchmarks/bench_experiment.py --replay --flows bottling-line  # re-analyse

--replay re-analyses the recorded cases of --out with the current analysis (no Node-RED), so two
analyses are compared on the same recordings. Campaigns resume from their state file when run
again; SIGTERM stops them like Ctrl-C (the tap's faults are restored by the campaign).
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

BASELINES = ("upstream", "marginal", "baro")


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
        "| ours AC@3 | irrelevant node not blamed |"
    )
    lines = [header, "|" + "---|" * 10]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _replay(name: str, out: Path) -> CampaignResult:
    from nodered_causal.experiment.replay import load_campaign, reanalyse

    data, result = load_campaign(out / f"{name}.json")
    path, _ = bundled_flow(name)
    return reanalyse(data, result, out / f"{name}.db", path, progress=_progress(name))


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
    parser.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM stops like Ctrl-C
    args.out.mkdir(parents=True, exist_ok=True)
    rows: list[tuple[Any, ...]] = []
    timing: list[str] = []
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    for name in [f.strip() for f in args.flows.split(",") if f.strip()]:
        path, target = bundled_flow(name)
        started = time.monotonic()
        if args.replay:
            result = _replay(name, args.out)
            extra: dict[str, Any] = json.loads((args.out / f"{name}.json").read_text())
            extra = {k: v for k, v in extra.items() if k not in ("cases", "no_fault", "summary")}
        else:
            exp = run_experiment(
                target=target, store_path=args.out / f"{name}.db", flow_path=str(path),
                n_cases=args.cases, faults=DEFAULT_FAULTS, n_no_fault=args.no_fault,
                seconds=args.seconds, seed=args.seed, scenarios=scenarios,
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
        wall = time.monotonic() - started
        data = result.to_json(**extra)
        suffix = "-replay" if args.replay else ""
        (args.out / f"{name}{suffix}.json").write_text(json.dumps(data, indent=1, default=str))
        summary = data["summary"]
        rows += class_rows(name, summary)
        timing.append(
            f"{name}: {summary['n_cases']} fault + {summary['n_no_fault']} no-fault cases in "
            f"{wall / 60:.1f} min; attribution median {_fmt(summary['analysis_s_median'])} s, "
            f"max {_fmt(summary['analysis_s_max'])} s per case"
        )
        print(table(class_rows(name, summary)), flush=True)
    text = table(rows) + "\n\n" + "\n".join(f"- {t}" for t in timing)
    print(text)
    if not args.no_record:
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
