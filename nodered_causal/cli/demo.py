"""``nodered-causal demo``: the whole loop on this machine, no Docker, no root."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from nodered_causal import config
from nodered_causal.cli._common import add_command, add_nodered_args, print_json

__all__ = ["register", "run"]

EPILOG = """\
What it does (about a minute):
  1. starts a throw-away Node-RED with the wire-tap plugin and a bundled flow
     (or uses --url, a running Node-RED whose tap ships to --mqtt)
  2. records a baseline, injects a fault into one node, records again, restores the flow
  3. asks the analysis which node caused the change at the target
  4. does the same with no fault (it should blame nothing)
  5. writes an HTML report (and PNG) and prints where it is

examples:
  nodered-causal demo
  nodered-causal demo --flow sensor-pipeline --fault scale:1.5 --seconds 15
  nodered-causal demo --url http://127.0.0.1:1880 --mqtt mqtt://127.0.0.1:1883 \\
      --store /data/runs.db --report /data/reports/demo.html
"""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = add_command(
        sub,
        "demo",
        help="run the whole loop on this machine: flow, tap, fault, attribution, report",
        description="Run nodered-causal end to end on a bundled flow and write a report.",
        epilog=EPILOG,
    )
    parser.add_argument(
        "--flow",
        default=None,
        help=f"bundled flow name or a flow file (env {config.DEMO_FLOW.name}, "
        f"default {config.DEMO_FLOW.default}); with --url it names the flow that runs there",
    )
    parser.add_argument("--target", default=None, help="node to explain (default: the flow's)")
    parser.add_argument("--node", default=None, help="node to fault (default: drawn by --seed)")
    parser.add_argument("--fault", default="bias:3", help="fault to inject (default bias:3)")
    parser.add_argument("--seconds", type=float, default=12.0, help="length of each recording")
    parser.add_argument("--seed", type=int, default=None, help=f"seed (env {config.SEED.name})")
    parser.add_argument("--store", default=None, help="record store (default demo/runs.db)")
    parser.add_argument("--report", default=None, help="report path (default demo/report.html)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--mqtt", metavar="URL", help="broker the tap ships to (with --url)")
    parser.add_argument("--nodered-version", choices=("4", "5"), default="4")
    add_nodered_args(parser)
    parser.set_defaults(func=run)


def _say(text: str) -> None:
    print(f"demo: {text}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from nodered_causal.cli._common import client_from_args
    from nodered_causal.collector.mqtt import default_client_id, parse_mqtt_url
    from nodered_causal.experiment.bundled import TARGETS, bundled_flow
    from nodered_causal.experiment.campaign import CaseResult
    from nodered_causal.experiment.live import run_experiment
    from nodered_causal.experiment.report import write_campaign_report

    started = time.monotonic()
    for name in ("nodered_causal.nodered", "nodered_causal.experiment"):
        logging.getLogger(name).setLevel(logging.INFO)  # show installs, start-up, recordings
    seed = int(config.SEED.get(None if args.seed is None else str(args.seed)) or 1)
    store = Path(args.store or Path("demo") / "runs.db")
    report = Path(args.report or Path("demo") / "report.html")
    store.parent.mkdir(parents=True, exist_ok=True)
    client = mqtt = None
    flow_name = config.DEMO_FLOW.get(args.flow) or "bottling-line"
    if args.url:
        client = client_from_args(args)
        flow_path, default_target = None, TARGETS.get(Path(flow_name).stem, "")
        mqtt = parse_mqtt_url(
            config.MQTT_URL.get(args.mqtt) or "mqtt://127.0.0.1:1883",
            topic="nodered-causal/+/records",
            client_id=default_client_id("demo", str(store.resolve()), str(seed)),
        )
        where = f"the Node-RED at {client.url}"
    else:
        path, default_target = bundled_flow(flow_name)
        flow_path = str(path)
        where = f"a local Node-RED {args.nodered_version} running {path.name}"
    target = args.target or config.DEMO_TARGET.get(None) or default_target
    if not target:
        from nodered_causal.errors import ExperimentError

        raise ExperimentError("which node should the demo explain? pass --target NODE_ID")
    _say(f"starting; {where}, target {target}, fault {args.fault}, {args.seconds:g} s recordings")

    def progress(i: int, n: int, case: CaseResult) -> None:
        if case.node:
            verdict = (
                "named it first"
                if case.rank_of_true == 1
                else (f"blamed {', '.join(case.blamed) or 'nothing'}")
            )
            _say(f"[{i}/{n}] injected {case.fault} at {case.node}: the analysis {verdict}")
        else:
            quiet = "stayed quiet" if not case.blamed else f"blamed {', '.join(case.blamed)}"
            _say(f"[{i}/{n}] no fault: the analysis {quiet}")

    exp = run_experiment(
        target=target,
        store_path=store,
        flow_path=flow_path,
        client=client,
        mqtt=mqtt,
        n_cases=1,
        faults=[args.fault],
        n_no_fault=1,
        seconds=args.seconds,
        seed=seed,
        version=args.nodered_version,
        nodes=[args.node] if args.node else None,
        state_path=None,
        progress=progress,
    )
    page, png = write_campaign_report(
        exp.dag, exp.result, report, title=f"nodered-causal demo: {Path(exp.flow).name}"
    )
    took = time.monotonic() - started
    if args.json:
        print_json({**exp.result.to_json(flow=exp.flow), "report": str(page),
                    "png": str(png) if png else None,
                    "wall_seconds": round(took, 1)})  # fmt: skip
    else:
        case = exp.result.cases[0]
        print(f"fault: {case.fault} at {case.node}")
        print(f"blamed: {', '.join(case.blamed) or 'nothing'} "
              f"({'correct' if case.rank_of_true == 1 else 'wrong'})")  # fmt: skip
        print(f"no-fault check: {'quiet' if not exp.result.no_fault[0].blamed else 'false alarm'}")
        picture = f"picture: {png.resolve()}" if png else "no picture: apt-get install graphviz"
        print(f"report: {page.resolve()}  ({picture})")
        print(f"took {took:.0f} s")
    return 0
