"""``--report`` and ``--push`` for the commands that produce an answer (attribute, explain)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from nodered_causal.cli._common import add_nodered_args

__all__ = ["add_answer_args", "deliver_answer", "series_of"]


def add_answer_args(parser: argparse.ArgumentParser) -> None:
    """``--report OUT`` and ``--push`` (with the Node-RED instance options for the push)."""
    parser.add_argument(
        "--report", metavar="OUT.html",
        help="write a report people can read: OUT.html (+ OUT.svg, + OUT.png with graphviz); "
        "OUT.svg or OUT.png write the flow drawing only",
    )  # fmt: skip
    parser.add_argument(
        "--push", action="store_true",
        help="show the answer in the Node-RED editor of --url (the tap plugin's sidebar tab)",
    )  # fmt: skip
    add_nodered_args(parser)


def series_of(
    before: Mapping[str, tuple[str, list[tuple[float, float]]]],
    after: Mapping[str, tuple[str, list[tuple[float, float]]]],
    nodes: Iterable[str],
    names: Mapping[str, str],
    what: str,
    **labels: Any,
) -> list[Any]:
    """One :class:`~nodered_causal.report.answer.Series` per node with data on either side;
    ``what`` may use ``{field}``."""
    from nodered_causal.report.answer import Series

    out = []
    for node in dict.fromkeys(nodes):
        if node not in before and node not in after:
            continue
        field = (before.get(node) or after.get(node) or ("payload", []))[0]
        out.append(
            Series.of(
                node,
                names.get(node, node),
                what.format(field=field),
                before.get(node, ("", []))[1],
                after.get(node, ("", []))[1],
                **labels,
            )
        )
    return out


def deliver_answer(
    args: argparse.Namespace, graph: Any, answer: Any, *, highlight: Iterable[str] = ()
) -> None:
    """Write ``--report`` and do ``--push`` as asked; say where on stderr."""
    from nodered_causal.report.page import render_answer
    from nodered_causal.report.write import write_answer_report

    if args.report:
        written = write_answer_report(args.report, graph, answer, highlight=highlight)
        print(f"report: {', '.join(str(p) for p in written)}", file=sys.stderr)
    if args.push:
        from nodered_causal.cli._common import client_from_args
        from nodered_causal.report.push import push_answer

        page = render_answer(graph, answer, highlight=highlight)
        with client_from_args(args) as client:
            reply = push_answer(client, answer, page)
        print(f"pushed to the editor of {client.url}: {reply.get('id')}", file=sys.stderr)
