"""``nodered-causal incidents list | show | report``: what watch found, from the store."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from nodered_causal.cli import _types as t
from nodered_causal.cli._common import add_store_arg

__all__ = ["register", "run"]

EPILOG = """\
Incidents are what 'nodered-causal watch' opened when a target shifted: each has an id, the
target and signal, when it changed and was detected, the ranking of upstream nodes with
intervals, the blamed nodes, the flow rev and the deploys around it. They stay in the store when
old records are pruned. An id may be shortened to any unique prefix.

Exit codes: 0 ok, 2 unknown incident or store.

examples:
  nodered-causal incidents list --store runs.db
  nodered-causal incidents list --open --json
  nodered-causal incidents show 20261206-021503-a1b2c3d4
  nodered-causal incidents report 20261206-021503 --out incident.html
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "incidents",
        help="list, show and report the incidents watch opened",
        description="The incidents of 'nodered-causal watch', from the store.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = sub.add_parser("list", help="incidents, newest first")
    add_store_arg(listing)
    listing.add_argument("--open", action="store_true", help="only those not closed")
    listing.add_argument("--since", type=t.TIME, metavar="TIME", help="detected since (-24h, ISO)")
    listing.add_argument("--json", action="store_true", help="the documents as a JSON array")
    show = sub.add_parser("show", help="one incident in full")
    show.add_argument("id", type=t.INCIDENT_ID, help="incident id (or a unique prefix)")
    add_store_arg(show)
    show.add_argument("--json", action="store_true", help="the document as JSON")
    report = sub.add_parser("report", help="an HTML report: the flow, the blame, before/after")
    report.add_argument("id", type=t.INCIDENT_ID, help="incident id (or a unique prefix)")
    add_store_arg(report)
    report.add_argument(
        "--out", type=t.OUTPUT_FILE, metavar="OUT.html",
        help="where to write (default incident-<id>.html; .svg/.png: the drawing only)",
    )  # fmt: skip
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from nodered_causal.collector import open_store

    with open_store(args.store, create=False) as store:
        if args.action == "list":
            return _list(args, store)
        doc = store.incident(args.id)
        if args.action == "show":
            print(json.dumps(doc, indent=2) if args.json else _text(doc))
            return 0
        return _report(args, store, doc)


def _list(args: argparse.Namespace, store: Any) -> int:
    from nodered_causal.watch import parse_time

    since = parse_time(args.since) if args.since else None
    docs = store.incidents(state="open" if args.open else None, since_ns=since)
    if args.json:
        print(json.dumps(docs, indent=2))
        return 0
    if not docs:
        print("no incidents", file=sys.stderr)
        return 0
    print(f"{'id':<27} {'state':<7} {'changed at':<24} {'target':<20} {'signal':<22} blamed")
    for d in docs:
        blamed = ", ".join(r["name"] for r in d.get("ranking", []) if r.get("blamed")) or "-"
        print(
            f"{d['id']:<27} {d['state']:<7} {d.get('changed_at') or '':<24} "
            f"{str(d.get('target_name') or d['target'])[:20]:<20} {d.get('signal', '')[:22]:<22} "
            f"{blamed}"
        )
    return 0


def _text(doc: dict[str, Any]) -> str:
    size = doc.get("size") or {}
    lines = [
        f"incident {doc['id']} ({doc['state']}, {doc.get('updates', 0)} update(s))",
        f"  target   {doc.get('target_name')} ({doc['target']}), signal {doc.get('signal')}",
        f"  changed  {doc.get('changed_at')}, detected {doc.get('detected_at')}"
        + (f", closed {doc['closed_at']}" if doc.get("closed_at") else ""),
    ]
    if size.get("after") is not None:
        lines.append(
            f"  size     {size['before']:.4g} -> {size['after']:.4g} "
            f"({(size.get('change_sd') or 0):+.2f} reference sd)"
        )
    lines.append(f"  verdict  {doc.get('verdict')}")
    lines.append(f"  flow rev {doc.get('flow_rev')}")
    for r in doc.get("ranking", [])[:10]:
        interval = (
            f"[{r['low']:.3g}, {r['high']:.3g}]"
            if r.get("low") is not None and r.get("high") is not None
            else ""
        )
        mark = "***" if r.get("blamed") else ""
        lines.append(f"    {r['name'][:30]:<30} {r.get('score') or 0:>9.4g} {interval:<22} {mark}")
    for d in doc.get("deploys", []):
        changed = ", ".join(d.get("upstream_names") or []) or "nothing upstream"
        lines.append(f"  deploy   {d.get('at')} rev {d.get('rev')}: changed {changed}")
    lines += [f"  note     {n}" for n in doc.get("notes", [])]
    return "\n".join(lines)


def _report(args: argparse.Namespace, store: Any, doc: dict[str, Any]) -> int:
    from nodered_causal.analysis.graph import analysis_dag
    from nodered_causal.errors import MissingDataError
    from nodered_causal.report.write import write_answer_report
    from nodered_causal.watch.report import answer_from_incident

    run = store.run(doc.get("run") or "watch")
    if not run.dag:
        raise MissingDataError(f"run {run.name!r} has no flow DAG stored to draw")
    out = args.out or f"incident-{doc['id']}.html"
    written = write_answer_report(out, analysis_dag(run.dag), answer_from_incident(doc))
    print(f"report: {', '.join(str(p) for p in written)}", file=sys.stderr)
    return 0
