"""``nodered-causal attribute``: which node explains the change between two recorded runs."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from nodered_causal.cli import _types as t
from nodered_causal.cli._answer import add_answer_args, deliver_answer, series_of
from nodered_causal.cli._common import add_store_arg, add_window_arg

__all__ = ["add_analysis_args", "config_from_args", "load_dag", "register", "run"]

EPILOG = """\
Builds one row per time window (--window seconds) from each run's records, restricts the flow's
causal DAG (stored with the run) to the target's ancestors, tests every node's mechanism
(baseline vs incident, linear fit on its parents) and attributes the target's distribution change
to the changed nodes (Shapley values of dowhy's distribution_change, in nats, with bootstrap
intervals). A node is blamed only if its test is significant, its interval excludes zero and its
share is material; otherwise the verdict is "no significant change".

Metrics: value (mean of the payload field per window), value_p50, value_p95, throughput (messages
sent per window), latency (mean seconds from receive to send), errors. For the value metrics each
numeric leaf of a node's messages (payload.fill, payload.temp, ...) is a variable of its own, so a
change that travels in a second field of an object is followed too; a node's score is the sum over
its leaves. --field picks one leaf for every node instead.

--across-instances compares the instances of a fleet instead of two runs: one run holds the
records of many taps running the same flow (collect --shared into one store); each instance is
attributed against the rest of the fleet (same DAG, instances as environments), and the answer is
which instance differs and which node in it (needs at least 3 instances).

--since/--until compare a time range of a continuous recording (watch, collect) with a reference
range (--reference-since/--reference-until; default: the span of the same length right before
--since). Times are ISO 8601 (2026-12-06T02:10:00Z; no zone = UTC), 'now' or a time ago such as
-15m, -2h, -1d. Records of every run are read (or of --run), with the DAG of the latest run that
covers the range. In Python: nodered_causal.watch.attribute_range(store, target, since=...).

Exit codes: 0 a culprit was named, 1 no significant change, 2 bad input (unknown run or node,
cycle upstream of the target, no data).

--report OUT.html writes a page people can read (node names, each node's share of the change with
its interval, the target's and the culprit's values before and after); --push shows the answer in
the Node-RED editor of --url (the causal-tap plugin's sidebar tab), with its report.

examples:
  nodered-causal attribute --store runs.db --baseline base --incident slow --target sink
  nodered-causal attribute --store runs.db --baseline base --incident slow --target sink \\
      --report why.html --push --url http://127.0.0.1:1880
  nodered-causal attribute --store runs.db --baseline base --incident inc --target a1b2 \\
      --metric throughput --window 2 --json
  nodered-causal attribute --store runs.db --baseline base --incident inc --target a1b2 \\
      --field payload.temperature --engine dowhy --mechanisms auto --seed 3
  nodered-causal attribute --store postgresql://nrc@db/fleet --across-instances --run plant \\
      --target sink
  nodered-causal attribute --store runs.db --target sink --since -15m      # vs the 15 min before
  nodered-causal attribute --store runs.db --target sink --since 2026-12-06T02:10:00Z \\
      --until 2026-12-06T02:20:00Z --reference-since -2h --reference-until -1h
"""


def add_analysis_args(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``attribute`` and ``explain`` (also ``--report``, ``--push``)."""
    add_store_arg(parser)
    parser.add_argument(
        "--target", required=True, metavar="NODE_ID", type=t.NODE_ID,
        help="runtime id of the node",
    )  # fmt: skip
    parser.add_argument(
        "--field", type=t.FIELD,
        help="payload path used as every node's value, e.g. payload.temperature (default: "
        "attribute gives each numeric leaf of a node's messages, up to 6, a variable of its "
        "own; explain uses payload or the node's first numeric leaf)",
    )  # fmt: skip
    parser.add_argument("--seed", type=t.SEED, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--engine", choices=("fast", "dowhy", "dowhy-full"), default="fast",
        help="fast: closed-form linear (default); dowhy: dowhy sampling over the changed nodes; "
        "dowhy-full: gcm.distribution_change itself",
    )  # fmt: skip
    parser.add_argument(
        "--mechanisms", choices=("linear", "auto"), default="linear",
        help="auto: gcm.auto.assign_causal_mechanisms (implies --engine dowhy), reports the "
        "evaluation",
    )  # fmt: skip
    parser.add_argument(
        "--bootstrap", type=t.count(0, 100_000), default=50, metavar="N",
        help="bootstrap resamples (default 50)",
    )  # fmt: skip
    parser.add_argument(
        "--top", type=t.count(1), default=10, metavar="N", help="rows of the table (default 10)"
    )
    parser.add_argument("--json", action="store_true", help="the full result as JSON")
    add_answer_args(parser)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "attribute",
        help="name the node that explains a change between two recorded runs",
        description="Attribute the change of a target node between a baseline and an incident run.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--baseline", metavar="RUN", type=t.RUN_NAME, help="the normal run")
    parser.add_argument("--incident", metavar="RUN", type=t.RUN_NAME, help="the run that changed")
    parser.add_argument(
        "--since", type=t.TIME, metavar="TIME",
        help="compare a time range of the store instead of two runs: from TIME (ISO 8601, "
        "'-15m', 'now')",
    )  # fmt: skip
    parser.add_argument(
        "--until", type=t.TIME, metavar="TIME", help="end of the time range (default now)"
    )
    parser.add_argument(
        "--reference-since", type=t.TIME, metavar="TIME",
        help="start of the reference range (default: as long as the range, right before it)",
    )  # fmt: skip
    parser.add_argument(
        "--reference-until", type=t.TIME, metavar="TIME",
        help="end of the reference range (default --since)",
    )  # fmt: skip
    parser.add_argument(
        "--across-instances",
        action="store_true",
        help="which instance (tap) of --run differs from the rest of the fleet, and which node",
    )
    parser.add_argument(
        "--run",
        metavar="RUN",
        type=t.RUN_NAME,
        help="the fleet's run (--across-instances), or the run a time range reads",
    )
    parser.add_argument(
        "--metric", default="all",
        choices=("all", "value", "value_p50", "value_p95", "throughput", "latency", "errors"),
        help="what to compare per window: all (default) analyses every node's payload leaves, "
        "throughput, message age (a delay shows downstream) and errors together; the others "
        "look at one signal only",
    )  # fmt: skip
    add_window_arg(parser)
    parser.add_argument(
        "--alpha", type=t.ALPHA, default=0.01, help="family-wise significance (default 0.01)"
    )
    add_analysis_args(parser)
    parser.set_defaults(func=run)


def config_from_args(args: argparse.Namespace, **extra: Any) -> Any:
    from nodered_causal.analysis import AttributionConfig

    try:
        engine = args.engine
        if args.mechanisms == "auto" and engine == "fast":
            engine = "dowhy"  # documented in --mechanisms' help: auto needs a dowhy engine
        return AttributionConfig(
            seed=args.seed,
            engine=engine,
            mechanisms=args.mechanisms,
            n_bootstrap=args.bootstrap,
            field=args.field,
            **extra,
        )
    except ValueError as exc:
        from nodered_causal.errors import AnalysisError

        raise AnalysisError(str(exc)) from exc


def load_dag(store: Any, *runs: str) -> Any:
    """The analysis DAG stored with the first of ``runs`` that has one."""
    from nodered_causal.analysis.graph import analysis_dag
    from nodered_causal.errors import MissingDataError

    for name in runs:
        dag = store.run(name).dag
        if dag:
            return analysis_dag(dag)
    raise MissingDataError(
        f"run(s) {', '.join(repr(r) for r in runs)} have no flow DAG stored "
        "(record them with 'nodered-causal record', which stores the deployed flow's DAG)"
    )


def run(args: argparse.Namespace) -> int:
    from nodered_causal.analysis import attribute_shift
    from nodered_causal.collector import open_store

    if args.across_instances:
        return _across_instances(args)
    if args.since or args.until or args.reference_since or args.reference_until:
        return _time_range(args)
    if not (args.baseline and args.incident) or args.run:
        print(
            "attribute: give --baseline and --incident (or --across-instances with --run)",
            file=sys.stderr,
        )
        return 2
    cfg = config_from_args(args, window_s=args.window, alpha=args.alpha)
    with open_store(args.store, create=False) as store:
        dag = load_dag(store, args.incident, args.baseline)
        baseline = store.record_columns(args.baseline)
        incident = store.record_columns(args.incident)
        rev = store.run(args.incident).flow_rev
    result = attribute_shift(dag, baseline, incident, args.target, metric=args.metric, config=cfg)
    print(result.to_json() if args.json else result.to_text(top=args.top))
    if args.report or args.push:
        deliver_answer(args, dag, _answer(args, dag, result, baseline, incident, rev))
    return 0 if result.blamed else 1


def _time_range(args: argparse.Namespace) -> int:
    from nodered_causal.collector import open_store
    from nodered_causal.watch.query import attribute_range
    from nodered_causal.watch.timeparse import format_ns

    if not args.since or args.baseline or args.incident:
        print(
            "attribute: a time range takes --since [--until] [--reference-since "
            "--reference-until] (not --baseline/--incident)",
            file=sys.stderr,
        )
        return 2
    cfg = config_from_args(args, window_s=args.window, alpha=args.alpha)
    with open_store(args.store, create=False) as store:
        answer = attribute_range(
            store, args.target, since=args.since, until=args.until,
            reference_since=args.reference_since, reference_until=args.reference_until,
            run=args.run, metric=args.metric, config=cfg,
        )  # fmt: skip
    result = answer.result
    (r0, r1), (i0, i1) = answer.reference_ns, answer.incident_ns
    print(
        f"reference {format_ns(r0)} to {format_ns(r1)}, incident {format_ns(i0)} to "
        f"{format_ns(i1)} (run {answer.run})",
        file=sys.stderr,
    )
    print(result.to_json() if args.json else result.to_text(top=args.top))
    if args.report or args.push:
        args.baseline = f"{format_ns(r0)}..{format_ns(r1)}"
        args.incident = f"{format_ns(i0)}..{format_ns(i1)}"
        dag = answer.dag
        deliver_answer(
            args,
            dag,
            _answer(args, dag, result, answer.reference, answer.incident, answer.flow_rev),
        )
    return 0 if result.blamed else 1


def _across_instances(args: argparse.Namespace) -> int:
    from nodered_causal.analysis.fleet import attribute_fleet
    from nodered_causal.collector import open_store

    if not args.run or args.baseline or args.incident:
        print(
            "attribute: --across-instances takes --run (not --baseline/--incident)", file=sys.stderr
        )
        return 2
    cfg = config_from_args(args, window_s=args.window, alpha=args.alpha)
    with open_store(args.store, create=False) as store:
        dag = load_dag(store, args.run)
        columns = store.record_columns(args.run)
    result = attribute_fleet(dag, columns, args.target, metric=args.metric, config=cfg)
    print(result.to_json() if args.json else result.to_text(top=args.top))
    return 0 if result.differs else 1


def _answer(
    args: argparse.Namespace, dag: Any, result: Any, baseline: Any, incident: Any, rev: Any
) -> Any:
    """The answer people read: names, shares, and the target's and culprits' windows."""
    from nodered_causal.analysis.series import window_series
    from nodered_causal.report.answer import METRIC_WORDS
    from nodered_causal.report.build import answer_from_attribution, graph_names

    names = graph_names(dag)
    culprits = list(result.blamed[:2] or result.ranking[:1])
    nodes = [result.target, *culprits]
    # the before/after charts show values ("all" analyses every signal; values are what people
    # read first)
    shown = "value" if args.metric == "all" else args.metric
    opts = {"metric": shown, "window_s": args.window, "field": args.field}
    before = window_series(baseline, nodes, **opts)
    after = window_series(incident, nodes, **opts)
    metric = METRIC_WORDS.get(shown, shown)
    what = f"{metric} of {{field}} per {args.window:g} s window"
    if shown not in ("value", "value_p50", "value_p95"):
        what = f"{metric} ({args.window:g} s windows)"
    labels = {"before_label": f"run {args.baseline}", "after_label": f"run {args.incident}"}
    periods = {
        name: f"{len(next(iter(side.values()))[1]) * args.window:g} s" if side else "no data"
        for name, side in (("before", before), ("after", after))
    }
    return answer_from_attribution(
        result,
        dag,
        series=series_of(before, after, nodes, names, what, **labels),
        facts=[
            (
                "Compared",
                f"run “{args.baseline}” ({periods['before']}) with run “{args.incident}” "
                f"({periods['after']})",
            ),
            ("Measured", f"{metric} per {args.window:g} s window"),
        ],
        flow_rev=rev,
    )
