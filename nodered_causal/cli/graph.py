"""``nodered-causal graph``: the causal graph of a flow export (or of a running Node-RED)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from nodered_causal import config
from nodered_causal.cli import _types as t
from nodered_causal.cli._common import add_nodered_args, client_from_args, nodered_url

__all__ = ["register", "run"]

FORMATS = ("text", "json", "dot", "graphml", "png", "svg")
KINDS = ("wire", "link", "subflow", "link-call", "link-return", "catch", "status", "complete")

EPILOG = """\
Every wire of the flow is a causal arrow. Node ids are the ids the Node-RED runtime uses: a node
inside a subflow instance is <instanceId>-<innerId> (nested instances prefix again), a subflow's
status output <instanceId>:status. Links, link calls and their returns, catch/status/complete
scopes and subflow boundaries become edges of their own kind; disabled nodes and tabs are left
out (said in the notes). Wires to ids that do not exist are dropped with a warning on stderr.

--condensed gives the analysis DAG: junctions contracted, every cycle condensed into one node
'cycle:<first member>' with a members list.

formats: text (default), json (networkx node-link data, "edges" key), dot (nodes at the editor's
x/y, one band per tab and subflow instance), graphml, png and svg (rendered by graphviz:
apt-get install graphviz).

examples:
  nodered-causal graph flows/sensor-pipeline.json
  nodered-causal graph flows.json --format json -o graph.json
  nodered-causal graph flows.json --condensed --kinds wire,link,subflow,link-call,link-return
  nodered-causal graph flows.json --format png -o graph.png
  cat flows.json | nodered-causal graph - --strict      # exit 2 on a wire to a missing node
  nodered-causal graph --url http://127.0.0.1:1880 --json
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "graph",
        help="the causal graph of a flow export",
        description="Build the causal graph of a Node-RED flow export (file, stdin or --url).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "flow",
        nargs="?",
        metavar="FLOW.json",
        type=t.FLOW_PATH,
        help="flow export, '-' = stdin, or a bundled flow's name (bottling-line)",
    )
    parser.add_argument("-f", "--format", choices=FORMATS, default=None, help="output format")
    parser.add_argument("--json", action="store_true", help="same as --format json")
    parser.add_argument(
        "-o", "--output", metavar="FILE", type=t.OUTPUT_FILE, help="write here (atomically)"
    )
    parser.add_argument(
        "--condensed", action="store_true", help="analysis DAG: junctions and cycles condensed"
    )
    parser.add_argument(
        "--kinds",
        metavar="K1,K2",
        type=t.choice_list(KINDS),
        help=f"keep only these edge kinds ({','.join(KINDS)})",
    )
    parser.add_argument(
        "--strict", action="store_true", help="a wire to a missing node is an error (exit 2)"
    )
    add_nodered_args(
        parser,
        url_help="read the deployed flows of a running Node-RED instead (with no FLOW.json: "
        f"env {config.NODERED_URL.name})",
    )
    parser.set_defaults(func=run)


def _usage(message: str) -> int:
    print(f"nodered-causal graph: error: {message}", file=sys.stderr)
    return 2


def _load(args: argparse.Namespace, url: str | None) -> Any:
    from nodered_causal.flows import load_flow

    if url is None:
        return load_flow(args.flow, strict=args.strict)
    with client_from_args(args, url=url) as client:
        flows, rev = client.get_flows()
    return load_flow({"flows": flows, "rev": rev or None}, strict=args.strict, source=client.url)


def _has_client() -> bool:
    import importlib.util

    return importlib.util.find_spec("nodered_causal.nodered.client") is not None


def run(args: argparse.Namespace) -> int:
    fmt = "json" if args.json else (args.format or "text")
    if args.json and args.format not in (None, "json"):
        return _usage("--json and --format are exclusive")
    if args.flow and args.url:
        return _usage("give exactly one of FLOW.json (or '-') and --url")
    url = None if args.flow else nodered_url(args, fallback=False)
    if not args.flow and url is None:
        return _usage(f"give FLOW.json (or '-') or --url (or set {config.NODERED_URL.name})")
    if url and not _has_client():
        return _usage("--url needs nodered_causal.nodered.client, which this build lacks")
    if fmt == "png" and not args.output and sys.stdout.isatty():
        return _usage("--format png writes binary data: give -o FILE")

    from nodered_causal.flows import to_causal_dag

    flow = _load(args, url)
    for found in flow.warnings:
        print(f"warning: {found.message}", file=sys.stderr)
    graph = to_causal_dag(flow, condensed=args.condensed, kinds=args.kinds)
    data: str | bytes
    if fmt in ("png", "svg"):
        from nodered_causal.report.write import render_image

        data = render_image(graph, fmt=fmt, what=args.output or "stdout")
    else:
        from nodered_causal.flows.export import to_text_format

        data = to_text_format(graph, fmt)
    if args.output:
        from nodered_causal.report.write import write_atomic

        write_atomic(args.output, data)
    elif isinstance(data, bytes):
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        sys.stdout.write(data)
    return 0
