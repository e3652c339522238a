"""``nodered-causal inject``: apply a fault to one node of a running flow (via the tap plugin)."""

from __future__ import annotations

import argparse

from nodered_causal.cli._common import add_command, add_nodered_args, client_from_args, print_json

__all__ = ["register", "run"]

EPILOG = """\
fault kinds (KIND:VALUE):
  bias:V  scale:K  noise:SD  constant:V   change the --field of the node's messages
  drop:P  error:P                          drop / fail a fraction P of its messages
  delay:MS                                 delay each message
  shift:mean:V  shift:scale:K  shift:noise:SD   a data shift at a source node

The flow is not redeployed: runtime ids stay the same. The fault stays active until
'nodered-causal restore --url URL', which also works after a crash.

examples:
  nodered-causal inject --url http://127.0.0.1:1880 --node calibrate --fault bias:2.0
  nodered-causal inject --node read_sensor --fault shift:mean:5 --field payload.temperature
  nodered-causal restore --url http://127.0.0.1:1880
"""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = add_command(
        sub,
        "inject",
        help="inject a fault into one node of a running flow",
        description="Inject a fault into the messages one node sends (needs the tap plugin).",
        epilog=EPILOG,
    )
    parser.add_argument("--node", required=True, help="runtime id of the node to fault")
    parser.add_argument("--fault", required=True, help="KIND:VALUE, e.g. bias:2.0 (see below)")
    parser.add_argument("--field", default="payload", help="message field (default: payload)")
    parser.add_argument("--seed", type=int, default=None, help="seed of random faults")
    parser.add_argument("--json", action="store_true", help="print the active fault as JSON")
    add_nodered_args(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from nodered_causal.faults.inject import FaultInjector
    from nodered_causal.faults.spec import parse_fault

    fault = parse_fault(args.fault, field=args.field)
    with client_from_args(args) as client:
        doc = FaultInjector(client).inject(args.node, fault, seed=args.seed)
    if args.json:
        print_json(doc)
    else:
        print(f"injected {fault} at {args.node} on {client.url} (undo: nodered-causal restore)")
    return 0
