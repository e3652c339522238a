"""``nodered-causal whatif``: predict a target's values if one node behaved differently."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from nodered_causal.cli._common import add_command, add_nodered_args, print_json

__all__ = ["register", "run"]

EPILOG = """\
Fits a causal model of the flow on a recorded baseline run and predicts the --target's value
(mean and quantiles per --window) if --node's values changed by --change (bias:V, scale:K,
constant:V, noise:SD). With --verify the same change is injected into the live flow (tap plugin),
recorded, restored, and the prediction is compared with what really happened.

examples:
  nodered-causal whatif --store runs.db --run baseline --node calibrate --change bias:2 \\
      --target comfort
  nodered-causal whatif --store runs.db --run baseline --node read_sensor --change scale:1.5 \\
      --target comfort --verify --url http://127.0.0.1:1880 --http 127.0.0.1:8765 --json
"""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = add_command(
        sub,
        "whatif",
        help="predict the target if one node changed (and optionally verify it live)",
        description="Predict a target node's values under a changed node (dowhy interventions).",
        epilog=EPILOG,
    )
    parser.add_argument("--store", required=True, help="record store with the baseline run")
    parser.add_argument("--run", required=True, help="baseline run name")
    parser.add_argument("--node", required=True, help="runtime id of the node to change")
    parser.add_argument("--change", required=True, help="bias:V, scale:K, constant:V, noise:SD")
    parser.add_argument("--target", required=True, help="runtime id of the node to predict")
    parser.add_argument("--window", type=float, default=0.5, help="window in seconds (0.5)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    verify = parser.add_argument_group("verify live")
    verify.add_argument("--verify", action="store_true", help="inject, record, compare, restore")
    verify.add_argument("--seconds", type=float, default=20.0, help="recording length (20)")
    ingest = verify.add_mutually_exclusive_group()
    ingest.add_argument("--mqtt", metavar="URL", help="broker the tap ships to")
    ingest.add_argument("--http", metavar="ADDR", help="host:port to receive the tap on")
    add_nodered_args(parser)
    parser.set_defaults(func=run)


def _verify(args: argparse.Namespace, store: Any, dag: Any, field: str) -> dict[str, Any]:

    from nodered_causal.analysis import metric_frame, windowed
    from nodered_causal.cli._common import client_from_args
    from nodered_causal.cli.collect import store_where
    from nodered_causal.collector.http import parse_address
    from nodered_causal.collector.mqtt import default_client_id, parse_mqtt_url
    from nodered_causal.collector.recording import snapshot_of
    from nodered_causal.experiment.live import LiveLab
    from nodered_causal.faults.spec import parse_fault
    from nodered_causal.flows import load_flow, to_causal_dag

    mqtt = parse_mqtt_url(
        args.mqtt or "mqtt://127.0.0.1:1883",
        topic="nodered-causal/+/records",
        client_id=default_client_id("whatif", store_where(args.store), args.run),
    )
    http = parse_address(args.http) if args.http else None
    with client_from_args(args) as client:
        flows, rev = client.get_flows()
        flow = load_flow(flows)
        snapshot = snapshot_of(flow, rev, to_causal_dag(flow))
        stream = f"whatif-verify-{args.run}-{args.node}"
        with LiveLab(
            client, store, snapshot, dag, stream=stream, http=http, mqtt=None if http else mqtt
        ) as lab:
            lab.record("before", args.seconds)
            lab.inject(args.node, parse_fault(args.change, field=field), seed=args.seed)
            try:
                lab.record("after", args.seconds)
            finally:
                lab.restore()
            means = {}
            for name in ("before", "after"):
                frame = windowed(lab.columns(name), window_s=args.window)
                means[name] = float(metric_frame(frame, "value")[args.target].mean())
    return {"observed_before": means["before"], "observed_mean": means["after"]}


def run(args: argparse.Namespace) -> int:
    from nodered_causal.analysis.datasets import choose_fields
    from nodered_causal.analysis.graph import analysis_dag
    from nodered_causal.analysis.whatif import what_if
    from nodered_causal.collector.store import open_store
    from nodered_causal.errors import StoreError
    from nodered_causal.faults.spec import parse_fault

    fault = parse_fault(args.change)
    with open_store(args.store, create=False) as store:
        base = store.run(args.run)
        if not base.dag:
            raise StoreError(f"run {args.run!r} in {store.location} has no flow graph recorded")
        dag = analysis_dag(base.dag)
        columns = store.record_columns(base)
        result = what_if(
            dag, columns, args.node, args.target, kind=fault.kind, value=fault.value,
            window_s=args.window, seed=args.seed,
        )  # fmt: skip
        out: dict[str, Any] = result.to_dict()
        if args.verify:
            field = choose_fields(columns).get(args.node, "payload")
            out.update(_verify(args, store, dag, field))
            observed_change = out["observed_mean"] - out["observed_before"]
            out["observed_change"] = observed_change
            out["error"] = result.predicted_mean - out["observed_mean"]
            out["relative_error"] = abs(out["error"]) / (abs(out["observed_mean"]) or 1.0)
    if args.json:
        print_json(out)
        return 0
    print(
        f"what if {args.node} had {result.change}: {args.target} ({result.metric} per "
        f"{args.window:g} s window, {result.n_windows} baseline windows)"
    )
    print(f"  baseline mean  {result.baseline_mean:.4g}")
    print(f"  predicted mean {result.predicted_mean:.4g}  (change {result.predicted_change:+.4g})")
    q = result.predicted_quantiles
    print(f"  predicted 5%/50%/95%  {q['0.05']:.4g} / {q['0.5']:.4g} / {q['0.95']:.4g}")
    if args.verify:
        print(
            f"  observed mean  {out['observed_mean']:.4g}  (before the change "
            f"{out['observed_before']:.4g}); prediction error {out['error']:+.4g} "
            f"({100 * out['relative_error']:.1f} %)"
        )
    for note in result.notes:
        print(f"  note: {note}", file=sys.stderr)
    return 0
