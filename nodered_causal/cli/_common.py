"""Options shared by the commands that talk to a running Node-RED (``--url`` and admin auth)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from nodered_causal import config

if TYPE_CHECKING:
    from nodered_causal.nodered.client import NodeRedClient

__all__ = ["add_command", "add_nodered_args", "client_from_args", "print_json"]

AUTH_HELP = (
    "admin auth: --token (or NODERED_CAUSAL_NODERED_TOKEN), or --username with the password in "
    "NODERED_CAUSAL_NODERED_PASSWORD (preferred: --password ends up in shell history)"
)


def add_command(
    sub: argparse._SubParsersAction,  # type: ignore[type-arg]
    name: str,
    *,
    help: str,  # noqa: A002 (argparse's own name)
    description: str,
    epilog: str,
) -> argparse.ArgumentParser:
    """A sub-command parser whose ``--help`` keeps the epilog's examples as written."""
    parser: argparse.ArgumentParser = sub.add_parser(
        name,
        help=help,
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def add_nodered_args(parser: argparse.ArgumentParser) -> None:
    """Add ``--url``, ``--token``, ``--username``, ``--password``, ``--timeout``."""
    group = parser.add_argument_group("Node-RED instance", AUTH_HELP)
    group.add_argument(
        "--url",
        help=f"Admin API URL (env {config.NODERED_URL.name}, default {config.NODERED_URL.default})",
    )
    group.add_argument("--token", help="Admin API bearer token")
    group.add_argument("--username", help="Admin API user (logs in with POST /auth/token)")
    group.add_argument("--password", help="Admin API password (prefer the env variable)")
    group.add_argument(
        "--timeout", type=float, default=10.0, help="seconds per Admin API request (default 10)"
    )


def client_from_args(args: argparse.Namespace) -> NodeRedClient:
    """A client for ``--url`` (or the env default), with whatever credentials were given."""
    from nodered_causal.errors import NodeRedError
    from nodered_causal.nodered.client import NodeRedClient

    url = config.NODERED_URL.get(args.url) or ""
    username = config.NODERED_USERNAME.get(args.username)
    password = config.NODERED_PASSWORD.get(args.password)
    if username is not None and password is None:
        raise NodeRedError(
            f"--username {username} needs a password: set NODERED_CAUSAL_NODERED_PASSWORD"
        )
    try:
        return NodeRedClient(
            url,
            token=config.NODERED_TOKEN.get(args.token),
            username=username,
            password=password if username is not None else None,
            timeout=args.timeout,
        )
    except ValueError as exc:
        raise NodeRedError(str(exc), url=url) from None


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
