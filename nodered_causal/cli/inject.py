"""``nodered-causal inject``: apply a fault to one node of a running flow (via the tap plugin)."""

from __future__ import annotations

import argparse

from nodered_causal.cli import _types as t
from nodered_causal.cli._common import add_command, add_nodered_args, client_from_args, print_json

__all__ = ["register", "run"]

EPILOG = """\
fault kinds (KIND:VALUE):
  bias:V  scale:K  noise:SD  constant:V   change the --field of the node's messages
  drop:P  error:P                          drop / fail a fraction P of its messages
  delay:MS                                 delay each message
  shift:mean:V  shift:scale:K  shift:noise:SD   a data shift at a source node

The flow is not redeployed: runtime ids stay the same. inject waits (--wait, default 10 s) until
the tap reports the fault changed a message; if it changed none (the field is not a number, the
node sends nothing) it is removed again and inject exits 1 saying what the tap saw, e.g.
"seen 113, applied 0: payload is an object; numeric leaves: payload.total, payload.tax".
Without --field a value fault goes to payload if that is a number, else to the node's first
numeric leaf. The fault stays active until 'nodered-causal restore --url URL', which also works
after a crash. Exit codes: 0 applied, 1 did not apply (removed), 2 bad spec or unknown node.

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
    parser.add_argument("--node", required=True, type=t.NODE_ID, help="runtime id of the node")
    parser.add_argument(
        "--fault", required=True, type=t.FAULT, help="KIND:VALUE, e.g. bias:2.0 (see below)"
    )
    parser.add_argument(
        "--field", type=t.FIELD, default=None,
        help="message field (default: payload if it is a number, else the node's first numeric "
        "leaf, as campaigns choose it)",
    )  # fmt: skip
    parser.add_argument("--seed", type=t.SEED, default=None, help="seed of random faults")
    parser.add_argument(
        "--wait", type=t.number(low=0, high=3600, what="seconds"), default=10.0, metavar="S",
        help="wait up to S seconds for the tap to report the fault applied (default 10; 0: do "
        "not check)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print the active fault as JSON")
    add_nodered_args(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from nodered_causal.faults.inject import FaultInjector
    from nodered_causal.faults.spec import parse_fault

    fault = parse_fault(args.fault, field=args.field or "payload")
    with client_from_args(args) as client:
        injector = FaultInjector(client)
        if args.wait > 0:
            doc = injector.inject_verified(
                args.node, fault, seed=args.seed, wait=args.wait, resolve_field=args.field is None
            )
        else:
            doc = injector.inject(args.node, fault, seed=args.seed)
    if args.json:
        print_json(doc)
        return 0
    shown = f"{fault.kind}:{fault.value:g}" + (f" on {doc['field']}" if fault.changes_field else "")
    if args.wait > 0:
        proof = f"applied to {doc.get('applied')} of {doc.get('seen')} messages so far"
    else:
        proof = "not checked (--wait 0)"
    print(
        f"injected {shown} at {args.node} on {client.url}: {proof} (undo: nodered-causal restore)"
    )
    return 0
