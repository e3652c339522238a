"""``nodered-causal nodered start``: a throwaway local Node-RED until Ctrl-C."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from nodered_causal.cli import _types as t
from nodered_causal.cli._common import add_deprecated, add_install_arg

__all__ = ["register", "run"]

EPILOG = """\
Node-RED is installed from npm into ~/.cache/nodered-causal on first use (4.x runs on the system
Node 20, 5.x on Node 22 from npm); the instance listens on 127.0.0.1 only, in a temporary userDir
that is removed when it stops (unless --user-dir is given).

examples:
  nodered-causal nodered start                              # Node-RED 4 on a free port
  nodered-causal nodered start --nodered-version 5 --port 1880 --flow flows/sensor-pipeline.json
  nodered-causal nodered start --tap mqtt://127.0.0.1:1883  # with the wire-tap plugin -> MQTT
  nodered-causal nodered start --tap http://127.0.0.1:8765 --tap-instance line1  # -> HTTP
  nodered-causal nodered start --user-dir ./nr --json       # keep the userDir; JSON line on start
  nodered-causal nodered start --install node-red-dashboard@3 --flow my-dashboard.json

--install MODULE[@VERSION] installs contrib nodes from npm into the userDir (as the palette does),
once per module list into the cache. A --flow whose node types neither Node-RED nor the installed
modules provide is refused before anything starts (exit 2), naming the types and their modules.
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "nodered",
        help="run a local Node-RED (managed, throwaway)",
        description="Manage a local Node-RED instance.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="nodered_command", metavar="ACTION", required=True)
    start = sub.add_parser(
        "start",
        help="start Node-RED and keep it running until Ctrl-C",
        description="Start a local Node-RED, print its URL, run until Ctrl-C or SIGTERM, stop "
        "cleanly.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    start.add_argument(
        "--nodered-version", choices=("4", "5"), default="4", help="Node-RED major (default 4)"
    )
    add_deprecated(start, "--version", "--nodered-version", "nodered_version", choices=("4", "5"))
    start.add_argument(
        "--flow", metavar="FILE", type=t.FLOW_FILE,
        help="flow export to run, or a bundled flow's name (bottling-line)",
    )  # fmt: skip
    add_deprecated(start, "--flows", "--flow", "flow", type=t.FLOW_FILE)
    start.add_argument(
        "--port", type=t.PORT_OR_ZERO, default=0, help="port on 127.0.0.1 (default 0: a free one)"
    )
    start.add_argument(
        "--user-dir", metavar="DIR", type=t.NEW_OR_EXISTING_DIR, help="userDir to use and keep"
    )
    start.add_argument(
        "--tap",
        metavar="URL",
        type=t.TAP_URL,
        help="load the wire-tap plugin sending to mqtt://HOST:PORT or http://HOST:PORT",
    )
    start.add_argument(
        "--tap-instance",
        metavar="NAME",
        type=t.RUN_NAME,
        help="tap instance name (the <tap> of nodered-causal/<tap>/records)",
    )
    add_install_arg(start)
    start.add_argument("--json", action="store_true", help="print one JSON line once running")
    start.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from nodered_causal.errors import TapError
    from nodered_causal.experiment.fixtures import flow_fixtures
    from nodered_causal.nodered.runtime import PLUGIN_DIR, LocalNodeRed, tap_settings

    plugins = []
    settings: dict[str, Any] = {}
    if args.tap_instance and not args.tap:
        print("nodered start: error: --tap-instance needs --tap URL", file=sys.stderr)
        return 2
    if args.tap:
        settings = tap_settings(
            args.tap, **({"instance": args.tap_instance} if args.tap_instance else {})
        )
        if not (PLUGIN_DIR / "package.json").exists():
            raise TapError(
                f"--tap needs the wire-tap plugin, but {PLUGIN_DIR}/package.json is missing"
            )
        plugins.append(PLUGIN_DIR)
    try:
        with (
            flow_fixtures(args.flow) as env,
            LocalNodeRed(
                args.nodered_version,
                flows=args.flow,
                plugins=plugins,
                settings=settings,
                port=args.port,
                user_dir=args.user_dir,
                env=env,
                modules=args.install,
            ) as nr,
        ):
            info = {
                "url": nr.url,
                "version": nr.version,
                "port": nr.port,
                "user_dir": str(nr.user_dir),
            }
            if args.json:
                print(json.dumps(info), flush=True)
            else:
                print(f"Node-RED {nr.version} running at {nr.url}", flush=True)
                print(f"userDir {nr.user_dir}; press Ctrl-C to stop", flush=True)
            while nr.running:
                time.sleep(0.2)
            tail = "\n".join(nr.log_text().splitlines()[-20:])
            print(f"Node-RED exited unexpectedly; log tail:\n{tail}", file=sys.stderr)
            return 1
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (cli.main raises Terminated for it)
        print("stopped", file=sys.stderr)
        return 0
