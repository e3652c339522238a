"""``nodered-causal explain``: why one recorded message came out wrong at a target node."""

from __future__ import annotations

import argparse
import math
from dataclasses import replace
from typing import Any

from nodered_causal.cli._answer import deliver_answer, series_of
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

--report OUT.html writes a page people can read (node names, shares, the message's value at the
target and at the culprit against the run's other messages); --push shows it in the Node-RED
editor of --url (the causal-tap plugin's sidebar tab).

examples:
  nodered-causal explain --store runs.db --run incident --message 4711 --target sink
  nodered-causal explain --store runs.db --run incident --message 4711 --target sink \\
      --report message-4711.html
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
        rev = store.run(args.run).flow_rev
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
    if args.report or args.push:
        deliver_answer(args, dag, _answer(args, dag, result, messages, chosen, rev))
    return 0 if result.blamed else 1


def _answer(
    args: argparse.Namespace, dag: Any, result: Any, messages: Any, chosen: Any, rev: Any
) -> Any:
    """The answer people read: the message's value at the target and the culprit, marked among
    the run's other messages."""
    from nodered_causal.analysis.series import message_series
    from nodered_causal.report.build import answer_from_attribution, graph_names

    names = graph_names(dag)
    nodes = [result.target, *(result.blamed[:2] or result.ranking[:1])]
    index = int(chosen.nonzero()[0][0])
    points = message_series(messages, nodes)
    series = series_of(
        points, {}, nodes, names, "{field} in each message",
        before_label=f"messages of run {args.run}",
    )  # fmt: skip
    row = messages.iloc[index]
    marked = []
    for s in series:
        value = float(row.get(s.node, math.nan))
        marked.append(replace(s, mark=(float(index), value)) if math.isfinite(value) else s)
    normal = f"run “{args.baseline}”" if args.baseline else "the run's other messages"
    return answer_from_attribution(
        result,
        dag,
        what=f"the value of message {args.message}",
        series=marked,
        facts=[("Message", f"trace {args.message} of run “{args.run}”"), ("Normal", normal)],
        flow_rev=rev,
        kind="explanation",
    )
