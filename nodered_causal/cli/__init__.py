"""Command line interface: ``nodered-causal <command> ...``.

Thin by design (see STYLE.md): each command lives in its own module of this package with two
functions, ``register(subparsers)`` that adds its argparse sub-parser (help text with examples)
and sets ``func``, and ``run(args) -> int`` that calls the public API and prints. Heavy libraries
(dowhy, pandas) are imported inside ``run`` only, so ``--help`` stays fast.

Exit codes: 0 ok, 1 a run failed or an analysis found nothing where that matters, 2 bad input or
usage (options are checked where they are parsed: ``cli/_types.py``), 130 interrupted (Ctrl-C),
143 terminated (SIGTERM: the same clean-up as Ctrl-C). Errors print as ``ErrorName: message`` on
stderr with secrets redacted (``nodered_causal.redact``), never a traceback (``--debug`` shows it).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
from collections.abc import Sequence

from nodered_causal.cli._common import Terminated, secrets_of, terminate_as_interrupt
from nodered_causal.errors import NoderedCausalError
from nodered_causal.redact import RedactingFilter, redact_text

__all__ = ["build_parser", "main"]

#: Modules of this package that provide a command, in the order ``--help`` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "graph",
    "nodered",
    "tap",
    "collect",
    "record",
    "runs",
    "attribute",
    "explain",
    "inject",
    "restore",
    "experiment",
    "whatif",
    "watch",
    "incidents",
    "demo",
    "completion",
)

EPILOG = """\
examples:
  nodered-causal graph flows/sensor-pipeline.json          # the causal graph of a flow export
  nodered-causal graph --url http://127.0.0.1:1880 --format json
  nodered-causal demo                                       # the whole loop on this machine

Run 'nodered-causal COMMAND --help' for the options and examples of one command.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nodered-causal",
        description="Find why a Node-RED flow misbehaves: every wire is a causal arrow.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=_version())
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)"
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"nodered_causal.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"nodered_causal.cli.{name}":
                continue  # command not built yet
            raise
        module.register(sub)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"nodered-causal {version('nodered-causal')}"
    except PackageNotFoundError:
        return "nodered-causal (not installed)"


#: Options whose value may be a time ago (``--since -15m``): argparse would take ``-15m`` for an
#: option, so such a value is glued to its option (``--since=-15m``) before parsing.
TIME_OPTIONS = frozenset({"--since", "--until", "--reference-since", "--reference-until"})


def _glue_times(argv: Sequence[str]) -> list[str]:
    out: list[str] = []
    for arg in argv:
        if out and out[-1] in TIME_OPTIONS and arg.startswith("-") and arg[1:2].isdigit():
            out[-1] = f"{out[-1]}={arg}"
        else:
            out.append(arg)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code (never raises for bad input, see module doc)."""
    parser = build_parser()
    try:
        args = parser.parse_args(_glue_times(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:  # argparse: --help, --version, or a usage error (exit 2)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    secrets = secrets_of(args)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if args.verbose:
        logging.getLogger().setLevel(level)
    redacting = RedactingFilter(secrets)
    handlers = list(logging.getLogger().handlers)
    for handler in handlers:
        handler.addFilter(redacting)
    try:
        with terminate_as_interrupt():
            code: int = args.func(args)
    except NoderedCausalError as exc:
        if args.debug:
            raise
        print(redact_text(f"{type(exc).__name__}: {exc}", secrets), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        print("terminated" if isinstance(exc, Terminated) else "interrupted", file=sys.stderr)
        return 128 + (exc.signum if isinstance(exc, Terminated) else signal.SIGINT)
    finally:
        for handler in handlers:
            handler.removeFilter(redacting)
    return code
