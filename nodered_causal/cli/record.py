"""``nodered-causal record``: one named recording of a running Node-RED, with a loss report."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from nodered_causal.cli.collect import add_transport_args, store_where, transport_from_args

__all__ = ["register", "run"]

EPILOG = """\
Reads the deployed flow (its rev and the runtime causal DAG) from the Node-RED Admin API, creates
the run, receives the tap's records for --seconds (plus --grace for batches in flight), then
prints a completeness report per tap stream: records received, gaps in seq, records the tap says
it dropped, and the difference (lost in transport). Records naming nodes that are not in the
flow's DAG are kept aside as rejected. Exit code 1 if anything was lost (unless --allow-loss) or
nothing arrived, 2 for bad input (e.g. the run name exists).

examples:
  nodered-causal record --url http://127.0.0.1:1880 --mqtt mqtt://127.0.0.1:1883 \\
      --run baseline --seconds 60 --store runs.db
  nodered-causal record --url http://127.0.0.1:1880 --http 127.0.0.1:8765 --run incident \\
      --seconds 120 --allow-loss --json > incident.json
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "record",
        help="record a named run from a running Node-RED for N seconds",
        description="Record one named run of a running Node-RED with the wire tap, report loss.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--url", required=True, help="Node-RED Admin API URL (http://HOST:1880)")
    parser.add_argument("--token", help="Admin API bearer token")
    parser.add_argument("--username", help="Admin API user (with --password)")
    parser.add_argument("--password", help="Admin API password")
    add_transport_args(parser)
    parser.add_argument("--run", required=True, help="name of the new run")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long (default 60)")
    parser.add_argument(
        "--grace", type=float, default=2.0, help="extra seconds for batches in flight (default 2)"
    )
    parser.add_argument(
        "--allow-loss", action="store_true", help="exit 0 even if records were lost"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from nodered_causal.collector import flow_snapshot, open_store, record

    if args.seconds <= 0:
        print("record: --seconds must be positive", file=sys.stderr)
        return 2
    mqtt, http = transport_from_args(args, args.run)
    snapshot = flow_snapshot(
        args.url, token=args.token, username=args.username, password=args.password
    )
    for warning in snapshot.warnings:
        print(f"warning: {warning}", file=sys.stderr)

    def progress(elapsed: float, counts: Any) -> None:
        print(
            f"\r{elapsed:5.0f}/{args.seconds:g} s  {counts.records} records  "
            f"{counts.rejected} rejected",
            end="",
            file=sys.stderr,
            flush=True,
        )

    def started(collector: Any) -> None:  # once subscribed / listening
        print(
            f"recording run {args.run!r} (flow rev {snapshot.rev}, "
            f"{len(snapshot.node_ids)} nodes) into {store_where(args.store)}",
            file=sys.stderr,
            flush=True,
        )

    with open_store(args.store) as store:
        result = record(
            store,
            args.run,
            seconds=args.seconds,
            mqtt=mqtt,
            http=http,
            snapshot=snapshot,
            grace=args.grace,
            progress=progress,
            on_started=started,
        )
        print(file=sys.stderr)
    if args.json:
        print(json.dumps(result.as_dict(), indent=2))
    else:
        print(_text(result))
    if result.ok or (args.allow_loss and result.completeness):
        return 0
    return 1


def _text(result: Any) -> str:
    run = result.run
    lines = [
        f"run {run.name}: {(run.end_ns - run.start_ns) / 1e9:.1f} s, flow rev {run.flow_rev}",
        "  " + ", ".join(f"{n} {k}" for k, n in result.counts.items() if n),
    ]
    lines.append(
        f"  {'tap':<16} {'boot':<18} {'received':>9} {'gaps':>6} {'dropped':>8} "
        f"{'transport':>9} {'rejected':>8}"
    )
    for c in result.completeness:
        lines.append(
            f"  {c.tap:<16} {c.boot:<18} {c.received:>9} {c.gaps:>6} {c.dropped:>8} "
            f"{c.transport_loss:>9} {c.rejected:>8}"
        )
    lines += [f"  LOSS: {p}" for p in result.problems]
    lines.append("  complete: nothing lost" if result.ok else f"  INCOMPLETE ({result.lost} lost)")
    return "\n".join(lines)
