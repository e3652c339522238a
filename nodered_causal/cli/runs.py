"""``nodered-causal runs list|show|export``: look at and export the runs in a store."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from typing import Any

__all__ = ["register", "run"]

EPILOG = """\
The store can be read while a collector is writing to it.

examples:
  nodered-causal runs list --store runs.db
  nodered-causal runs show baseline --store runs.db          # counts, completeness, rejected
  nodered-causal runs show baseline --json
  nodered-causal runs export baseline --format csv -o baseline.csv
  nodered-causal runs export baseline --format parquet -o baseline.parquet --kinds deliver
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "runs",
        help="list, show or export recorded runs",
        description="List, show or export the runs of a record store.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="runs_command", metavar="ACTION", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--store", default="runs.db", help="the store: a file or postgresql://... (default runs.db)"
    )
    lst = sub.add_parser(
        "list",
        parents=[common],
        help="list the runs",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    lst.add_argument("--json", action="store_true", help="JSON output")
    show = sub.add_parser(
        "show",
        parents=[common],
        help="one run in detail",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    show.add_argument("name", metavar="RUN")
    show.add_argument("--json", action="store_true", help="JSON output")
    show.add_argument(
        "--rejected", type=int, default=5, metavar="N", help="list N rejected records"
    )
    exp = sub.add_parser(
        "export",
        parents=[common],
        help="write a run's records to a file",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    exp.add_argument("name", metavar="RUN")
    exp.add_argument("--format", choices=("csv", "parquet"), default="csv")
    exp.add_argument("-o", "--output", required=True, metavar="FILE")
    exp.add_argument(
        "--kinds",
        default="deliver,error",
        help="record kinds, comma-separated (default deliver,error)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from nodered_causal.collector import open_store

    with open_store(args.store, create=False) as store:
        if args.runs_command == "list":
            return _list(store, args)
        if args.runs_command == "show":
            return _show(store, args)
        return _export(store, args)


def _list(store: Any, args: argparse.Namespace) -> int:
    runs = store.runs()
    if args.json:
        print(
            json.dumps(
                [{**r.as_dict(), "records": _records(store.counts(r), "rejected")} for r in runs],
                indent=2,
            )
        )
        return 0
    if not runs:
        print(f"no runs in {store.location}")
        return 0
    print(f"{'run':<24} {'start':<20} {'seconds':>8} {'records':>9}  {'taps':<20} rev")
    for r in runs:
        c = store.counts(r)
        length = f"{(r.end_ns - r.start_ns) / 1e9:.1f}" if r.end_ns else "open"
        records = _records(c)
        print(
            f"{r.name:<24} {_when(r.start_ns):<20} {length:>8} {records:>9}  "
            f"{','.join(r.taps) or '-':<20} {r.flow_rev or '-'}"
        )
    return 0


def _records(counts: dict[str, int], *also: str) -> int:
    """Stored records of every kind (and of ``also``), not the cut values counted beside."""
    from nodered_causal.tap.records import KINDS

    return sum(counts[k] for k in (*KINDS, *also))


def _show(store: Any, args: argparse.Namespace) -> int:
    from nodered_causal.collector import summarize
    from nodered_causal.collector.writer import IngestCounts

    r = store.run(args.name)
    report = summarize(store, r, IngestCounts())
    rejected = store.rejected(r, limit=args.rejected)
    if args.json:
        out = report.as_dict()
        out.pop("ingest")
        out["rejected"] = [row.__dict__ for row in rejected]
        print(json.dumps(out, indent=2))
        return 0
    end = _when(r.end_ns) if r.end_ns else "open (still recording?)"
    nodes = len(r.dag.get("nodes", [])) if r.dag else 0
    print(
        f"run {r.name}\n  start {_when(r.start_ns)}  end {end}\n  flow rev {r.flow_rev or '-'}, "
        f"DAG {nodes} nodes, taps {', '.join(r.taps) or '-'}"
    )
    print("  records: " + ", ".join(f"{k} {n}" for k, n in report.counts.items()))
    for c in report.completeness:
        print(
            f"  tap {c.tap} boot {c.boot}: received {c.received}, seq {c.first_seq}..{c.last_seq}, "
            f"gaps {c.gaps}, tap dropped {c.dropped}, transport loss {c.transport_loss}, "
            f"rejected {c.rejected}"
        )
        for lo, hi in c.gap_ranges:
            print(f"    missing seq {lo}..{hi}")
    for row in rejected:
        print(f"  rejected: {row.reason}: {row.raw[:100]}")
    return 0


def _export(store: Any, args: argparse.Namespace) -> int:
    from nodered_causal.collector import export_run

    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    rows = export_run(store, args.name, args.output, fmt=args.format, kinds=kinds)
    print(f"wrote {rows} records of run {args.name} to {args.output}")
    return 0


def _when(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns / 1e9).strftime("%Y-%m-%d %H:%M:%S")
