"""What the commands share: the Node-RED, store, window and transport options (one spelling and
one meaning each), deprecated aliases, secrets, SIGTERM handling and output helpers.

The option *types* (what a valid value is) live in :mod:`nodered_causal.cli._types`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from nodered_causal import config
from nodered_causal.cli import _types as t
from nodered_causal.errors import UsageError
from nodered_causal.redact import redact_data

if TYPE_CHECKING:
    from nodered_causal.nodered.client import NodeRedClient

__all__ = [
    "AUTH_HELP",
    "Terminated",
    "add_command",
    "add_deprecated",
    "add_install_arg",
    "add_nodered_args",
    "add_store_arg",
    "add_transport_args",
    "add_window_arg",
    "check_install",
    "check_nodes",
    "client_from_args",
    "mqtt_settings",
    "nodered_url",
    "print_json",
    "secrets_of",
    "terminate_as_interrupt",
    "transport_from_args",
    "warn",
]

AUTH_HELP = (
    "admin auth: --token (or NODERED_CAUSAL_NODERED_TOKEN), or --username (or "
    "NODERED_CAUSAL_NODERED_USERNAME) with the password in NODERED_CAUSAL_NODERED_PASSWORD "
    "(preferred: --password ends up in shell history)"
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


def warn(message: str) -> None:
    """One warning line on stderr (the CLI's own voice, not a log record)."""
    print(f"nodered-causal: warning: {message}", file=sys.stderr, flush=True)


class _Deprecated(argparse.Action):
    """An old spelling: stores into the new option's dest and warns once used."""

    def __init__(self, option_strings: list[str], dest: str, *, new: str, **kwargs: Any) -> None:
        self.new = new
        super().__init__(option_strings, dest, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        warn(f"{option_string} is deprecated: use {self.new}")
        setattr(namespace, self.dest, values)


def add_deprecated(
    parser: argparse.ArgumentParser | Any, old: str, new: str, dest: str, **kwargs: Any
) -> None:
    """Accept ``old`` as a hidden alias of option ``new`` (same ``dest``), with a warning."""
    parser.add_argument(
        old, dest=dest, action=_Deprecated, new=new, help=argparse.SUPPRESS, **kwargs
    )


def add_nodered_args(parser: argparse.ArgumentParser, *, url_help: str | None = None) -> None:
    """``--url``, ``--token``, ``--username``, ``--password``, ``--timeout`` (env defaults)."""
    group = parser.add_argument_group("Node-RED instance", AUTH_HELP)
    group.add_argument(
        "--url",
        type=t.HTTP_URL,
        help=url_help
        or f"Admin API URL (env {config.NODERED_URL.name}, default {config.NODERED_URL.default})",
    )
    group.add_argument("--token", help="Admin API bearer token")
    group.add_argument("--username", help="Admin API user (logs in with POST /auth/token)")
    group.add_argument("--password", help="Admin API password (prefer the env variable)")
    group.add_argument(
        "--timeout",
        type=t.TIMEOUT,
        default=10.0,
        metavar="S",
        help="seconds per Admin API request (default 10)",
    )


def nodered_url(args: argparse.Namespace, *, fallback: bool = True) -> str | None:
    """``--url``, else ``NODERED_CAUSAL_NODERED_URL`` (checked), else its default when
    ``fallback``; a bad environment value is a :class:`UsageError` naming the variable."""
    if args.url:
        return str(args.url)
    env = os.environ.get(config.NODERED_URL.name)
    if env:
        return str(_env_value(t.HTTP_URL, env, config.NODERED_URL))
    return config.NODERED_URL.default if fallback else None


def _env_value(check: Any, value: str, var: config.EnvVar) -> Any:
    try:
        return check(t.FromEnv(value, var.name))
    except argparse.ArgumentTypeError as exc:
        raise UsageError(f"{var.name}: {exc}") from None


def client_from_args(args: argparse.Namespace, *, url: str | None = None) -> NodeRedClient:
    """A client for ``--url`` (or the env default), with whatever credentials were given."""
    from nodered_causal.errors import NodeRedError
    from nodered_causal.nodered.client import NodeRedClient

    url = url or nodered_url(args) or ""
    username = config.NODERED_USERNAME.get(args.username)
    password = config.NODERED_PASSWORD.get(args.password)
    if username is not None and password is None:
        raise UsageError(
            "--username needs a password: set NODERED_CAUSAL_NODERED_PASSWORD (or --password)"
        )
    if args.password is not None and username is None:
        raise UsageError("--password was given without --username")
    if username is None:
        password = None  # a password in the environment alone is not a login
    try:
        return NodeRedClient(
            url,
            token=config.NODERED_TOKEN.get(args.token),
            username=username,
            password=password,
            timeout=getattr(args, "timeout", 10.0),
        )
    except ValueError as exc:
        raise NodeRedError(str(exc), url=url) from None


def add_install_arg(parser: argparse.ArgumentParser | Any) -> None:
    """``--install MODULE[@VERSION]`` (repeatable, or comma-separated): contrib node modules
    for the local throw-away Node-RED, installed from npm into its userDir (cached)."""
    parser.add_argument(
        "--install",
        dest="install",
        action="extend",
        default=[],
        type=t.NPM_MODULES,
        metavar="MODULE[@VERSION]",
        help="npm module of contrib nodes to install into the local Node-RED (repeat, or "
        "comma-separate, for more; cached in NODERED_CAUSAL_CACHE), e.g. node-red-dashboard@3",
    )


def check_install(args: argparse.Namespace) -> None:
    """``--install`` goes with a local Node-RED only (UsageError, exit 2, otherwise)."""
    if getattr(args, "install", None) and getattr(args, "url", None):
        raise UsageError(
            "--install installs into the local throw-away Node-RED; with --url install the "
            "module into that Node-RED (its editor's palette, or npm in its userDir)"
        )


def add_store_arg(parser: argparse.ArgumentParser | Any, *, default: str | None = "env") -> None:
    """``--store``: the record store file (``NODERED_CAUSAL_STORE``, default ``runs.db``).

    ``default=None``: the command derives its own when neither the option nor the variable is
    set (``demo``, ``experiment``).
    """
    env = os.environ.get(config.STORE.name)
    value = t.FromEnv(env, config.STORE.name) if env else default
    if value == "env":
        value = config.STORE.default
    parser.add_argument(
        "--store",
        type=t.STORE,
        default=value,
        metavar="FILE",
        help=f"the record store (env {config.STORE.name}, default "
        f"{config.STORE.default if default else 'see below'})",
    )


def add_window_arg(parser: argparse.ArgumentParser | Any, *, what: str = "analysis") -> None:
    """``--window S``: the one window length option, default :data:`_types.DEFAULT_WINDOW_S`."""
    parser.add_argument(
        "--window",
        type=t.WINDOW,
        default=t.DEFAULT_WINDOW_S,
        metavar="S",
        help=f"{what} window in seconds (default {t.DEFAULT_WINDOW_S:g})",
    )


def add_transport_args(parser: argparse.ArgumentParser | Any, *, when: str = "") -> None:
    """``--mqtt [URL]`` or ``--http [ADDR]``: where tap records arrive. Without a value they
    take ``NODERED_CAUSAL_MQTT_URL`` / ``NODERED_CAUSAL_HTTP_ADDR`` (or their defaults)."""
    where = parser.add_mutually_exclusive_group()
    for flag, var, check, metavar, what in (
        ("--mqtt", config.MQTT_URL, t.MQTT_URL, "URL", "subscribe at this broker"),
        ("--http", config.HTTP_ADDR, t.HOST_PORT, "ADDR", "receive the tap's POSTs on HOST:PORT"),
    ):
        where.add_argument(
            flag,
            nargs="?",
            const=t.env_default(var),
            type=check,
            metavar=metavar,
            help=f"{what}{when} (no {metavar}: env {var.name}, default {var.default})",
        )


def transport_from_args(
    args: argparse.Namespace, *, default: bool = True
) -> tuple[str | None, tuple[str, int] | None]:
    """``(broker URL, None)`` or ``(None, (host, port))`` from ``--mqtt``/``--http``; with
    neither, the broker of ``NODERED_CAUSAL_MQTT_URL`` (or its default) when ``default``."""
    mqtt, http = getattr(args, "mqtt", None), getattr(args, "http", None)
    if http is not None:
        return None, http
    if mqtt is None and default:
        mqtt = _env_value(t.MQTT_URL, config.MQTT_URL.get() or "", config.MQTT_URL)
    return mqtt, None


def mqtt_settings(url: str | None, *identity: str) -> Any:
    """MqttSettings for every tap's records topic at broker ``url`` (None: None), with a
    persistent-session client id derived from ``identity`` (command, store, run, seed)."""
    if url is None:
        return None
    from nodered_causal.collector.mqtt import DEFAULT_TOPIC, default_client_id, parse_mqtt_url

    return parse_mqtt_url(url, topic=DEFAULT_TOPIC, client_id=default_client_id(*identity))


def check_nodes(flow_path: str | None, *nodes: str | None) -> None:
    """Before a local Node-RED starts: the flow file parses and has ``nodes`` (runtime ids);
    :class:`~nodered_causal.errors.UnknownNodeError` (exit 2) otherwise."""
    if flow_path is None:
        return
    from nodered_causal.errors import UnknownNodeError
    from nodered_causal.flows import load_flow, to_causal_dag

    dag = to_causal_dag(load_flow(flow_path))
    for node in nodes:
        if node is not None and node not in dag:
            raise UnknownNodeError(f"{flow_path} has no node {node!r}", node_id=node)


def secrets_of(args: argparse.Namespace) -> list[str]:
    """Every secret value the command line and environment hold: tokens, passwords, and the
    passwords in URL user-info (``--url http://u:pw@h``), for redaction."""
    found = [getattr(args, "token", None), getattr(args, "password", None)]
    found += [os.environ.get(v.name) for v in (config.NODERED_TOKEN, config.NODERED_PASSWORD)]
    values = list(vars(args).values()) + [os.environ.get(n) for n in config.ENV_VARS]
    for value in values:
        if isinstance(value, str) and "://" in value and "@" in value:
            with contextlib.suppress(ValueError):
                password = urlsplit(value).password
                if password:
                    found += [password, unquote(password)]
    return [s for s in found if s]


class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM, so everything that cleans up after Ctrl-C (context
    managers, ``finally``, ``except KeyboardInterrupt``) does the same on ``docker stop``,
    systemd or ``timeout``. ``signum`` gives the exit code (128 + 15)."""

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        super().__init__(signum)
        self.signum = int(signum)


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """While inside: the first SIGTERM raises :class:`Terminated`; further ones are ignored
    while the clean-up runs. The previous handler comes back on exit. A no-op off the main
    thread (signal handlers can only be set there)."""
    fired = False

    def handler(signum: int, frame: FrameType | None) -> None:
        nonlocal fired
        if fired:
            return
        fired = True
        raise Terminated(signum)

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def print_json(data: Any, secrets: list[str] | None = None) -> None:
    """``data`` as indented JSON on stdout, with credentials redacted."""
    json.dump(redact_data(data, secrets or ()), sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
