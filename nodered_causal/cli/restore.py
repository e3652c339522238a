"""``nodered-causal restore``: remove every injected fault from a running flow."""

from __future__ import annotations

import argparse
from dataclasses import asdict

from nodered_causal.cli._common import add_command, add_nodered_args, client_from_args, print_json

__all__ = ["register", "run"]

EPILOG = """\
Removes all faults on the instance (also those of a tool that was killed mid-injection: the
state kept on disk says what was injected) and checks the deployed flows are unchanged.

examples:
  nodered-causal restore --url http://127.0.0.1:1880
  nodered-causal restore --json
"""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = add_command(
        sub,
        "restore",
        help="remove injected faults from a running flow",
        description="Remove every fault injected with 'nodered-causal inject'.",
        epilog=EPILOG,
    )
    parser.add_argument("--json", action="store_true", help="print what was removed as JSON")
    add_nodered_args(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from nodered_causal.faults.inject import FaultInjector

    with client_from_args(args) as client:
        report = FaultInjector(client).restore()
    if args.json:
        print_json({**asdict(report), "flows_unchanged": report.flows_unchanged})
        return 0
    names = ", ".join(f"{f.get('kind')} at {f.get('node')}" for f in report.removed) or "none"
    print(f"removed faults on {report.url}: {names}")
    if report.flows_unchanged is False:
        print(
            f"note: the flows were redeployed meanwhile (rev {report.rev_before} -> "
            f"{report.rev_after}); nodered-causal did not touch them"
        )
    return 0
