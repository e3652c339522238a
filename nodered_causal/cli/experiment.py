"""``nodered-causal experiment``: inject known faults, attribute, score AC@1/AC@3/specificity."""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nodered_causal import config
from nodered_causal.cli import _types as t
from nodered_causal.cli._common import (
    add_command,
    add_install_arg,
    add_nodered_args,
    add_store_arg,
    add_transport_args,
    add_window_arg,
    check_install,
    check_nodes,
    client_from_args,
    mqtt_settings,
    nodered_url,
    print_json,
    transport_from_args,
    warn,
)
from nodered_causal.cli.progress import Progress
from nodered_causal.errors import UsageError
from nodered_causal.experiment.plan import SCENARIOS, SHIFT_FAULTS
from nodered_causal.faults.spec import DEFAULT_FAULTS
from nodered_causal.redact import redact_data

__all__ = ["register", "run"]

#: ``--metric`` values: every signal, the one each fault kind shows in, or one of
#: ``nodered_causal.analysis.datasets.METRICS`` (kept here so ``--help`` does not import pandas).
METRIC_CHOICES = (
    "all", "per-fault", "throughput", "value", "value_p50", "value_p95", "latency", "errors",
)  # fmt: skip

EPILOG = """\
Each fault case records a baseline and an injected period of --seconds, attributes the change at
--target, and notes the rank of the faulted node among the blamed ones. No-fault cases record two
baselines: anything blamed there is a false alarm (specificity). Nodes to fault are drawn from the
target's ancestors. Finished cases are kept in --state: run the same command again to resume.

With a flow file and no --url, a throw-away local Node-RED with the tap plugin is started and
removed afterwards; with --url the instance must run the tap plugin (nodered-causal tap install)
shipping to --mqtt (default) or to --http. Without a flow file and --url the instance of
NODERED_CAUSAL_NODERED_URL is used.

Output: --json prints the full results as JSON on stdout; -o FILE writes them to FILE (the store
goes next to it, FILE.db, unless --store or NODERED_CAUSAL_STORE); --report writes the HTML
report (bare --report: NODERED_CAUSAL_REPORT_DIR/experiment-<target>.html). Without any of them
the results are printed as JSON.

examples:
  nodered-causal experiment flows/sensor-pipeline.json --target comfort --report out.html
  nodered-causal experiment flows/bottling-line.json --target bt_score --cases 20 \\
      --no-fault-cases 10 --seconds 20 -o results.json
  nodered-causal experiment flows/quake-dashboard.json --target qk_chart \\
      --install node-red-dashboard --faults delay:200 --metric throughput
  nodered-causal experiment --url http://127.0.0.1:1880 --mqtt mqtt://127.0.0.1:1883 \\
      --target my_node --faults bias:2,drop:0.3 --push      # result in the editor's sidebar
"""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = add_command(
        sub,
        "experiment",
        help="measure how often the analysis names an injected fault (AC@k, specificity)",
        description="Run a fault-injection campaign on a flow and score the attribution.",
        epilog=EPILOG,
    )
    parser.add_argument(
        "flow",
        nargs="?",
        type=t.FLOW_FILE,
        help="flow export to run locally, or a bundled flow's name (omit with --url)",
    )
    parser.add_argument(
        "--target", required=True, type=t.NODE_ID, help="runtime id of the node to explain"
    )
    parser.add_argument(
        "--cases", type=t.count(0, 10_000), default=20, metavar="N", help="fault cases (20)"
    )
    parser.add_argument(
        "--faults",
        type=t.FAULT_LIST,
        default=",".join(DEFAULT_FAULTS),
        help="comma-separated faults, cycled over the cases (default %(default)s; see 'inject "
        "--help'); bias/noise values may be in standard deviations of the faulted leaf "
        "(2sd), measured on each case's baseline",
    )
    parser.add_argument(
        "--no-fault-cases", type=t.count(0, 10_000), default=10, metavar="N",
        help="no-fault cases (10)",
    )  # fmt: skip
    parser.add_argument(
        "--scenarios", type=t.choice_list(SCENARIOS), default=["single"], metavar="LIST",
        help="scenario classes, --cases of each (default single): single (one fault), double "
        "(two at once; right = both in the top 3), irrelevant (a fault plus a change that cannot "
        "reach the target; right = the fault first, the other not blamed), harmless (that change "
        "alone; right = nothing blamed), shift (data shifts at sources)",
    )  # fmt: skip
    parser.add_argument(
        "--shift-faults", type=t.FAULT_LIST, default=",".join(SHIFT_FAULTS), metavar="LIST",
        help="the data shifts of the shift class (default %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--metric", default="all", choices=METRIC_CHOICES,
        help="what the analysis compares: all (default) every signal of every node at once; "
        "per-fault the one each fault kind shows in; or one signal",
    )  # fmt: skip
    parser.add_argument(
        "--seconds", type=t.SECONDS, default=20.0, help="length of each recording (20)"
    )
    add_window_arg(parser)
    parser.add_argument(
        "--field", type=t.FIELD, help="payload field to fault/analyse (default: the leaf the "
        "target reads most)",
    )  # fmt: skip
    parser.add_argument(
        "--seed", type=t.SEED, default=t.env_default(config.SEED),
        help=f"seed of the plan and the analysis (env {config.SEED.name}, default 1)",
    )  # fmt: skip
    add_store_arg(parser, default=None)
    parser.add_argument(
        "--state", type=t.OUTPUT_FILE, default=None,
        help="resume file (default: <store>.state.json)",
    )  # fmt: skip
    parser.add_argument(
        "--json", nargs="?", const=True, default=False, metavar="",
        help="print the full results as JSON on stdout",
    )  # fmt: skip
    parser.add_argument("-o", "--output", type=t.OUTPUT_FILE, help="write the results as JSON")
    parser.add_argument(
        "--report", nargs="?", const=True, type=t.OUTPUT_FILE, metavar="OUT.html",
        help=f"write the HTML report (+ .png); no path: into {config.REPORT_DIR.name}",
    )  # fmt: skip
    parser.add_argument(
        "--push", action="store_true",
        help="show the result in the Node-RED editor of --url (the tap plugin's sidebar tab)",
    )  # fmt: skip
    parser.add_argument(
        "--nodered-version", choices=("4", "5"), default="4", help="Node-RED major (default 4)"
    )
    add_install_arg(parser)
    add_transport_args(parser, when=" (with --url)")
    add_nodered_args(parser)
    parser.set_defaults(func=run)


def _progress(bar: Progress) -> Callable[[int, int, object], None]:
    def report(i: int, n: int, case: object) -> None:
        from nodered_causal.experiment.campaign import CaseResult

        assert isinstance(case, CaseResult)
        what = (
            " + ".join(f"{fault} at {node}" for node, fault, _ in case.injections)
            if case.injections
            else f"{case.fault} at {case.node}"
            if case.node
            else "no fault"
        )
        verdict = (
            f"rank {case.rank_of_true}"
            if case.culprits or case.node
            else f"blamed {', '.join(case.blamed) or 'nothing'}"
        )
        what = f"{case.scenario}: {what}" if case.scenario not in ("single", "no_fault") else what
        bar.write(f"[{i}/{n}] {what}: {verdict} ({case.seconds:.0f} s)")
        bar.update(i)

    return report


def _check(args: argparse.Namespace) -> None:
    """What argparse cannot check alone; UsageError (exit 2) before anything starts."""
    if isinstance(args.json, str):  # the old 'experiment --json OUT'
        if args.flow is None and args.url is None and Path(args.json).is_file():
            args.flow, args.json = args.json, True  # 'experiment --json FLOW.json ...'
        else:
            warn("'experiment --json OUT' is deprecated: use -o OUT (--json prints JSON)")
            args.output, args.json = t.OUTPUT_FILE(args.json), False
    check_install(args)
    if args.cases + args.no_fault_cases == 0:
        raise UsageError("--cases and --no-fault-cases are both 0: nothing to run")
    if args.flow is not None and args.url is not None:
        raise UsageError("give either a flow file or --url of a running Node-RED, not both")
    if args.push and args.flow is not None:
        raise UsageError(
            "--push shows the result in the editor of --url: a local throw-away Node-RED is "
            "gone when the campaign ends"
        )
    if args.report is True:
        folder = config.REPORT_DIR.get() or "."
        name = f"experiment-{re.sub(r'[^A-Za-z0-9_.-]+', '_', args.target)}.html"
        Path(folder).mkdir(parents=True, exist_ok=True)
        args.report = t.OUTPUT_FILE(str(Path(folder) / name))


def _push(args: argparse.Namespace, client: Any, exp: Any) -> None:
    from nodered_causal.experiment.report import campaign_answer, render_campaign
    from nodered_causal.report.push import push_answer

    answer = campaign_answer(exp.dag, exp.result, flow=str(exp.flow))
    page = render_campaign(exp.dag, exp.result, title=answer.title)
    reply = push_answer(client, answer, page)
    print(f"pushed to the editor of {client.url}: {reply.get('id')}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    from nodered_causal.experiment.live import run_experiment
    from nodered_causal.experiment.report import write_campaign_report

    _check(args)
    check_nodes(args.flow, args.target)
    url = nodered_url(args, fallback=False) if args.flow is None else None
    if args.flow is None and url is None:
        raise UsageError(
            f"give a flow file or --url of a running Node-RED (or set {config.NODERED_URL.name})"
        )
    out = Path(args.output or args.report or "experiment.json")
    store = Path(args.store or out.with_suffix(".db"))
    seed = int(args.seed)
    client = client_from_args(args, url=url) if url else None
    mqtt_url, http = transport_from_args(args, default=client is not None)
    mqtt = mqtt_settings(mqtt_url, "experiment", str(store.resolve()), str(seed))
    n_total = args.cases * len(args.scenarios) + args.no_fault_cases
    with Progress(n_total, unit="cases", what="experiment", every=None) as bar:
        exp = run_experiment(
            target=args.target,
            store_path=store,
            flow_path=args.flow,
            client=client,
            mqtt=mqtt,
            http=http,
            n_cases=args.cases,
            faults=args.faults,
            n_no_fault=args.no_fault_cases,
            seconds=args.seconds,
            seed=seed,
            field=args.field or "payload",
            window_s=args.window,
            version=args.nodered_version,
            state_path=args.state or store.with_suffix(".state.json"),
            progress=_progress(bar),
            scenarios=args.scenarios,
            shift_faults=args.shift_faults,
            modules=args.install,
            metric=args.metric,
        )
    data = exp.result.to_json(
        flow=exp.flow,
        seed=seed,
        seconds_per_recording=args.seconds,
        metric=args.metric,
        survey=exp.survey.to_json() if exp.survey else None,
    )
    data = redact_data(data)
    if args.output:
        from nodered_causal.report import write_atomic

        write_atomic(args.output, json.dumps(data, indent=1, default=str))
    if args.report:
        page, png = write_campaign_report(
            exp.dag, exp.result, args.report, title=f"nodered-causal experiment: {exp.flow}",
            idle=exp.survey.idle if exp.survey else (),
        )  # fmt: skip
        print(f"report: {page} ({png or 'no PNG: apt-get install graphviz'})", file=sys.stderr)
    if args.push:
        _push(args, client, exp)
    summary = data["summary"]
    if args.json or not (args.output or args.report):
        print_json(data)
    else:
        print(
            f"AC@1 {summary['ac1']}  AC@3 {summary['ac3']}  specificity {summary['specificity']}"
            f"  ({summary['n_cases']} fault cases, {summary['n_no_fault']} no-fault, "
            f"{summary['seconds']} s)"
        )
        print(
            f"{summary['n_symptom']} of {summary['n_cases']} faults showed at the target; on "
            f"those: AC@1 {summary['ac1_symptom']}  AC@3 {summary['ac3_symptom']}"
        )
        print(class_table(summary["classes"]))
        if exp.survey is not None and exp.survey.idle:
            print("not faulted (no traffic toward the target in the survey): "
                  + ", ".join(exp.survey.idle))  # fmt: skip
    return 0


def class_table(classes: dict[str, Any]) -> str:
    """Per scenario class, ours beside every baseline: the class's headline score."""
    from nodered_causal.experiment.scoring import CLASS_SCORE

    names = sorted({b for c in classes.values() for b in c["baselines"]})
    head = f"{'class':<11} {'score':<19} {'n':>4} {'ours':>6}" + "".join(f" {n:>9}" for n in names)
    lines = [head]

    def fmt(v: Any) -> str:
        return "-" if v is None else f"{v:.2f}"

    for name, c in classes.items():
        what = CLASS_SCORE.get(name, "ac1")
        row = f"{name:<11} {what:<19} {c['n']:>4} {fmt(c['score']):>6}"
        row += "".join(f" {fmt(c['baselines'][n]['score']):>9}" for n in names)
        lines.append(row)
    return "\n".join(lines)
