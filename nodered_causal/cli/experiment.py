"""``nodered-causal experiment``: inject known faults, attribute, score AC@1/AC@3/specificity."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from nodered_causal.cli._common import add_command, add_nodered_args, print_json
from nodered_causal.faults.spec import DEFAULT_FAULTS

__all__ = ["register", "run"]

EPILOG = """\
Each fault case records a baseline and an injected period of --seconds, attributes the change at
--target, and notes the rank of the faulted node among the blamed ones. No-fault cases record two
baselines: anything blamed there is a false alarm (specificity). Nodes to fault are drawn from the
target's ancestors. Finished cases are kept in --state: run the same command again to resume.

With a flow file and no --url, a throw-away local Node-RED with the tap plugin is started and
removed afterwards; with --url the instance must run the tap plugin (nodered-causal tap install)
shipping to --mqtt (default) or to --http.

examples:
  nodered-causal experiment flows/sensor-pipeline.json --target comfort --report out.html
  nodered-causal experiment flows/bottling-line.json --target bt_score --cases 20 \\
      --no-fault-cases 10 --seconds 20 --json results.json
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
    parser.add_argument("flow", nargs="?", help="flow export to run locally (omit with --url)")
    parser.add_argument("--target", required=True, help="runtime id of the node to explain")
    parser.add_argument("--cases", type=int, default=20, help="fault cases (default 20)")
    parser.add_argument(
        "--faults",
        default=",".join(DEFAULT_FAULTS),
        help="comma-separated faults, cycled over the cases (default %(default)s; see 'inject "
        "--help'); bias/noise values may be in standard deviations of the faulted leaf "
        "(2sd), measured on each case's baseline",
    )
    parser.add_argument("--no-fault-cases", type=int, default=10, help="no-fault cases (10)")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each recording")
    parser.add_argument("--window", type=float, default=0.5, help="window for rates (s, 0.5)")
    parser.add_argument("--field", default="payload", help="payload field to fault/analyse")
    parser.add_argument("--seed", type=int, default=1, help="seed of the plan and the analysis")
    parser.add_argument("--store", default=None, help="record store (default: next to --json)")
    parser.add_argument("--state", default=None, help="resume file (default: <store>.state.json)")
    parser.add_argument("--json", metavar="OUT", help="write the full results as JSON")
    parser.add_argument("--report", metavar="OUT.html", help="write the HTML report (+ .png)")
    parser.add_argument(
        "--push", action="store_true",
        help="show the result in the Node-RED editor of --url (the tap plugin's sidebar tab)",
    )  # fmt: skip
    parser.add_argument("--nodered-version", choices=("4", "5"), default="4")
    ingest = parser.add_mutually_exclusive_group()
    ingest.add_argument("--mqtt", metavar="URL", help="broker the tap ships to (with --url)")
    ingest.add_argument("--http", metavar="ADDR", help="host:port to receive the tap on")
    add_nodered_args(parser)
    parser.set_defaults(func=run)


def _progress(i: int, n: int, case: object) -> None:
    from nodered_causal.experiment.campaign import CaseResult

    assert isinstance(case, CaseResult)
    what = f"{case.fault} at {case.node}" if case.node else "no fault"
    verdict = f"rank {case.rank_of_true}" if case.node else f"blamed {case.blamed or 'nothing'}"
    print(f"[{i}/{n}] {what}: {verdict} ({case.seconds:.0f} s)", file=sys.stderr, flush=True)


def _push(args: argparse.Namespace, client: Any, exp: Any) -> None:
    from nodered_causal.experiment.report import campaign_answer, render_campaign
    from nodered_causal.report.push import push_answer

    answer = campaign_answer(exp.dag, exp.result, flow=str(exp.flow))
    page = render_campaign(exp.dag, exp.result, title=answer.title)
    reply = push_answer(client, answer, page)
    print(f"pushed to the editor of {client.url}: {reply.get('id')}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    from nodered_causal.cli._common import client_from_args
    from nodered_causal.collector.http import parse_address
    from nodered_causal.collector.mqtt import default_client_id, parse_mqtt_url
    from nodered_causal.errors import ExperimentError
    from nodered_causal.experiment.live import run_experiment
    from nodered_causal.experiment.report import write_campaign_report

    if (args.flow is None) == (args.url is None):
        raise ExperimentError("give either a flow file or --url of a running Node-RED")
    if args.push and args.url is None:
        raise ExperimentError(
            "--push shows the result in the editor of --url: a local throw-away Node-RED is "
            "gone when the campaign ends"
        )
    out = Path(args.json or args.report or "experiment.json")
    store = Path(args.store or out.with_suffix(".db"))
    client = client_from_args(args) if args.url else None
    if client is not None and not (args.mqtt or args.http):
        args.mqtt = "mqtt://127.0.0.1:1883"
    mqtt = (
        parse_mqtt_url(
            args.mqtt,
            topic="nodered-causal/+/records",
            client_id=default_client_id("experiment", str(store.resolve()), str(args.seed)),
        )
        if args.mqtt
        else None
    )
    exp = run_experiment(
        target=args.target,
        store_path=store,
        flow_path=args.flow,
        client=client,
        mqtt=mqtt,
        http=parse_address(args.http) if args.http else None,
        n_cases=args.cases,
        faults=[f.strip() for f in args.faults.split(",") if f.strip()],
        n_no_fault=args.no_fault_cases,
        seconds=args.seconds,
        seed=args.seed,
        field=args.field,
        window_s=args.window,
        version=args.nodered_version,
        state_path=args.state or store.with_suffix(".state.json"),
        progress=_progress,
    )
    data = exp.result.to_json(flow=exp.flow, seed=args.seed, seconds_per_recording=args.seconds)
    if args.json:
        from nodered_causal.report import write_atomic

        write_atomic(args.json, json.dumps(data, indent=1, default=str))
    if args.report:
        page, png = write_campaign_report(
            exp.dag, exp.result, args.report, title=f"nodered-causal experiment: {exp.flow}"
        )
        print(f"report: {page} ({png or 'no PNG: apt-get install graphviz'})", file=sys.stderr)
    if args.push:
        _push(args, client, exp)
    summary = data["summary"]
    if not args.json and not args.report:
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
    return 0
