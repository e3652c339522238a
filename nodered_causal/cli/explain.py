"""``nodered-causal explain``: why one recorded message came out wrong at a target node."""

from __future__ import annotations

import argparse
from typing import Any

from nodered_causal.cli.attribute import add_analysis_args, config_from_args, load_dag

__all__ = ["register", "run"]

EPILOG = """\
Follows the message's lineage (trace = seq of its root delivery) through the recorded run: one row
with the value each node sent on its path. Nodes off the path (an untaken switch branch) are left
out. Each node's linear mechanism is fitted on normal messages that took the same route (the
--baseline run, or the same run without this message), and the target's deviation from its normal
mean is split into the contributions of the nodes' reconstructed noise (exact Shapley values for
a linear model; --engine dowhy uses gcm.attribute_anomalies with dowhy's IT anomaly score).

Exit codes: 0 a culprit was named, 1 nothing anomalous enough to blame, 2 bad input.

examples:
  nodered-causal explain --store runs.db --run incident --message 4711 --target sink
  nodered-causal explain --store runs.db --run incident --message 4711 --target sink \\
      --baseline base --json
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "explain",
        help="explain why one recorded message was anomalous at a target node",
        description="Attribute one message's anomalous value at a target to upstream nodes.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--run", required=True, metavar="RUN", help="the run with the message")
    parser.add_argument(
        "--message", required=True, type=int, metavar="TRACE_ID",
        help="the message's trace id (seq of its root delivery)",
    )  # fmt: skip
    parser.add_argument(
        "--baseline", metavar="RUN", help="normal messages from this run (default: --run itself)"
    )
    add_analysis_args(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from nodered_causal.analysis import attribute_anomaly, lineage
    from nodered_causal.collector import open_store
    from nodered_causal.errors import MissingDataError

    cfg = config_from_args(args)
    with open_store(args.store, create=False) as store:
        dag = load_dag(store, args.run, *([args.baseline] if args.baseline else []))
        messages = lineage(store.record_columns(args.run), field=args.field)
        normal = (
            lineage(store.record_columns(args.baseline), field=args.field)
            if args.baseline
            else None
        )
    traces = messages.index.get_level_values("trace")
    chosen = traces == args.message
    if not chosen.any():
        raise MissingDataError(f"run {args.run!r} has no message with trace {args.message}")
    if normal is None:
        normal = messages[~chosen]
    result = attribute_anomaly(dag, normal, messages[chosen], args.target, config=cfg)
    print(result.to_json() if args.json else result.to_text(top=args.top))
    return 0 if result.blamed else 1
