"""``nodered-causal completion bash|zsh|tcsh``: print a shell completion script (shtab)."""

from __future__ import annotations

import argparse

from nodered_causal.cli._common import add_command

__all__ = ["register", "run"]

EPILOG = """\
The script completes commands, options and their choices (and file names where a file goes).

examples:
  nodered-causal completion bash > ~/.local/share/bash-completion/completions/nodered-causal
  nodered-causal completion zsh > "${fpath[1]}/_nodered-causal"     # then: compinit
  eval "$(nodered-causal completion bash)"                          # this shell only
"""

SHELLS = ("bash", "zsh", "tcsh")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = add_command(
        sub,
        "completion",
        help="print a shell completion script (bash, zsh, tcsh)",
        description="Print the completion script of nodered-causal for a shell.",
        epilog=EPILOG,
    )
    parser.add_argument("shell", choices=SHELLS)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import shtab

    from nodered_causal.cli import build_parser

    print(shtab.complete(build_parser(), shell=args.shell))
    return 0
