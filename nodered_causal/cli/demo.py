"""``nodered-causal demo``: the whole loop on this machine, no Docker, no root."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from nodered_causal import config
from nodered_causal.cli import _types as t
from nodered_causal.cli._common import (
    add_command,
    add_install_arg,
    add_nodered_args,
    add_store_arg,
    add_transport_args,
    check_install,
    check_nodes,
    client_from_args,
    mqtt_settings,
    print_json,
    transport_from_args,
)

__all__ = ["paths", "register", "run"]

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
  nodered-causal demo --flow quake-dashboard --install node-red-dashboard --fault delay:200
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
        default=t.env_default(config.DEMO_FLOW),
        type=_FLOW,
        help=f"bundled flow name or a flow file (env {config.DEMO_FLOW.name}, "
        f"default {config.DEMO_FLOW.default}); with --url it names the flow that runs there",
    )
    parser.add_argument(
        "--target",
        default=t.env_default(config.DEMO_TARGET),
        type=t.NODE_ID,
        help=f"node to explain (env {config.DEMO_TARGET.name}, default: the flow's)",
    )
    parser.add_argument(
        "--node", type=t.NODE_ID, default=None, help="node to fault (default: drawn by --seed)"
    )
    parser.add_argument(
        "--fault", type=t.FAULT, default="bias:3", help="fault to inject (default bias:3)"
    )
    parser.add_argument(
        "--seconds", type=t.SECONDS, default=12.0, help="length of each recording (default 12)"
    )
    parser.add_argument(
        "--seed",
        type=t.SEED,
        default=t.env_default(config.SEED),
        help=f"seed (env {config.SEED.name}, default 1)",
    )
    add_store_arg(parser, default=None)
    parser.add_argument(
        "--report",
        type=t.OUTPUT_FILE,
        default=None,
        help=f"report path (default {config.REPORT_DIR.name}/demo.html when that is set, "
        "else demo/report.html)",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--nodered-version", choices=("4", "5"), default="4", help="Node-RED major (default 4)"
    )
    add_install_arg(parser)
    add_transport_args(parser, when=" (with --url)")
    add_nodered_args(parser)
    parser.set_defaults(func=run)


@t.option_type("flow")
def _FLOW(text: str) -> str:  # noqa: N802 - a bundled flow's name or a flow file
    if "/" in text or text.endswith(".json"):
        return t.INPUT_FILE(text)
    return t.RUN_NAME(text)


def _say(text: str) -> None:
    print(f"demo: {text}", file=sys.stderr, flush=True)


def paths(args: argparse.Namespace) -> tuple[Path, Path]:
    """(store, report): the options, else NODERED_CAUSAL_STORE / NODERED_CAUSAL_REPORT_DIR's
    ``demo.html``, else ``demo/runs.db`` and ``demo/report.html``."""
    report_dir = config.REPORT_DIR.get()
    default_report = Path(report_dir) / "demo.html" if report_dir else Path("demo", "report.html")
    return Path(args.store or Path("demo", "runs.db")), Path(args.report or default_report)


def run(args: argparse.Namespace) -> int:
    from nodered_causal.experiment.bundled import TARGETS, bundled_flow
    from nodered_causal.experiment.campaign import CaseResult
    from nodered_causal.experiment.live import run_experiment
    from nodered_causal.experiment.report import write_campaign_report

    check_install(args)
    started = time.monotonic()
    for name in ("nodered_causal.nodered", "nodered_causal.experiment"):
        logging.getLogger(name).setLevel(logging.INFO)  # show installs, start-up, recordings
    seed = int(args.seed)
    store, report = paths(args)
    for folder in {store.parent, report.parent}:  # the demo's own folders (a given path's exists)
        folder.mkdir(parents=True, exist_ok=True)
    client = mqtt = None
    http = None
    flow_name = args.flow or "bottling-line"
    if args.url:
        client = client_from_args(args)
        flow_path, default_target = None, TARGETS.get(Path(flow_name).stem, "")
        mqtt_url, http = transport_from_args(args)
        mqtt = mqtt_settings(mqtt_url, "demo", str(store.resolve()), str(seed))
        where = f"the Node-RED at {client.url}"
    else:
        path, default_target = bundled_flow(flow_name)
        flow_path = str(path)
        check_nodes(flow_path, args.target or default_target or None, args.node)
        where = f"a local Node-RED {args.nodered_version} running {path.name}"
    target = args.target or default_target
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
        http=http,
        n_cases=1,
        faults=[args.fault],
        n_no_fault=1,
        seconds=args.seconds,
        seed=seed,
        version=args.nodered_version,
        nodes=[args.node] if args.node else None,
        state_path=None,
        progress=progress,
        modules=args.install,
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
